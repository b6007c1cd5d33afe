"""Parameter bands: edges in adapter parameters that group configurations of like size (the banded
scheduler compares a trial only with trials of its band; ``plan`` checks that every configuration falls
in one; replay draws the same edges). Plain arithmetic, no Ray."""
from __future__ import annotations

import math


def log_spaced_bands(sizes: list[float], count: int) -> list[float]:
    """``count`` bands of equal width in log10(params) from the smallest size to the largest (the last
    edge inclusive); one band when every size is the same."""
    low, high = min(sizes), max(sizes)
    if count == 1 or high <= low:
        return [low, high]
    step = (math.log10(high) - math.log10(low)) / count
    inner = [10 ** (math.log10(low) + step * i) for i in range(1, count)]
    return [low, *inner, high]


def band_index(edges: list[float], params: float) -> int | None:
    """The band of ``params``: band i holds [edges[i], edges[i+1]), the last one also its upper edge."""
    if params < edges[0] or params > edges[-1]:
        return None
    for i in range(len(edges) - 1):
        if params < edges[i + 1]:
            return i
    return len(edges) - 2


__all__ = ["log_spaced_bands", "band_index"]
