"""Model-level planning: resolve each target's TT shape against the model and count the adapter.

Walks a model's module tree only (no parameters are read), so it works on meta-device models:
``ttsearch plan`` counts a 7B model's adapter without loading weights. The integer arithmetic it
uses is :mod:`ttlora_core.tt_arithmetic`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

from torch import nn

from .config import TTLoRAConfig
from .targets import count_head_parameters, find_target_modules, saved_module_names, suffix_matches
from .tt_arithmetic import AUTO_SHAPE, ShapeError, full_ranks, propose_shape, split_index, tt_param_count

__all__ = ["resolve_shape", "MatrixPlan", "PlanCounts", "plan_counts"]


def _raw_shape(config: TTLoRAConfig, target_name: str) -> list[int] | str:
    """The shape ``config`` gives ``target_name`` before checking it against the layer."""
    if not isinstance(config.shape, dict):
        return config.shape
    keys = [key for key in config.shape if suffix_matches(target_name, key)]
    if not keys:
        raise ShapeError(
            f"shape: target {target_name!r} matches no key of the shape mapping {sorted(config.shape)}; "
            "add a key for it (a suffix such as 'v_proj', or 'auto')"
        )
    return config.shape[max(keys, key=len)]  # longest (most specific) suffix wins


def resolve_shape(config: TTLoRAConfig, target_name: str, out_features: int, in_features: int) -> list[int]:
    """The validated TT shape for one target layer (and a check that ``config.rank`` fits it)."""
    raw = _raw_shape(config, target_name)
    if raw == AUTO_SHAPE:
        try:
            shape = propose_shape(out_features, in_features, config.cores)
        except ShapeError as err:
            raise ShapeError(f"target {target_name!r} ({out_features}, {in_features}): {err}") from None
    else:
        shape = list(raw)
        product = math.prod(shape)
        if product != out_features * in_features:
            raise ShapeError(
                f"target {target_name!r} has (out, in) = ({out_features}, {in_features}), so prod(shape) must be "
                f"{out_features * in_features}; shape {shape} has product {product}"
            )
    try:
        full_ranks(config.rank, len(shape))
    except ShapeError as err:
        raise ShapeError(f"target {target_name!r} with shape {shape}: {err}") from None
    return shape


class MatrixPlan(NamedTuple):
    """One target's resolved shape, full rank list and core parameter count."""

    shape: list[int]
    ranks: list[int]
    params: int


@dataclass
class PlanCounts:
    """Closed-form adapter size of a model, computed without building cores.

    ``per_matrix``: module name -> (shape, ranks, params); ``features``: name -> (out, in);
    ``split``: name -> split index s or None (None = no split point: slower path, no exact LoRA
    export at rank r_s); ``total_params``: sum of core parameters; ``storage_bytes``: core bytes
    at ``dtype_bytes`` per value; ``head_params``: parameters trained in full (the task head and
    any ``modules_to_save``, e.g. DeBERTa's pooler; 0 when there are none).
    """

    per_matrix: dict[str, MatrixPlan]
    features: dict[str, tuple[int, int]]
    split: dict[str, int | None]
    total_params: int
    storage_bytes: int
    dtype_bytes: int
    head_params: int = 0
    without_split: list[str] = field(default_factory=list)


def plan_counts(model: nn.Module, config: TTLoRAConfig, dtype_bytes: int = 2) -> PlanCounts:
    """Resolve every target of ``model`` and count adapter parameters (works on meta-device models)."""
    if isinstance(dtype_bytes, bool) or not isinstance(dtype_bytes, int) or dtype_bytes < 1:
        raise ValueError(f"dtype_bytes: expected a positive integer, got {dtype_bytes!r}")
    features = find_target_modules(model, config)
    per_matrix: dict[str, MatrixPlan] = {}
    split: dict[str, int | None] = {}
    for name, (out_f, in_f) in features.items():
        shape = resolve_shape(config, name, out_f, in_f)
        ranks = full_ranks(config.rank, len(shape))
        per_matrix[name] = MatrixPlan(shape, ranks, tt_param_count(shape, ranks))
        split[name] = split_index(shape, out_f)
    total = sum(plan.params for plan in per_matrix.values())
    head = count_head_parameters(model, saved_module_names(model, config))
    return PlanCounts(
        per_matrix=per_matrix,
        features=features,
        split=split,
        total_params=total,
        storage_bytes=total * dtype_bytes,
        dtype_bytes=dtype_bytes,
        head_params=head,
        without_split=[name for name, s in split.items() if s is None],
    )
