"""TT-LoRA: tensor-train low-rank adaptation of frozen linear layers (Anjum et al., 2024).

A library usable without ttsearch::

    from ttlora_core import TTLoRAConfig, apply_ttlora
    model = apply_ttlora(model, TTLoRAConfig(targets=["query", "value"], shape=[8, 6, 8, 8, 6, 8], rank=5))

Depends on torch, transformers (layer types) and safetensors only; no Ray, no YAML.
"""

from ._version import __version__
from .adapter_io import AdapterError, load_adapter, save_adapter
from .config import TTLoRAConfig
from .inject import apply_ttlora, count_parameters, default_targets, merge, ttlora_layers, unload, unmerge
from .layer import TTLoRALinear
from .peft_export import export_lora
from .shapes import PlanCounts, ShapeError, plan_counts, propose_shape, resolve_shape

__all__ = [
    "__version__",
    "TTLoRAConfig",
    "TTLoRALinear",
    "apply_ttlora",
    "count_parameters",
    "default_targets",
    "merge",
    "unmerge",
    "unload",
    "ttlora_layers",
    "save_adapter",
    "load_adapter",
    "export_lora",
    "AdapterError",
    "ShapeError",
    "PlanCounts",
    "plan_counts",
    "propose_shape",
    "resolve_shape",
]
