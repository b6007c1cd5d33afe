"""Tensor shapes as short text, one formatter for every table, legend and progress line."""
from __future__ import annotations

from typing import Any


def dims_text(dims: Any) -> str:
    """``[8, 6, 8]`` -> ``"8x6x8"``; anything else (``"auto"``, a malformed value) as ``str``."""
    if isinstance(dims, list) and all(isinstance(k, int) for k in dims):
        return "x".join(str(k) for k in dims)
    return str(dims)


def shape_text(shape: Any, separator: str = "|") -> str:
    """One searched shape value as text.

    ``[8, 6, 8]`` -> ``"8x6x8"``; a per-target mapping -> ``"query:8x6x8|value:auto"`` (targets sorted,
    joined by ``separator``); ``"auto"`` stays ``"auto"``; a missing shape (None) is ``""``."""
    if shape is None:
        return ""
    if isinstance(shape, dict):
        return separator.join(f"{target}:{dims_text(dims)}" for target, dims in sorted(shape.items()))
    return dims_text(shape)
