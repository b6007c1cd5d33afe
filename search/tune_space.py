"""Map typed ``ParamSpec``s onto ``ray.tune`` search-space objects through an explicit table.

No ``getattr(tune, kind)``: every supported kind is listed here, and anything else is an error.
"""
from __future__ import annotations

from typing import Any, Callable

from ray import tune

from search.param_spec import ParamSpec
from search.space import SearchSpace

_TUNE_FACTORIES: dict[str, Callable[[ParamSpec], Any]] = {
    "fixed": lambda spec: spec.values[0],
    "choice": lambda spec: tune.choice(list(spec.values)),
    "grid": lambda spec: tune.grid_search(list(spec.values)),
    "loguniform": lambda spec: tune.loguniform(spec.low, spec.high),
    "uniform": lambda spec: tune.uniform(spec.low, spec.high),
    "randint": lambda spec: tune.randint(int(spec.low), int(spec.high)),  # high exclusive
}


def to_tune(spec: ParamSpec) -> Any:
    try:
        factory = _TUNE_FACTORIES[spec.kind]
    except KeyError:
        raise ValueError(f"no ray.tune mapping for parameter kind {spec.kind!r}") from None
    return factory(spec)


def tune_param_space(space: SearchSpace) -> dict[str, Any]:
    """The Tuner's ``param_space``: every row of ``vocab.searched_params`` (fixed ones as constants)."""
    return {key: to_tune(spec) for key, spec in space.searched_params().items()}
