"""Short functions by role (docs/ARCHITECTURE.md, "Conventions"): none over 60 lines, no module over 400,
in the packages whose code changes most."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("search", "analysis", "ttsearch", "cluster")
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400


def test_no_function_is_over_60_lines() -> None:
    long = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                    if lines > MAX_FUNCTION_LINES:
                        long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {lines} lines")
    assert not long, "\n".join(long)


def test_no_module_is_over_400_lines() -> None:
    long = [f"{path.relative_to(REPO)}: {n} lines" for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))
            if (n := len(path.read_text(encoding="utf-8").splitlines())) >= MAX_MODULE_LINES]
    assert not long, "\n".join(long)
