"""Put TT-LoRA adapters into a model and take them out again.

``apply_ttlora`` validates every target (shapes, ranks) before changing anything, then wraps
the targets in :class:`TTLoRALinear`, freezes all other parameters and leaves the task head
trainable. It records what it changed on the model (``model.ttlora_state``) so that
``unload(model, merge=False)`` can give back the model exactly as it was: same W0 tensors, same
head values, same ``requires_grad`` flags (a search can then reuse one cached base model for
many trials).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .config import TTLoRAConfig
from .layer import TTLoRALinear
from .model_plan import resolve_shape
from .precision import Float32Masters, keep_float32_masters, restore_dtypes
from .targets import default_targets, find_target_modules, head_module_names, head_parameters, saved_module_names

__all__ = [
    "TTLoRAState",
    "default_targets",
    "apply_ttlora",
    "ttlora_layers",
    "count_parameters",
    "merge",
    "unmerge",
    "unload",
]

STATE_ATTR = "ttlora_state"


@dataclass
class TTLoRAState:
    """What apply_ttlora did to a model: its config, head modules, and what unload must restore."""

    config: TTLoRAConfig
    head_modules: list[str]
    original_requires_grad: dict[str, bool]
    head_snapshot: dict[str, Tensor] = field(default_factory=dict)
    float32_masters: Float32Masters = field(default_factory=Float32Masters)


def ttlora_layers(model: nn.Module) -> dict[str, TTLoRALinear]:
    """Full module name -> TTLoRALinear for every adapter layer in ``model`` (model order)."""
    return {name: module for name, module in model.named_modules() if isinstance(module, TTLoRALinear)}


def get_state(model: nn.Module) -> TTLoRAState | None:
    """The TTLoRAState apply_ttlora attached to ``model`` (None for a plain model)."""
    return getattr(model, STATE_ATTR, None)


def _replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def apply_ttlora(model: nn.Module, config: TTLoRAConfig) -> nn.Module:
    """Wrap ``config``'s targets in TTLoRALinear in place and return ``model``.

    Trainable afterwards: the TT cores, plus the task head (``classifier`` / ``score`` /
    ``qa_outputs``) when ``config.train_head`` and the modules of ``config.modules_to_save`` (by
    default those a task model of this family initialises fresh, e.g. DeBERTa's pooler). In a
    bf16/fp16 model those modules get float32 master weights (:mod:`ttlora_core.precision`).
    Raises ValueError when the model already has
    TT-LoRA layers or no module matches, and ShapeError when a shape or rank does not fit a
    target; in every error case the model is unchanged.
    """
    if not isinstance(config, TTLoRAConfig):
        raise TypeError(f"apply_ttlora: config must be a TTLoRAConfig, got {type(config).__name__}")
    if ttlora_layers(model) or get_state(model) is not None:
        raise ValueError(
            "apply_ttlora: the model already has TT-LoRA layers; call ttlora_core.unload(model) first "
            "(or load_adapter to replace the cores)"
        )
    targets = find_target_modules(model, config)
    shapes = {name: resolve_shape(config, name, out_f, in_f) for name, (out_f, in_f) in targets.items()}
    heads = saved_module_names(model, config)

    original = {name: param.requires_grad for name, param in model.named_parameters()}
    snapshot = {
        f"{head}.{pname}": param.detach().clone()
        for head in heads
        for pname, param in model.get_submodule(head).named_parameters()
    }
    for param in model.parameters():
        param.requires_grad_(False)

    generator = torch.Generator().manual_seed(config.seed)
    for name, shape in shapes.items():
        base = model.get_submodule(name)
        layer = TTLoRALinear(base, shape, config.rank, config.alpha, config.init, generator)
        _replace_module(model, name, layer)
    for head in heads:
        for param in model.get_submodule(head).parameters():
            param.requires_grad_(True)
    masters = keep_float32_masters(model, heads)
    setattr(model, STATE_ATTR, TTLoRAState(config, heads, original, snapshot, masters))
    return model


def trainable_head_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The trainable parameters of the head and saved modules of a wrapped model (each tensor once):
    the ones a separate head learning rate applies to."""
    state = get_state(model)
    head_names = state.head_modules if state is not None else head_module_names(model)
    return head_parameters(model, head_names, trainable_only=True)


def count_parameters(model: nn.Module) -> dict[str, int]:
    """{"ttlora": core parameters, "head": trainable head parameters, "total_trainable": all trainable}.

    Parameters shared between modules (tied weights) are counted once.
    """
    ttlora = sum(core.numel() for layer in ttlora_layers(model).values() for core in layer.cores)
    head = sum(param.numel() for param in trainable_head_parameters(model))
    seen: set[int] = set()
    total = 0
    for param in model.parameters():
        if param.requires_grad and id(param) not in seen:
            seen.add(id(param))
            total += param.numel()
    return {"ttlora": ttlora, "head": head, "total_trainable": total}


def _require_layers(model: nn.Module, action: str) -> dict[str, TTLoRALinear]:
    layers = ttlora_layers(model)
    if not layers:
        raise ValueError(f"{action}: the model has no TT-LoRA layers (call apply_ttlora first)")
    return layers


def merge(model: nn.Module) -> None:
    """Fold alpha * ΔW into every W0; afterwards the forward costs what the base model costs.

    All ΔW are checked for non-finite values before any weight is written.
    """
    _merge_all(model)


def _merge_all(model: nn.Module) -> None:
    """:func:`merge` under a name that ``unload``'s ``merge`` argument does not shadow."""
    layers = _require_layers(model, "merge")
    with torch.no_grad():
        for name, layer in layers.items():
            if not layer.merged and not torch.isfinite(layer.delta_weight()).all():
                raise ValueError(f"merge: ΔW of {name!r} has non-finite values; no weight was changed")
    for layer in layers.values():
        layer.merge()


def unmerge(model: nn.Module) -> None:
    """Undo :func:`merge` (W0 restored within float rounding of the base dtype)."""
    for layer in _require_layers(model, "unmerge").values():
        layer.unmerge()


def unload(model: nn.Module, merge: bool = True) -> nn.Module:
    """Replace every TTLoRALinear by its plain base module and return ``model``.

    ``merge=True``: the base weights carry alpha * ΔW (a plain fine-tuned model; the trained head
    is kept). ``merge=False``: the model as it was before apply_ttlora: the original W0 tensors
    (unmerged first if they were merged), the head's values from apply time. In both cases the
    ``requires_grad`` flags from before apply_ttlora come back.
    """
    layers = _require_layers(model, "unload")
    if merge:
        _merge_all(model)
    for name, layer in layers.items():
        if not merge:
            layer.unmerge()
        _replace_module(model, name, layer.base_layer)
    state = get_state(model)
    if state is not None:
        restore_dtypes(model, state.float32_masters)
        with torch.no_grad():
            if not merge:
                for pname, value in state.head_snapshot.items():
                    model.get_parameter(pname).copy_(value)
        for pname, param in model.named_parameters():
            if pname in state.original_requires_grad:
                param.requires_grad_(state.original_requires_grad[pname])
        delattr(model, STATE_ATTR)
    return model
