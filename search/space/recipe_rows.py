"""Rows of the parameter table tied to another setting (docs/ARCHITECTURE.md, "The searched-parameter table").

* ``ttlora.init`` is the older spelling of a fixed ``search.init``; setting both is refused.
* ``effective_lr`` is alpha × learning_rate searched (or fixed) as one number, TT-LoRA only: under Adam
  the size of an update scales with that product, and above some value a trial never leaves the
  majority class (benchmarks/dead_corner.py; the value falls as the adapter grows, so one cap does not
  fit every size: benchmarks/compare_effective_lr.py measured it no better than alpha and lr searched
  apart). When it is given, a TT-LoRA trial's ``learning_rate`` is fixed to None in the space and
  read as ``effective_lr / alpha`` (``vocab.methods.flat_trial_config``, the reader every part uses),
  and setting ``learning_rate`` as well is refused.
"""
from __future__ import annotations

from typing import Any

from search.space.param_spec import ParamSpec
from vocab.searched_params import derived_learning_rate  # noqa: F401 (see below)

DERIVED = ParamSpec("fixed", (None,))  # search.learning_rate when effective_lr decides it


def apply_fixed_init(space: Any) -> None:
    """``ttlora.init`` fixes ``search.init`` (a ``SearchSpace`` being validated)."""
    if space.ttlora.init is not None:
        if "init" in space.search.model_fields_set:
            raise ValueError("init is set as ttlora.init and as search.init; set search.init only")
        space.search.init = ParamSpec("fixed", (space.ttlora.init,))


def apply_effective_lr(space: Any) -> None:
    """With ``effective_lr`` given, ``learning_rate`` becomes derived (runs before the train-fed rows
    are filled in, so a ``learning_rate`` the user set is still told apart from the default)."""
    if space.search.effective_lr is None and space.train.effective_lr is None:
        return
    if space.search.learning_rate is not None or "learning_rate" in space.train.model_fields_set:
        raise ValueError("learning_rate is derived as effective_lr / alpha when effective_lr is given; "
                         "set effective_lr or learning_rate, not both")
    space.search.learning_rate = DERIVED


# ``derived_learning_rate`` stays importable here: the param space pickled in the tuner.pkl of a search
# started before the rate moved to vocab.methods.flat_trial_config refers to it, and resuming one loads it.
__all__ = ["DERIVED", "apply_fixed_init", "apply_effective_lr", "derived_learning_rate"]
