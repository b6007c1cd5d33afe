"""How many trials each method of a space gets (no Ray: ``tune_space`` and ``plan`` both read this).

TT-LoRA gets ``num_samples`` draws (the paper's protocol: random sampling, repeats allowed). A
baseline gets ``baselines.<name>.num_samples`` draws, else ``num_samples``; but when all its rows are
discrete and it has no more configurations than draws, it runs each configuration exactly once
instead (its choices become a grid): same seed, same data, so a repeat would train the same model
again (docs/ARCHITECTURE.md, "Methods and baselines").
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from search.param_spec import ParamSpec
from search.space import SearchSpace
from vocab.methods import TTLORA


@dataclass(frozen=True)
class MethodSamples:
    """``draws``: copies of the method's branch in the Tune grid; ``each_once``: choices run as a grid."""

    draws: int
    each_once: bool = False


def method_samples(space: SearchSpace, method: str) -> MethodSamples:
    if method == TTLORA:
        return MethodSamples(space.num_samples)
    draws = getattr(space.baselines, method).num_samples or space.num_samples
    specs = space.baseline_params(method).values()
    configurations = math.prod(spec.cardinality() for spec in specs)
    if configurations <= draws:  # inf for a continuous row: never
        return MethodSamples(1, each_once=True)
    return MethodSamples(draws)


def as_grid(spec: ParamSpec) -> ParamSpec:
    """A discrete spec whose every value runs once (``choice`` -> ``grid``; randint's integers listed)."""
    if spec.kind in ("choice", "randint"):
        return ParamSpec("grid", tuple(spec.discrete_values()))
    return spec
