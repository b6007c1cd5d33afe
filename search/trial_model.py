"""The model one trial trains, for any method: built, counted, saved and loaded the method's way.

The trainable's epoch loop (search/trainable.py) is the same for every method; what differs is here:
TT-LoRA wraps the worker's cached base model (search/model_cache.py); a baseline loads a fresh base
model (BitFit and full fine-tuning change its weights, and PEFT wraps its modules) after releasing
the cache, so a worker holds one copy of the weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from torch import nn

from search.baselines import apply_baseline, count_baseline, load_baseline, save_baseline
from search.model_cache import BaseModelCache, TrialModelSpec, load_base_model
from search.space import SearchSpace
from search.trial_config import baseline_config_for, ttlora_config_for
from ttlora_core import count_parameters, load_adapter, save_adapter
from vocab.methods import METHOD_KEY, TTLORA


@dataclass
class TrialModel:
    """A trial's model with its method's counts (``adapter``, ``ttlora``, ``head``, ``total_trainable``)
    and its save / load functions (the checkpoint's ``adapter/`` folders)."""

    method: str
    model: nn.Module
    counts: dict[str, int]
    save: Callable[[Path], None]
    load: Callable[[Path], None]
    base_model_reused: bool


def build_trial_model(space: SearchSpace, flat_config: dict[str, Any], spec: TrialModelSpec,
                      cache: BaseModelCache) -> TrialModel:
    """The model of one trial (``flat_config``: ``vocab.methods.flat_trial_config`` of its config)."""
    method = flat_config[METHOD_KEY]
    if method == TTLORA:
        model = cache.acquire(spec, ttlora_config_for(space, flat_config))
        counts = count_parameters(model)
        return TrialModel(method, model, {**counts, "adapter": counts["ttlora"]},
                          lambda directory: save_adapter(model, directory),
                          lambda directory: load_adapter(model, directory), cache.last_was_reused)
    config = baseline_config_for(space, flat_config)
    cache.release()
    model = apply_baseline(load_base_model(spec), config)
    return TrialModel(method, model, count_baseline(model, config),
                      lambda directory: save_baseline(model, config, directory),
                      lambda directory: load_baseline(model, config, directory), False)


__all__ = ["TrialModel", "build_trial_model"]
