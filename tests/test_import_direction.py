"""The direction of imports (docs/ARCHITECTURE.md, "Layers"), checked on the source with ``ast``.

Every ``import`` statement counts, function-local ones included: a lazy import of a forbidden
package breaks the layering just the same, only later.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("vocab", "ttlora_core", "search", "analysis", "cluster", "ttsearch")

# package -> top-level modules it must never import (third-party or ours)
FORBIDDEN: dict[str, set[str]] = {
    "vocab": {"torch", "ray", "pandas", "yaml", "transformers", "plotly",
              "ttlora_core", "search", "analysis", "cluster", "ttsearch"},
    "ttlora_core": {"ray", "yaml", "pandas", "plotly", "vocab", "search", "analysis", "cluster", "ttsearch"},
    "analysis": {"torch", "ray", "transformers", "peft", "ttlora_core", "search", "cluster", "ttsearch"},
    "cluster": {"search", "analysis", "ttsearch"},
    "search": {"analysis", "ttsearch"},
    "ttsearch": set(),
}


def imported_modules(path: Path, root: Path = REPO) -> list[tuple[int, str, bool]]:
    """(line, absolute dotted module, inside a function) for every import in ``path`` (under ``root``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module_package = path.relative_to(root).with_suffix("").parts[:-1]
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            local = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:  # relative: resolve against this module's package
                    base = list(module_package[: len(module_package) - (child.level - 1)])
                    name = ".".join([*base, child.module] if child.module else base)
                else:
                    name = child.module or ""
                found.append((child.lineno, name, in_function))
            visit(child, local)

    visit(tree, False)
    return found


def source_files(package: str) -> list[Path]:
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"no sources under {package}/"
    return files


def test_every_package_is_checked() -> None:
    on_disk = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert on_disk == set(PACKAGES), f"packages without import rules: {sorted(on_disk - set(PACKAGES))}"


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_downwards(package: str) -> None:
    problems = []
    for path in source_files(package):
        for line, module, _ in imported_modules(path):
            top = module.split(".")[0]
            if top in FORBIDDEN[package] or (top == "ttsearch" and package != "ttsearch"):
                problems.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert not problems, f"{package} must not import {sorted(FORBIDDEN[package])}:\n" + "\n".join(problems)


def test_only_search_imports_ray_tune() -> None:
    problems = [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for package in PACKAGES if package != "search"
        for path in source_files(package)
        for line, module, _ in imported_modules(path)
        if module == "ray.tune" or module.startswith("ray.tune.")
    ]
    assert not problems, "\n".join(problems)


def test_ttlora_core_has_no_function_local_imports_of_itself() -> None:
    """A function-local import of a sibling module is how an import circle hides; there must be none."""
    problems = [
        f"{path.relative_to(REPO)}:{line} imports {module} inside a function"
        for path in source_files("ttlora_core")
        for line, module, local in imported_modules(path)
        if local and module.split(".")[0] == "ttlora_core"
    ]
    assert not problems, "\n".join(problems)


def test_the_checker_sees_relative_and_local_imports(tmp_path: Path) -> None:
    """The AST walk itself: relative imports resolve to the package, local ones are flagged as such."""
    modules = {module for _, module, _ in imported_modules(REPO / "ttlora_core" / "inject.py")}
    assert {"ttlora_core.layer", "ttlora_core.config", "torch"} <= modules
    probe = tmp_path / "ttlora_core" / "probe.py"
    probe.parent.mkdir()
    probe.write_text("import yaml\ndef f():\n    from .layer import TTLoRALinear\n    import ray.tune\n", encoding="utf-8")
    found = imported_modules(probe, root=tmp_path)
    assert found == [(1, "yaml", False), (3, "ttlora_core.layer", True), (4, "ray.tune", True)]
