"""The model one trial trains, for any method: built, counted, saved and loaded the method's way.

The trainable's epoch loop (search/trial/trainable.py) is the same for every method; what differs is the
method's own, in the registry (search/trial/methods.py).
"""
from __future__ import annotations

from typing import Any

from search.space.schema import SearchSpace
from search.trial.methods import TrialModel, training_method
from search.trial.model_cache import BaseModelCache, TrialModelSpec
from vocab.methods import METHOD_KEY


def build_trial_model(space: SearchSpace, flat_config: dict[str, Any], spec: TrialModelSpec,
                      cache: BaseModelCache) -> TrialModel:
    """The model of one trial (``flat_config``: ``vocab.methods.flat_trial_config`` of its config)."""
    return training_method(flat_config[METHOD_KEY]).build_model(space, flat_config, spec, cache)


__all__ = ["TrialModel", "build_trial_model"]
