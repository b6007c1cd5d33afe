"""Which (shape, cores) combinations are distinct: ``cores`` only matters where a shape is ``auto``.

Sampling ``shape`` and ``cores`` independently would give an explicit shape once per core count:
the same trial twice. So the Tune space (``search/space/tune_param_space.py``), the plan and the configuration
count all use the combinations listed here.
"""
from __future__ import annotations

import math
from typing import Any

from search.space.schema import SearchSpace
from ttlora_core.tt_arithmetic import AUTO_SHAPE
from vocab.searched_params import CORES, SHAPE


def uses_auto(shape: Any) -> bool:
    return shape == AUTO_SHAPE or (isinstance(shape, dict) and AUTO_SHAPE in shape.values())


def shape_core_pairs(space: SearchSpace) -> list[tuple[Any, int]]:
    """(shape, cores) for every distinct combination: each explicit shape once (with the first core
    value, which it ignores), each ``auto`` shape once per core count."""
    specs = space.searched_params()
    cores = specs[CORES.name].discrete_values()
    pairs: list[tuple[Any, int]] = []
    for shape in specs[SHAPE.name].discrete_values():
        pairs += [(shape, c) for c in cores] if uses_auto(shape) else [(shape, cores[0])]
    return pairs


def cores_searched_apart(space: SearchSpace) -> bool:
    """True when shape and cores can be sampled independently without duplicates: every shape is
    ``auto`` (each core count is a different trial) or cores has one value."""
    specs = space.searched_params()
    shapes = specs[SHAPE.name].discrete_values()
    return specs[CORES.name].cardinality() == 1 or all(uses_auto(s) for s in shapes)


def cores_apply(space: SearchSpace) -> bool:
    """False when no shape is ``auto``: then ``cores`` does not change any trial."""
    return any(uses_auto(s) for s in space.searched_params()[SHAPE.name].discrete_values())


def count_configurations(space: SearchSpace) -> float:
    """Distinct discrete configurations (``math.inf`` when a continuous distribution is searched).
    ``shape`` x ``cores`` counts distinct pairs only (``search/space/shape_core_pairs.py``)."""
    specs = space.searched_params()
    total = 1.0
    for name, spec in specs.items():
        if name not in (SHAPE.name, CORES.name):
            total *= spec.cardinality()
    if math.isinf(specs[CORES.name].cardinality()):
        return math.inf
    total *= len(shape_core_pairs(space))
    return total
