"""Float32 master weights for the modules trained in full (task head, saved modules) of a bf16/fp16 model.

An AdamW step of lr 1e-5 on a bf16 weight of size ~0.02 is below bf16's resolution and rounds to
nothing, so the head of a bf16 LLaMA would never learn. The fix, as for the TT cores (which are
float32 whatever the base dtype): such a module's parameters are held in float32, its floating inputs
are cast to float32 on the way in and its floating outputs back to the input dtype on the way out, so
the rest of the model still runs in bf16 and the optimizer updates float32 values. The module's
compute runs in float32 (a head or pooler is a few matmuls of hidden size: negligible).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

LOW_PRECISION = (torch.float16, torch.bfloat16)
_INPUT_DTYPE_ATTR = "_ttlora_input_dtype"


def _cast_floats(value: Any, dtype: torch.dtype) -> Any:
    if torch.is_tensor(value):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, (tuple, list)):
        return type(value)(_cast_floats(v, dtype) for v in value)
    return value


def _inputs_to_float32(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    floating = [a for a in (*args, *kwargs.values()) if torch.is_tensor(a) and a.is_floating_point()]
    module.__dict__[_INPUT_DTYPE_ATTR] = floating[0].dtype if floating else None
    return _cast_floats(args, torch.float32), {k: _cast_floats(v, torch.float32) for k, v in kwargs.items()}


def _outputs_to_input_dtype(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
    dtype = module.__dict__.get(_INPUT_DTYPE_ATTR)
    return output if dtype in (None, torch.float32) else _cast_floats(output, dtype)


@dataclass
class Float32Masters:
    """What :func:`keep_float32_masters` changed, so :func:`restore_dtypes` can undo it."""

    original_dtypes: dict[str, torch.dtype] = field(default_factory=dict)  # parameter name -> dtype before
    handles: list[Any] = field(default_factory=list)


def keep_float32_masters(model: nn.Module, module_names: list[str]) -> Float32Masters:
    """Hold every low-precision parameter of the named modules in float32 and run them in float32."""
    masters = Float32Masters()
    for name in module_names:
        module = model.get_submodule(name)
        low = {pname: p for pname, p in module.named_parameters() if p.dtype in LOW_PRECISION}
        if not low:
            continue
        for pname, param in low.items():
            masters.original_dtypes[f"{name}.{pname}"] = param.dtype
            param.data = param.data.float()  # same Parameter object: optimizers built later see float32
        masters.handles.append(module.register_forward_pre_hook(_inputs_to_float32, with_kwargs=True))
        masters.handles.append(module.register_forward_hook(_outputs_to_input_dtype, with_kwargs=True))
    return masters


def restore_dtypes(model: nn.Module, masters: Float32Masters) -> None:
    """Remove the hooks and give each parameter its dtype from before (values rounded once)."""
    for handle in masters.handles:
        handle.remove()
    with torch.no_grad():
        for pname, dtype in masters.original_dtypes.items():
            param = model.get_parameter(pname)
            param.data = param.data.to(dtype)
    masters.handles.clear()
    masters.original_dtypes.clear()
