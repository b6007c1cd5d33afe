"""Short display forms of sampled TT-LoRA hyperparameters (for tables, legends and hover text)."""
from __future__ import annotations

import math
from typing import Any


def _dims_text(dims: Any) -> str:
    if isinstance(dims, list) and all(isinstance(k, int) for k in dims):
        return "x".join(str(k) for k in dims)
    return str(dims)


def shape_text(shape: Any) -> str:
    """``[8, 6, 8]`` -> ``"8x6x8"``; ``{"query": [...], "value": [...]}`` -> ``"query:8x6x8|value:..."``;
    ``"auto"`` stays ``"auto"``; a missing shape is ``""``."""
    if shape is None:
        return ""
    if isinstance(shape, dict):
        return "|".join(f"{target}:{_dims_text(dims)}" for target, dims in sorted(shape.items()))
    return _dims_text(shape)


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
        return f"auto:{_dims_text(list(next(iter(distinct))))}"
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
