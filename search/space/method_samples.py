"""How many trials each method of a space gets (no Ray: ``tune_space`` and ``plan`` both read this).

TT-LoRA gets ``num_samples`` draws (the paper's protocol: random sampling, repeats allowed). A
baseline gets ``baselines.<name>.num_samples`` draws, else ``num_samples``; but when all its rows are
discrete and it has no more configurations than draws, it runs each configuration exactly once
instead (its choices become a grid): same seed, same data, so a repeat would train the same model
again (docs/ARCHITECTURE.md, "Methods and baselines").
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from search.space.schema import SearchSpace
from vocab.methods import TTLORA


@dataclass(frozen=True)
class MethodSamples:
    """``draws``: branches of the method in the Tune grid; ``configurations``: when each configuration
    runs once, one fixed set of values per branch (else empty: every branch is sampled)."""

    draws: int
    configurations: tuple[dict[str, Any], ...] = ()


def method_samples(space: SearchSpace, method: str) -> MethodSamples:
    if method == TTLORA:
        return MethodSamples(space.num_samples)
    draws = getattr(space.baselines, method).num_samples or space.num_samples
    specs = space.baseline_params(method)
    if math.prod(spec.cardinality() for spec in specs.values()) > draws:  # inf for a continuous row
        return MethodSamples(draws)
    names = list(specs)
    combos = itertools.product(*(specs[name].discrete_values() for name in names))
    configurations = tuple(dict(zip(names, combo)) for combo in combos)
    return MethodSamples(len(configurations), configurations)


def spread_order(draws: dict[str, int]) -> list[tuple[str, int]]:
    """(method, draw index) in trial order: each method's draws spread evenly over the whole sequence
    (draw i of n at (i + 0.5) / n), so a method with few trials is not bunched at the start, where
    HyperBand fills its first brackets; ties keep the methods' order."""
    order = {name: rank for rank, name in enumerate(draws)}
    slots = [((i + 0.5) / n, order[name], name, i) for name, n in draws.items() for i in range(n)]
    return [(name, i) for _, _, name, i in sorted(slots)]
