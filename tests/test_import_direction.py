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


# search/'s rooms, bottom first: a room imports only itself and the rooms before it (docs/ARCHITECTURE.md).
SEARCH_ROOMS = ("ray_compat", "space", "tasks", "trial", "strategies", "plan", "replay", "run")


def module_name(path: Path, root: Path = REPO) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = REPO) -> dict[str, set[str]]:
    """Our module -> our modules it imports (``from a import b`` names ``a.b`` when that is a module),
    every import counted: function-local and ``TYPE_CHECKING`` ones too."""
    modules = {module_name(p, root): p for package in PACKAGES for p in sorted((root / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for _, imported, _ in imported_modules(path, root):
            if imported in modules:
                graph[name].add(imported)
        for node in ast.walk(tree):  # ``from package import submodule``
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                graph[name].update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (a list of modules, first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_circles() -> None:
    """No two modules import each other, through any chain, not even under ``TYPE_CHECKING``."""
    cycle = find_cycle({m: {d for d in deps if d != m} for m, deps in import_graph().items()})
    assert cycle is None, " -> ".join(cycle or [])


def test_search_rooms_import_only_downwards() -> None:
    on_disk = {p.parent.name for p in (REPO / "search").glob("*/__init__.py")}
    assert on_disk == set(SEARCH_ROOMS), f"rooms without a place in SEARCH_ROOMS: {sorted(on_disk ^ set(SEARCH_ROOMS))}"
    loose = sorted(p.name for p in (REPO / "search").glob("*.py") if p.name != "__init__.py")
    assert not loose, f"modules outside every room of search/: {loose}"
    problems = []
    for module, deps in import_graph().items():
        parts = module.split(".")
        if parts[0] != "search" or len(parts) < 2:
            continue
        allowed = set(SEARCH_ROOMS[: SEARCH_ROOMS.index(parts[1]) + 1])
        problems += [f"{module} imports {dep}" for dep in sorted(deps)
                     if dep.startswith("search.") and dep.split(".")[1] not in allowed]
    assert not problems, "a room imports a room above it:\n" + "\n".join(problems)


def test_the_circle_finder_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
