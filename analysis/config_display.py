"""Short display forms of sampled TT-LoRA hyperparameters (for tables, legends and hover text)."""
from __future__ import annotations

import math
from typing import Any

from vocab.shape_text import dims_text, shape_text

__all__ = ["shape_text", "core_count", "rank_text", "resolved_shape_text", "format_number"]


def core_count(shape: Any, cores: Any) -> float:
    """Cores of the tensor shape: its length when explicit (the largest over targets for a per-target
    mapping), else the sampled ``cores`` value (shape ``"auto"``); NaN when neither is known."""
    if isinstance(shape, list) and shape:
        return float(len(shape))
    if isinstance(shape, dict):
        lengths = [len(d) for d in shape.values() if isinstance(d, list)]
        if lengths:
            return float(max(lengths))
    if isinstance(cores, (int, float)) and not isinstance(cores, bool):
        return float(cores)
    return math.nan


def rank_text(rank: Any) -> str:
    """``5`` -> ``"5"``; ``[1, 5, 5, 1]`` -> ``"1,5,5,1"``; missing -> ``""``."""
    if rank is None:
        return ""
    if isinstance(rank, list):
        return ",".join(str(r) for r in rank)
    return str(rank)


def resolved_shape_text(shape: Any, resolved: dict[str, list[int]]) -> str:
    """``shape_text`` plus, for ``"auto"``, the shape ttlora_core chose: ``"auto:24x16x16x24"`` when every
    module got the same one, else ``"auto:<n> shapes"``."""
    text = shape_text(shape)
    if shape != "auto" or not resolved:
        return text
    distinct = {tuple(dims) for dims in resolved.values()}
    if len(distinct) == 1:
        return f"auto:{dims_text(list(next(iter(distinct))))}"
    return f"auto:{len(distinct)} shapes"


def format_number(value: object, kind: str = "num") -> str:
    """Display text for a table or hover value that may be missing or not numeric.

    ``kind``: "num" (4 significant digits), "int" (rounded, thousands separators), "ratio" ("x12.3").
    None -> "", NaN -> "n/a", strings and other non-numbers pass through."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "n/a"
    if kind == "int":
        return f"{int(round(number)):,}"
    if kind == "ratio":
        return f"x{number:,.1f}"
    return f"{number:.4g}"
