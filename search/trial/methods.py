"""The registry of training methods: one object per method that owns how a trial's model is built
(applied), counted, saved, loaded and exported. The trainable, ``plan`` and ``export`` ask the registry
(``training_method(name)``) and never branch on a method's name.

* TT-LoRA wraps the worker's cached base model (``model_cache``) with ``ttlora_core``: counts are its
  closed forms, the checkpoint is a TT-LoRA adapter folder.
* Every baseline (``baselines.BASELINE_METHODS``: PEFT methods, BitFit, full fine-tuning) loads a fresh
  base model after releasing the cache (BitFit and full change its weights, PEFT wraps its modules), so
  a worker holds one copy of the weights.

Each method's searched rows and defaults are declared in ``vocab/methods.py``; adding a PEFT method is
its ``MethodSpec`` there and one ``PeftMethod`` in ``baselines.BASELINE_METHODS``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from torch import nn

from search.space.schema import SearchSpace
from search.trial.baselines import (
    BASELINE_METHODS,
    BaselineMethod,
    apply_baseline,
    count_baseline,
    load_baseline,
    save_baseline,
    saved_parameters,
)
from search.trial.config import baseline_config_for, ttlora_config_for
from search.trial.export_artifacts import export_baseline, export_ttlora
from search.trial.model_cache import BaseModelCache, TrialModelSpec, load_base_model
from ttlora_core import count_parameters, load_adapter, save_adapter, trainable_head_parameters
from vocab.methods import TTLORA


@dataclass
class TrialModel:
    """A trial's model with its method's counts (``adapter``, ``ttlora``, ``head``, ``total_trainable``),
    its save / load functions (the checkpoint's ``adapter/`` folders) and the trainable parameters of
    its head and saved modules (``train.head_learning_rate`` applies to them)."""

    method: str
    model: nn.Module
    counts: dict[str, int]
    save: Callable[[Path], None]
    load: Callable[[Path], None]
    base_model_reused: bool
    head_parameters: list[nn.Parameter]


@dataclass(frozen=True)
class ExportRequest:
    """What ``ttsearch export`` asks of one trial (``space``: the experiment's resolved space)."""

    space: SearchSpace
    adapter_source: Path | None
    trial_id: str
    trial_dir: str
    out_dir: Path
    merged: bool = False
    as_lora: bool = False


class TrainingMethod(Protocol):
    name: str
    trains_base_weights: bool  # trains the model's own weights (needs float32 weights)

    def build_model(self, space: SearchSpace, flat_config: dict[str, Any], spec: TrialModelSpec,
                    cache: BaseModelCache) -> TrialModel: ...

    def export(self, request: ExportRequest) -> list[str]: ...


@dataclass(frozen=True)
class TTLoRAMethod:
    name: str = TTLORA
    trains_base_weights: bool = False

    def build_model(self, space: SearchSpace, flat_config: dict[str, Any], spec: TrialModelSpec,
                    cache: BaseModelCache) -> TrialModel:
        model = cache.acquire(spec, ttlora_config_for(space, flat_config))
        counts = count_parameters(model)
        return TrialModel(self.name, model, {**counts, "adapter": counts["ttlora"]},
                          lambda directory: save_adapter(model, directory),
                          lambda directory: load_adapter(model, directory), cache.last_was_reused,
                          trainable_head_parameters(model))

    def export(self, request: ExportRequest) -> list[str]:
        return export_ttlora(request.space, request.adapter_source, request.trial_id, request.trial_dir,
                             request.out_dir, request.merged, request.as_lora)


@dataclass(frozen=True)
class BaselineTrainingMethod:
    behaviour: BaselineMethod  # apply / save / load / export checks (search/trial/baselines.py)

    @property
    def name(self) -> str:
        return self.behaviour.name

    @property
    def trains_base_weights(self) -> bool:
        return self.behaviour.trains_base_weights

    def build_model(self, space: SearchSpace, flat_config: dict[str, Any], spec: TrialModelSpec,
                    cache: BaseModelCache) -> TrialModel:
        config = baseline_config_for(space, flat_config)
        cache.release()
        model = apply_baseline(load_base_model(spec), config)
        return TrialModel(self.name, model, count_baseline(model, config),
                          lambda directory: save_baseline(model, config, directory),
                          lambda directory: load_baseline(model, config, directory), False,
                          saved_parameters(model, config))

    def export(self, request: ExportRequest) -> list[str]:
        return export_baseline(request.space, request.adapter_source, request.trial_id, request.trial_dir,
                               request.out_dir, request.merged, request.as_lora, self.name)


METHOD_REGISTRY: dict[str, TrainingMethod] = {
    TTLORA: TTLoRAMethod(), **{name: BaselineTrainingMethod(method) for name, method in BASELINE_METHODS.items()}}


def training_method(name: str) -> TrainingMethod:
    """The registered method of ``name`` (a ``vocab.methods`` name)."""
    if name not in METHOD_REGISTRY:
        raise ValueError(f"no training method {name!r} (registered: {', '.join(METHOD_REGISTRY)})")
    return METHOD_REGISTRY[name]


def export_trial(request: ExportRequest, method: str = TTLORA) -> list[str]:
    """Write the trial's adapter (always) and the merged model / PEFT LoRA adapter (on request); one line
    per folder written, for the CLI to print."""
    return training_method(method).export(request)


__all__ = ["TrialModel", "TrainingMethod", "ExportRequest", "METHOD_REGISTRY", "training_method", "export_trial"]
