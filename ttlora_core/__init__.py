"""TT-LoRA: tensor-train low-rank adaptation of frozen linear layers (Anjum et al., 2024).

A library usable without ttsearch::

    from ttlora_core import TTLoRAConfig, apply_ttlora
    model = apply_ttlora(model, TTLoRAConfig(targets=["query", "value"], shape=[8, 6, 8, 8, 6, 8], rank=5))

Depends on torch, transformers (layer types) and safetensors only; no Ray, no YAML.

The public names load on first use (PEP 562), so ``import ttlora_core.tt_arithmetic`` and
``ttlora_core.config`` (plain integer arithmetic and the config dataclass) do not import torch: the
search schema validates shapes with them at start-up, and ``ttsearch ls`` stays fast.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> the submodule that defines it
_EXPORTS: dict[str, str] = {
    "TTLoRAConfig": "config",
    "TTLoRALinear": "layer",
    "apply_ttlora": "inject",
    "count_parameters": "inject",
    "trainable_head_parameters": "inject",
    "default_targets": "inject",
    "merge": "inject",
    "unmerge": "inject",
    "unload": "inject",
    "ttlora_layers": "inject",
    "save_adapter": "adapter_io",
    "load_adapter": "adapter_io",
    "AdapterError": "adapter_io",
    "export_lora": "peft_export",
    "ShapeError": "tt_arithmetic",
    "propose_shape": "tt_arithmetic",
    "PlanCounts": "model_plan",
    "plan_counts": "model_plan",
    "resolve_shape": "model_plan",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # static analysers see the plain imports
    from .adapter_io import AdapterError, load_adapter, save_adapter  # noqa: F401
    from .config import TTLoRAConfig  # noqa: F401
    from .inject import (apply_ttlora, count_parameters, default_targets, merge, trainable_head_parameters,  # noqa: F401
                         ttlora_layers, unload, unmerge)
    from .layer import TTLoRALinear  # noqa: F401
    from .model_plan import PlanCounts, plan_counts, resolve_shape  # noqa: F401
    from .peft_export import export_lora  # noqa: F401
    from .tt_arithmetic import ShapeError, propose_shape  # noqa: F401


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'ttlora_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
