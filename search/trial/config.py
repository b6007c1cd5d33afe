"""One trial's sampled hyperparameters routed into the configs they feed, by the table's ``feeds``.

A TT-LoRA trial's config (after ``vocab.methods.flat_trial_config``) holds every row of
``vocab.searched_params`` (fixed ones too); a baseline's, every row of its method. Rows that feed
``ttlora`` become fields of ``ttlora_core.TTLoRAConfig``; rows that feed ``train`` replace the field
of the same name in the space's ``train`` section. Nothing here names a particular parameter, so a
new row needs no change in this file. Baselines: their ``feeds="method"`` rows form a
``search.trial.baselines.BaselineConfig``; their training rows go through ``train_settings_for`` like TT-LoRA's.
"""
from __future__ import annotations

from typing import Any

from search.space.schema import SearchSpace, TrainSection
from search.trial.baselines import BaselineConfig
from ttlora_core.config import TTLoRAConfig
from vocab.methods import METHOD_KEY, METHODS, SEED_KEY
from vocab.searched_params import SEARCHED_PARAMS, SearchedParam


def coerce(param: SearchedParam, value: Any) -> Any:
    """The sampled value as the plain Python type its config expects (Tune may hand numpy scalars)."""
    if value is None:  # an unset optional row (train.head_learning_rate)
        return None
    if param.value == "int" and not isinstance(value, list):
        return int(value)
    if param.value == "float":
        return float(value)
    if param.value == "text":
        return str(value)
    return value


def sampled_values(sampled: dict[str, Any], feeds: str) -> dict[str, Any]:
    """The rows of ``sampled`` (a trial config) that feed ``feeds``, coerced; absent rows are left out."""
    return {p.name: coerce(p, sampled[p.name]) for p in SEARCHED_PARAMS if p.feeds == feeds and p.name in sampled}


def ttlora_config_for(space: SearchSpace, sampled: dict[str, Any]) -> TTLoRAConfig:
    """The TT-LoRA config of one trial: the space's fixed ``ttlora`` settings plus the sampled values.
    A structural row missing from ``sampled`` keeps ``TTLoRAConfig``'s default."""
    return TTLoRAConfig(targets=space.ttlora.targets, seed=trial_seed(space, sampled), train_head=space.ttlora.train_head,
                        modules_to_save=space.ttlora.modules_to_save, **sampled_values(sampled, "ttlora"))


def baseline_config_for(space: SearchSpace, sampled: dict[str, Any]) -> BaselineConfig:
    """The baseline config of one trial (``sampled``: its flat config, ``vocab.methods.flat_trial_config``):
    the method's rows, the space's targets, head and saved-module settings, and seed."""
    method = METHODS[sampled[METHOD_KEY]]
    values = {p.name: coerce(p, sampled[p.name]) for p in method.params if p.feeds == "method" and p.name in sampled}
    return BaselineConfig(method.name, values, targets=space.baseline_targets(method.name) if method.targets else None,
                          train_head=space.ttlora.train_head, modules_to_save=space.ttlora.modules_to_save,
                          seed=trial_seed(space, sampled))


def train_settings_for(space: SearchSpace, sampled: dict[str, Any]) -> TrainSection:
    """The training settings of one trial: ``space.train`` with the sampled train-fed values."""
    return space.train.model_copy(update={**sampled_values(sampled, "train"), "seed": trial_seed(space, sampled)})


def trial_seed(space: SearchSpace, sampled: dict[str, Any]) -> int:
    """The trial's seed: a confirmation trial's own (``SEED_KEY``), else ``train.seed``."""
    return int(sampled.get(SEED_KEY, space.train.seed))


__all__ = ["coerce", "sampled_values", "ttlora_config_for", "baseline_config_for", "train_settings_for", "trial_seed"]
