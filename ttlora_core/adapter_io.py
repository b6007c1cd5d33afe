"""Adapter files: ``adapter_config.json`` + ``adapter_model.safetensors`` (no pickle anywhere).

``adapter_config.json`` (sorted keys) holds the library name and version, the TTLoRAConfig, the
resolved shape / ranks / (out, in) of every adapted module, the head parameter shapes, the base
model's name and class, and the SHA-256 of the weights file. The safetensors file holds the cores
(``<module>.cores.<i>``, float32) and the head parameters (``<param name>``), with no adapter
names in the keys.

``load_adapter`` accepts either a model already prepared with ``apply_ttlora`` (same targets,
shapes, ranks and alpha) or a plain model, to which it first applies the saved config. It reads
and checks everything (checksum, keys, shapes, model structure) before touching the model, so a
refused load raises :class:`AdapterError` and leaves the model unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ._version import __version__
from .config import TTLoRAConfig
from .inject import apply_ttlora, get_state, ttlora_layers
from .model_plan import resolve_shape
from .targets import find_target_modules, saved_module_names
from .tt_arithmetic import ShapeError, full_ranks

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
FORMAT_VERSION = 1
LIBRARY = "ttlora_core"


class AdapterError(ValueError):
    """An adapter folder that is missing, corrupted, or does not fit the model."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def base_model_info(model: nn.Module) -> dict[str, Any]:
    """Name (hub id or path, may be empty), class and model_type of the base model."""
    config = getattr(model, "config", None)
    return {
        "name_or_path": str(getattr(config, "_name_or_path", "") or getattr(model, "name_or_path", "") or ""),
        "class": type(model).__name__,
        "model_type": getattr(config, "model_type", None),
    }


def head_tensors(model: nn.Module, head_modules: list[str]) -> dict[str, Tensor]:
    """Full parameter name -> parameter for every parameter of the head modules."""
    return {
        f"{head}.{pname}": param for head in head_modules for pname, param in model.get_submodule(head).named_parameters()
    }


def save_adapter(model: nn.Module, directory: str | os.PathLike[str]) -> Path:
    """Write the adapter (cores + trainable head) of ``model`` to ``directory``; return the folder."""
    layers = ttlora_layers(model)
    state = get_state(model)
    if not layers or state is None:
        raise AdapterError("save_adapter: the model has no TT-LoRA layers (call apply_ttlora first)")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Tensor] = {}
    modules: dict[str, Any] = {}
    for name, layer in layers.items():
        for i, core in enumerate(layer.cores):
            tensors[f"{name}.cores.{i}"] = core.detach().to("cpu", torch.float32).contiguous()
        modules[name] = {
            "shape": layer.shape,
            "ranks": layer.ranks,
            "out_features": layer.out_features,
            "in_features": layer.in_features,
            "layer_type": "Conv1D" if layer.fan_in_fan_out else "Linear",
        }
    heads = head_tensors(model, state.head_modules)
    for pname, param in heads.items():
        tensors[pname] = param.detach().to("cpu").contiguous()
    weights_tmp = folder / (WEIGHTS_NAME + ".tmp")
    save_file(tensors, str(weights_tmp), metadata={"format": "pt", "library": LIBRARY})
    os.replace(weights_tmp, folder / WEIGHTS_NAME)
    meta = {
        "library": LIBRARY,
        "library_version": __version__,
        "format_version": FORMAT_VERSION,
        "config": state.config.to_dict(),
        "modules": modules,
        "head_parameters": {pname: list(param.shape) for pname, param in heads.items()},
        "base_model": base_model_info(model),
        "weights_sha256": _sha256(folder / WEIGHTS_NAME),
    }
    meta["config_sha256"] = _config_digest(meta)
    config_tmp = folder / (CONFIG_NAME + ".tmp")
    config_tmp.write_text(json.dumps(meta, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    os.replace(config_tmp, folder / CONFIG_NAME)
    return folder


# what the config checksum covers: everything that changes what a loaded adapter computes
_CHECKED_FIELDS = ("config", "modules", "head_parameters", "weights_sha256")


def _config_digest(meta: dict[str, Any]) -> str:
    """SHA-256 of the fields that decide the adapter's function (an edited alpha or shape changes it)."""
    canonical = json.dumps({key: meta.get(key) for key in _CHECKED_FIELDS}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_adapter(directory: str | os.PathLike[str]) -> tuple[dict[str, Any], TTLoRAConfig, dict[str, Tensor]]:
    """Read and self-check an adapter folder: (metadata, config, tensors). Raises AdapterError."""
    folder = Path(directory)
    config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    for path in (config_path, weights_path):
        if not path.is_file():
            raise AdapterError(f"load_adapter: {path} is missing (an adapter folder holds {CONFIG_NAME} and {WEIGHTS_NAME})")
    try:
        meta = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AdapterError(f"load_adapter: {config_path} is not valid JSON: {err}") from None
    if not isinstance(meta, dict) or meta.get("library") != LIBRARY:
        raise AdapterError(f"load_adapter: {config_path} is not a {LIBRARY} adapter config (library={meta.get('library') if isinstance(meta, dict) else None!r})")
    missing = [key for key in ("config", "modules", "head_parameters", "weights_sha256", "format_version") if key not in meta]
    if missing:
        raise AdapterError(f"load_adapter: {config_path} lacks the field(s) {missing}")
    if meta["format_version"] != FORMAT_VERSION:
        raise AdapterError(f"load_adapter: format_version {meta['format_version']!r} is not supported (expected {FORMAT_VERSION})")
    if "config_sha256" in meta and meta["config_sha256"] != _config_digest(meta):  # adapters saved before it: no check
        raise AdapterError(f"load_adapter: {config_path} was edited after the adapter was saved (its config_sha256 "
                           "does not match its config, modules, head parameters and weights checksum)")
    if not isinstance(meta["modules"], dict) or not isinstance(meta["head_parameters"], dict):
        raise AdapterError(f"load_adapter: {config_path}: modules and head_parameters must be JSON objects")
    try:
        config = TTLoRAConfig.from_dict(meta["config"])
    except (ValueError, TypeError) as err:
        raise AdapterError(f"load_adapter: invalid config in {config_path}: {err}") from None
    digest = _sha256(weights_path)
    if digest != meta["weights_sha256"]:
        raise AdapterError(
            f"load_adapter: {weights_path} is corrupted or truncated (sha256 {digest[:16]}..., "
            f"adapter_config.json expects {str(meta['weights_sha256'])[:16]}...)"
        )
    try:
        tensors = load_file(str(weights_path))
    except Exception as err:  # safetensors raises its own error types for bad headers
        raise AdapterError(f"load_adapter: cannot read {weights_path}: {err}") from None
    return meta, config, tensors


def _expected_modules(model: nn.Module, config: TTLoRAConfig) -> dict[str, dict[str, Any]]:
    """What apply_ttlora(model, config) would build (or has built): name -> shape/ranks/out/in."""
    layers = ttlora_layers(model)
    if layers:
        return {
            name: {"shape": l.shape, "ranks": l.ranks, "out_features": l.out_features, "in_features": l.in_features, "alpha": l.alpha}
            for name, l in layers.items()
        }
    expected = {}
    for name, (out_f, in_f) in find_target_modules(model, config).items():
        shape = resolve_shape(config, name, out_f, in_f)
        expected[name] = {"shape": shape, "ranks": full_ranks(config.rank, len(shape)), "out_features": out_f, "in_features": in_f, "alpha": config.alpha}
    return expected


def _check_fit(model: nn.Module, meta: dict[str, Any], config: TTLoRAConfig, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """Raise AdapterError unless the adapter fits ``model``; return head name -> model parameter."""
    try:
        expected = _expected_modules(model, config)
    except (ValueError, ShapeError) as err:
        raise AdapterError(f"load_adapter: the adapter does not fit this {type(model).__name__}: {err}") from None
    saved = meta["modules"]
    if set(expected) != set(saved):
        only_saved = sorted(set(saved) - set(expected))[:5]
        only_model = sorted(set(expected) - set(saved))[:5]
        raise AdapterError(
            f"load_adapter: adapted modules differ: in the adapter only {only_saved}, in the model only {only_model}"
        )
    for name, want in expected.items():
        got = saved[name]
        for key in ("shape", "ranks", "out_features", "in_features"):
            if want[key] != got.get(key):
                raise AdapterError(f"load_adapter: module {name!r}: {key} is {want[key]} in the model but {got.get(key)} in the adapter")
        if float(want["alpha"]) != float(config.alpha):
            raise AdapterError(f"load_adapter: module {name!r} has alpha {want['alpha']} but the adapter was trained with {config.alpha}")
        for i, k in enumerate(want["shape"]):
            key = f"{name}.cores.{i}"
            core_shape = [want["ranks"][i], k, want["ranks"][i + 1]]
            if key not in tensors or list(tensors[key].shape) != core_shape:
                found = list(tensors[key].shape) if key in tensors else "missing"
                raise AdapterError(f"load_adapter: tensor {key!r} should be {core_shape}, found {found}")
    state = get_state(model)
    head_names = state.head_modules if state is not None else saved_module_names(model, config)
    model_heads = head_tensors(model, head_names)
    for pname, shape in meta["head_parameters"].items():
        if pname not in model_heads:
            raise AdapterError(f"load_adapter: head parameter {pname!r} is not in this {type(model).__name__}")
        if list(model_heads[pname].shape) != list(shape) or pname not in tensors or list(tensors[pname].shape) != list(shape):
            raise AdapterError(
                f"load_adapter: head parameter {pname!r} is {list(model_heads[pname].shape)} in the model, "
                f"{shape} in the adapter (e.g. a different number of labels)"
            )
    n_expected = sum(len(m["shape"]) for m in expected.values()) + len(meta["head_parameters"])
    if len(tensors) != n_expected:
        raise AdapterError(f"load_adapter: the weights file holds {len(tensors)} tensors, the config describes {n_expected}")
    return {pname: model_heads[pname] for pname in meta["head_parameters"]}


def load_adapter(model: nn.Module, directory: str | os.PathLike[str]) -> nn.Module:
    """Load an adapter saved by :func:`save_adapter` into ``model`` and return it.

    ``model`` is a plain model (the saved config is applied first) or one already prepared with
    ``apply_ttlora`` with matching targets/shapes/ranks/alpha. Merged layers are unmerged, loaded
    and merged again. On any mismatch or corruption: AdapterError, model unchanged.
    """
    meta, config, tensors = read_adapter(directory)
    try:
        _check_fit(model, meta, config, tensors)
    except (AttributeError, TypeError, KeyError) as err:  # a value of the wrong type in adapter_config.json
        raise AdapterError(f"load_adapter: {Path(directory) / CONFIG_NAME} holds a value of the wrong type: "
                           f"{type(err).__name__}: {err}") from None
    if not ttlora_layers(model):
        apply_ttlora(model, config)
    heads = head_tensors(model, get_state(model).head_modules)  # apply_ttlora above: the state is there
    with torch.no_grad():
        for name, layer in ttlora_layers(model).items():
            was_merged = layer.merged
            layer.unmerge()
            for i, core in enumerate(layer.cores):
                core.copy_(tensors[f"{name}.cores.{i}"].to(core.device, core.dtype))
            if was_merged:
                layer.merge()
        for pname in meta["head_parameters"]:
            heads[pname].copy_(tensors[pname].to(heads[pname].device, heads[pname].dtype))
    return model
