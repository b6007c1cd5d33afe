"""Baseline methods beside TT-LoRA: PEFT adapters (the real library), BitFit and full fine-tuning.

One trial of a baseline gets the same base model, task head, seed, data and training loop as a
TT-LoRA trial; only what is trainable differs (docs/ARCHITECTURE.md, "Methods and baselines"):
- PEFT methods (``vocab.methods`` kind ``peft``): ``peft.get_peft_model`` with the method's config on
  the TT-LoRA targets (or ``baselines.<name>.targets``); the head and newly initialised modules are
  PEFT ``modules_to_save``, so a checkpoint is a PEFT adapter folder that
  ``PeftModel.from_pretrained`` loads.
- BitFit: every bias of the body plus the head; full: every parameter.

Counts come from the wrapped model itself, so ``plan`` (on the meta device) and the trial report the
same numbers: ``adapter`` = trainable parameters outside the head and saved modules.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ttlora_core.config import REGEX_PREFIX
from ttlora_core.precision import keep_float32_masters
from ttlora_core.targets import NEWLY_INITIALISED_MODULES, default_targets, head_module_names
from vocab.methods import METHODS, MethodSpec

TRAINED_TENSORS_FILE = "trained.safetensors"  # BitFit / full: the trained tensors by parameter name
TRAINED_INFO_FILE = "trained.json"
PEFT_WEIGHTS_FILE = "adapter_model.safetensors"
CHECKSUM_FILE = "ttsearch_checksum.json"  # PEFT checkpoints: the SHA-256 of the weights file as saved


@dataclass(frozen=True)
class BaselineConfig:
    """One baseline trial's method and its values (the method rows of ``vocab.methods``)."""

    method: str
    values: dict[str, Any] = field(default_factory=dict)
    targets: list[str] | str | None = None  # None: the family's default (query/value)
    train_head: bool = True
    modules_to_save: list[str] | None = None  # None: the newly initialised modules (loading info)
    seed: int = 0

    @property
    def spec(self) -> MethodSpec:
        return METHODS[self.method]


def peft_targets(model: nn.Module, targets: list[str] | str | None) -> list[str] | str:
    """PEFT ``target_modules``: suffixes as a list, a ``re:`` pattern as PEFT's full-match regex."""
    if targets is None:
        return default_targets(model)
    if isinstance(targets, str):
        return targets[len(REGEX_PREFIX):] if targets.startswith(REGEX_PREFIX) else [targets]
    return list(targets)


def saved_modules(model: nn.Module, config: BaselineConfig) -> list[str]:
    """Modules trained in full: the head (``train_head``) plus the space's ``modules_to_save``, or the
    modules the checkpoint did not hold (the TT-LoRA rule, search/trial/model_cache.py)."""
    names = head_module_names(model) if config.train_head else []
    extra = config.modules_to_save
    if extra is None and config.train_head:
        found = getattr(model, "ttsearch_newly_initialised", None)  # loading info (search/trial/model_cache.py)
        if found is None:  # a meta-device model (plan): the family's table, as TT-LoRA's plan does
            model_type = getattr(getattr(model, "config", None), "model_type", None)
            children = {name for name, _ in model.named_children()}
            found = [n for n in NEWLY_INITIALISED_MODULES.get(model_type, ()) if n in children]
        extra = list(found)
    return names + [n for n in extra or () if n not in names]


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_digest(path: Path, expected: str | None) -> None:
    """A file whose checksum was recorded at save time must still have it (a truncated or damaged copy)."""
    if expected is not None and _sha256(path) != expected:
        raise ValueError(f"{path} is corrupted or truncated (its SHA-256 differs from the one saved with it)")


def _saved_digest(directory: Path, file_name: str) -> str | None:
    """The SHA-256 recorded for ``file_name`` when it was saved (None in checkpoints from before it)."""
    source = directory / (CHECKSUM_FILE if file_name == PEFT_WEIGHTS_FILE else TRAINED_INFO_FILE)
    if not source.is_file():
        return None
    try:
        saved = json.loads(source.read_text())
    except ValueError:
        raise ValueError(f"{source} is not valid JSON") from None
    value = saved.get(file_name if file_name == PEFT_WEIGHTS_FILE else "sha256") if isinstance(saved, dict) else None
    return value if isinstance(value, str) else None


def _in_saved_module(name: str, saved: list[str]) -> bool:
    """A parameter of a saved module: PEFT's copies live under ``<module>.modules_to_save.<adapter>``."""
    return ".modules_to_save." in name or any(
        name == s or name.startswith(s + ".") or f".{s}." in f".{name}" for s in saved)


def saved_parameters(model: nn.Module, config: BaselineConfig) -> list[nn.Parameter]:
    """The trainable parameters of the head and saved modules of a model ``apply_baseline`` returned
    (each tensor once): the ones a separate head learning rate applies to."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    saved = saved_modules(base, config)
    seen: set[int] = set()
    found: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        if param.requires_grad and id(param) not in seen and _in_saved_module(name.removeprefix("base_model.model."), saved):
            seen.add(id(param))
            found.append(param)
    return found


def count_baseline(model: nn.Module, config: BaselineConfig) -> dict[str, int]:
    """{"adapter", "head", "total_trainable", "ttlora": 0} of a model ``apply_baseline`` returned. ``head``:
    trainable parameters of the head and saved modules (tied tensors counted once)."""
    head = sum(param.numel() for param in saved_parameters(model, config))
    total = sum(param.numel() for param in {id(p): p for p in model.parameters() if p.requires_grad}.values())
    return {"adapter": total - head, "head": head, "total_trainable": total, "ttlora": 0}


PeftOptions = Callable[[BaselineConfig], dict[str, Any]]  # the method's rows under PEFT's field names


@dataclass(frozen=True)
class PeftMethod:
    """A baseline through the real PEFT library: ``get_peft_model`` with the method's config on the
    targets; the head and newly initialised modules are PEFT ``modules_to_save``; a checkpoint is a
    PEFT adapter folder (``PeftModel.from_pretrained`` loads it) with the SHA-256 of its weights."""

    name: str
    options: PeftOptions
    weights_file: str = PEFT_WEIGHTS_FILE
    trains_base_weights: bool = False
    load_hint: str = "peft.PeftModel.from_pretrained(base, path)"

    def config(self, model: nn.Module, config: BaselineConfig) -> Any:
        import peft

        return getattr(peft, METHODS[self.name].peft_type)(target_modules=peft_targets(model, config.targets),
                                                           modules_to_save=saved_modules(model, config) or None,
                                                           **self.options(config))

    def apply(self, model: nn.Module, config: BaselineConfig) -> nn.Module:
        import peft

        wrapped = peft.get_peft_model(model, self.config(model, config))
        # the trained copies of the head / saved modules: float32 masters in bf16/fp16 models, as
        # TT-LoRA's (PEFT itself keeps its adapter weights in float32)
        keep_float32_masters(wrapped, [name for name, _ in wrapped.named_modules()
                                       if name.endswith(".modules_to_save.default")])
        return wrapped

    def save(self, model: nn.Module, config: BaselineConfig, directory: Path) -> None:
        model.save_pretrained(str(directory))
        (directory / CHECKSUM_FILE).write_text(json.dumps({PEFT_WEIGHTS_FILE: _sha256(directory / PEFT_WEIGHTS_FILE)}))

    def load(self, model: nn.Module, config: BaselineConfig, directory: Path) -> None:
        from peft import get_peft_model_state_dict, set_peft_model_state_dict
        from safetensors.torch import load_file

        _check_digest(directory / PEFT_WEIGHTS_FILE, _saved_digest(directory, PEFT_WEIGHTS_FILE))
        saved = load_file(str(directory / PEFT_WEIGHTS_FILE))
        lacking = sorted(set(get_peft_model_state_dict(model)) - set(saved))
        if lacking:
            raise ValueError(f"{directory}: the checkpoint lacks {len(lacking)} of the adapter's tensors: {lacking[:3]}")
        result = set_peft_model_state_dict(model, saved)
        unexpected = list(getattr(result, "unexpected_keys", []))
        if unexpected:
            raise ValueError(f"{directory}: tensors the model has no place for: {unexpected[:3]}")

    def load_exported(self, base: nn.Module, directory: Path) -> nn.Module:
        """An exported folder on a fresh base model: the ``PeftModel`` PEFT itself loads."""
        from peft import PeftModel

        return PeftModel.from_pretrained(base, str(directory))

    def check_folder(self, directory: Path) -> None:
        """An exported folder reads back: PEFT's config, then the weights (raises what the readers raise)."""
        from peft import PeftConfig

        PeftConfig.from_pretrained(str(directory))
        _open_safetensors(directory / self.weights_file)


@dataclass(frozen=True)
class TrainedTensorsMethod:
    """A baseline that trains some of the model's own tensors (``trains``: by parameter name, besides the
    head and saved modules); a checkpoint is those tensors as safetensors with a small JSON header."""

    name: str
    trains: Callable[[str], bool]
    weights_file: str = TRAINED_TENSORS_FILE
    trains_base_weights: bool = True  # needs float32 weights to train (model.dtype float32)
    load_hint: str = "search.trial.baselines.load_baseline(base, BaselineConfig(method), path)"

    def apply(self, model: nn.Module, config: BaselineConfig) -> nn.Module:
        saved = saved_modules(model, config)
        for name, param in model.named_parameters():
            in_saved = any(name == s or name.startswith(s + ".") for s in saved)
            param.requires_grad_(in_saved or self.trains(name))
        return model

    def save(self, model: nn.Module, config: BaselineConfig, directory: Path) -> None:
        from safetensors.torch import save_file

        tensors = {name: p.detach().contiguous().cpu() for name, p in model.named_parameters() if p.requires_grad}
        save_file(tensors, str(directory / TRAINED_TENSORS_FILE))
        info = {"method": config.method, "base_model": getattr(model.config, "_name_or_path", ""),
                "tensors": len(tensors), "parameters": sum(t.numel() for t in tensors.values()),
                "sha256": _sha256(directory / TRAINED_TENSORS_FILE)}
        (directory / TRAINED_INFO_FILE).write_text(json.dumps(info, indent=1))

    def load(self, model: nn.Module, config: BaselineConfig, directory: Path) -> None:
        from safetensors.torch import load_file

        _check_digest(directory / TRAINED_TENSORS_FILE, _saved_digest(directory, TRAINED_TENSORS_FILE))
        tensors = load_file(str(directory / TRAINED_TENSORS_FILE))
        params = dict(model.named_parameters())
        missing = [name for name in tensors if name not in params]
        if missing:
            raise ValueError(f"{directory}: tensors the model has no place for: {missing[:3]}")
        lacking = [name for name, p in params.items() if p.requires_grad and name not in tensors]
        if lacking:
            raise ValueError(f"{directory}: the checkpoint lacks {len(lacking)} trained tensor(s): {lacking[:3]}")
        with torch.no_grad():
            for name, tensor in tensors.items():
                params[name].copy_(tensor)

    def load_exported(self, base: nn.Module, directory: Path) -> nn.Module:
        """An exported folder on a fresh base model: the trained tensors copied in."""
        self.load(base, BaselineConfig(self.name), directory)
        return base

    def check_folder(self, directory: Path) -> None:
        _open_safetensors(directory / self.weights_file)


def _open_safetensors(path: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        handle.keys()


BaselineMethod = PeftMethod | TrainedTensorsMethod

# Every baseline's behaviour, by its vocab.methods name (its rows and defaults are declared there).
# Adding a PEFT method: its MethodSpec in vocab/methods.py and one PeftMethod here.
BASELINE_METHODS: dict[str, BaselineMethod] = {m.name: m for m in (
    PeftMethod("lora", lambda c: dict(r=int(c.values["rank"]), lora_alpha=float(c.values["alpha"]),
                                      lora_dropout=float(c.values["dropout"]), bias="none")),
    PeftMethod("vera", lambda c: dict(r=int(c.values["rank"]), d_initial=float(c.values["d_initial"]),
                                      save_projection=True, projection_prng_key=c.seed)),
    PeftMethod("ia3", lambda c: dict(feedforward_modules=[])),
    PeftMethod("lokr", lambda c: dict(r=int(c.values["rank"]), alpha=float(c.values["alpha"]))),
    TrainedTensorsMethod("bitfit", lambda name: name.endswith(".bias") or name == "bias"),
    TrainedTensorsMethod("full", lambda name: True),
    PeftMethod("loha", lambda c: dict(r=int(c.values["rank"]), alpha=float(c.values["alpha"]))),
)}


def baseline_method(name: str) -> BaselineMethod:
    if name not in BASELINE_METHODS:
        raise ValueError(f"{name!r} is not a baseline method (expected one of {', '.join(BASELINE_METHODS)})")
    return BASELINE_METHODS[name]


def peft_config(model: nn.Module, config: BaselineConfig) -> Any:
    """The PEFT config object of a PEFT baseline."""
    method = baseline_method(config.method)
    if not isinstance(method, PeftMethod):
        raise ValueError(f"{config.method!r} is not a PEFT method")
    return method.config(model, config)


def apply_baseline(model: nn.Module, config: BaselineConfig) -> nn.Module:
    """``model`` made trainable the baseline's way (PEFT: the wrapped ``PeftModel``). Adapter weights are
    initialised from ``config.seed`` without touching the caller's RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return baseline_method(config.method).apply(model, config)


def save_baseline(model: nn.Module, config: BaselineConfig, directory: Path) -> None:
    """Write what the baseline trained (a PEFT adapter folder, or the trained tensors)."""
    directory.mkdir(parents=True, exist_ok=True)
    baseline_method(config.method).save(model, config, directory)


def load_baseline(model: nn.Module, config: BaselineConfig, directory: Path) -> None:
    """Load what ``save_baseline`` wrote into a model ``apply_baseline`` returned (same config)."""
    baseline_method(config.method).load(model, config, directory)


__all__ = ["BaselineConfig", "BASELINE_METHODS", "PeftMethod", "TrainedTensorsMethod", "baseline_method", "apply_baseline",
           "count_baseline", "save_baseline", "load_baseline", "peft_config", "saved_modules"]
