"""Export a TT-LoRA adapter as a PEFT LoRA adapter folder (servable by any LoRA engine).

At a split point s, ΔW = P @ S exactly (P: out x r_s, S: r_s x in), so the adapter *is* a LoRA
adapter of rank r_s: lora_A = S, lora_B = alpha * P, and lora_alpha = r so PEFT's scaling
lora_alpha / r is exactly 1. Shapes without a split point still factor exactly through the
merged straddling block at a larger rank R = min(r_{s0} u, v r_{s1}); exporting those needs
``allow_block_rank=True`` so nobody gets a rank-48 "LoRA" by surprise.

The file layout (keys ``base_model.model.<module>.lora_A.weight``, head parameters as
``base_model.model.<param>``) is the one ``peft.PeftModel.save_pretrained`` writes; the tests load
the folder with ``peft.PeftModel.from_pretrained`` and compare logits. peft itself is not imported.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from .adapter_io import AdapterError, base_model_info, head_tensors
from .inject import get_state, ttlora_layers

PROVENANCE_NAME = "ttlora_export.json"

TASK_TYPES = {
    "ForSequenceClassification": "SEQ_CLS",
    "ForCausalLM": "CAUSAL_LM",
    "ForTokenClassification": "TOKEN_CLS",
    "ForQuestionAnswering": "QUESTION_ANS",
}


def peft_task_type(model: nn.Module) -> str | None:
    """PEFT's task_type for ``model``'s class name, or None for a bare backbone."""
    name = type(model).__name__
    return next((task for suffix, task in TASK_TYPES.items() if name.endswith(suffix)), None)


def export_lora(model: nn.Module, directory: str | os.PathLike[str], allow_block_rank: bool = False) -> Path:
    """Write a PEFT LoRA adapter equal to ``model``'s TT-LoRA adapter to ``directory``.

    Each module's LoRA rank is its exact factor rank (r_s at the split point). Raises AdapterError
    for modules without a split point unless ``allow_block_rank`` (then the exact block rank is used
    and the message of the refusal names it).
    """
    layers = ttlora_layers(model)
    state = get_state(model)
    if not layers or state is None:
        raise AdapterError("export_lora: the model has no TT-LoRA layers (call apply_ttlora first)")
    no_split = {name: layer for name, layer in layers.items() if layer.split is None}
    if no_split and not allow_block_rank:
        details = ", ".join(f"{n} shape {l.shape} (exact rank {l.factor_rank})" for n, l in list(no_split.items())[:3])
        raise AdapterError(
            f"export_lora: {len(no_split)} module(s) have no split point (no prefix of the shape multiplies to "
            f"out_features), so there is no LoRA of rank r_s equal to them: {details}. Use a shape with a split "
            "point (shape='auto' always has one) or pass allow_block_rank=True to export at the exact rank shown."
        )
    tensors: dict[str, Tensor] = {}
    ranks: dict[str, int] = {}
    with torch.no_grad():
        for name, layer in layers.items():
            p_factor, s_factor = layer.factors()  # (out, R), (R, in) float32
            tensors[f"base_model.model.{name}.lora_A.weight"] = s_factor.contiguous().cpu()
            tensors[f"base_model.model.{name}.lora_B.weight"] = (layer.alpha * p_factor).contiguous().cpu()
            ranks[name] = layer.factor_rank
    for pname, param in head_tensors(model, state.head_modules).items():  # head + saved modules (pooler)
        tensors[f"base_model.model.{pname}"] = param.detach().contiguous().cpu()
    default_rank = Counter(ranks.values()).most_common(1)[0][0]
    pattern = {name: r for name, r in ranks.items() if r != default_rank}
    conv1d = {layer.fan_in_fan_out for layer in layers.values()}
    if len(conv1d) > 1:
        raise AdapterError("export_lora: PEFT has one fan_in_fan_out flag per adapter; this model mixes Linear and Conv1D targets")
    config: dict[str, Any] = {
        "peft_type": "LORA",
        "task_type": peft_task_type(model),
        "base_model_name_or_path": base_model_info(model)["name_or_path"] or None,
        "r": default_rank,
        "lora_alpha": default_rank,  # scaling = lora_alpha / r = 1; alpha lives in lora_B
        "rank_pattern": pattern,
        "alpha_pattern": dict(pattern),
        "target_modules": sorted(layers),
        "modules_to_save": list(state.head_modules) or None,
        "fan_in_fan_out": conv1d.pop(),
        "lora_dropout": 0.0,
        "bias": "none",
        "use_rslora": False,
        "use_dora": False,
        "init_lora_weights": True,
        "inference_mode": True,
    }
    provenance = {n: {"shape": l.shape, "ranks": l.ranks, "alpha": l.alpha, "lora_rank": ranks[n]} for n, l in layers.items()}
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})
    (folder / "adapter_config.json").write_text(json.dumps(config, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    # provenance beside (not inside) the PEFT config, which warns about unknown keys
    (folder / PROVENANCE_NAME).write_text(json.dumps(provenance, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    return folder
