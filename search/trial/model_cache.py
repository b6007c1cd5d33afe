"""A per-process cache of the frozen base model, so successive trials in one worker load weights once.

With ``TuneConfig(reuse_actors=True)`` Tune runs the next trial in the same worker process (docs/ARCHITECTURE.md,
"Ray Tune facts"). Between trials only the adapter changes: ``unload(merge=False)`` puts the untouched W0 back and
resets the task head to its values at apply time (the seeded initial head of the first load), and a new
``apply_ttlora`` wraps it again, so every trial starts from the same head whichever worker it lands on.
"""
from __future__ import annotations

import gc
import time
import warnings
from dataclasses import dataclass, replace

import torch

from ttlora_core import TTLoRAConfig, apply_ttlora, ttlora_layers, unload
from ttlora_core.targets import missing_keys_to_modules

# transformers 5 deprecates a property that PEFT still reads when it wraps a model: a FutureWarning in
# every trial's output that says nothing to a ttsearch user (PEFT's to change, not ours)
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class TrialModelSpec:
    """What identifies a loaded base model (two trials with equal specs share one)."""

    model_path: str
    num_labels: int
    dtype: str
    seed: int
    device: str
    pad_token_id: int | None = None


def load_base_model(spec: TrialModelSpec) -> torch.nn.Module:
    """Load the sequence-classification model; the randomly initialised head is seeded without
    touching the caller's global RNG state (``fork_rng``). ``model.ttsearch_newly_initialised`` lists
    the modules besides the head that the checkpoint did not hold (from the loading info): they are
    trained and saved with the adapter."""
    from transformers import AutoModelForSequenceClassification

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model, info = AutoModelForSequenceClassification.from_pretrained(
            spec.model_path, num_labels=spec.num_labels, dtype=_DTYPES[spec.dtype], output_loading_info=True,
        )
    if spec.pad_token_id is not None:
        model.config.pad_token_id = spec.pad_token_id
    model.ttsearch_newly_initialised = missing_keys_to_modules(list(info.get("missing_keys", ())), model)
    return model.to(spec.device)


def with_newly_initialised(model: torch.nn.Module, config: TTLoRAConfig) -> TTLoRAConfig:
    """``config`` with ``modules_to_save`` from the model's loading info, unless the space set it or the
    head is not trained (the same rule as ttlora_core's family default)."""
    found = getattr(model, "ttsearch_newly_initialised", [])
    if config.modules_to_save is not None or not config.train_head or not found:
        return config
    return replace(config, modules_to_save=list(found))


class BaseModelCache:
    """Holds one base model per process; ``acquire`` returns it wrapped with a fresh adapter."""

    def __init__(self) -> None:
        self._spec: TrialModelSpec | None = None
        self._model: torch.nn.Module | None = None
        self.last_load_seconds = 0.0
        self.last_was_reused = False

    def release(self) -> None:
        """Drop the cached model (a baseline trial loads its own copy)."""
        self._model, self._spec = None, None
        gc.collect()

    def acquire(self, spec: TrialModelSpec, config: TTLoRAConfig) -> torch.nn.Module:
        started = time.perf_counter()
        if self._model is not None and self._spec == spec:
            if ttlora_layers(self._model):  # the previous trial's adapter (absent if its apply failed)
                unload(self._model, merge=False)
            self.last_was_reused = True
        else:
            self._model = None
            gc.collect()
            self._model = load_base_model(spec)
            self._spec = spec
            self.last_was_reused = False
        model = apply_ttlora(self._model, with_newly_initialised(self._model, config))
        self.last_load_seconds = time.perf_counter() - started
        return model
