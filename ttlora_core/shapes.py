"""Tensor-train shapes: factorisation, split points, validation and closed-form counts.

Everything except :func:`find_target_modules` / :func:`plan_counts` (which walk a model's module
tree, meta-device models included) is plain integer arithmetic: no tensors are built, so a
7B-parameter plan costs microseconds.

Conventions (design.md §2): W0 and ΔW are (out, in); ΔW is reshaped row-major to ``[k1..kd]``
with ``prod(k) == out * in``; core i is (r_{i-1}, k_i, r_i) with r_0 = r_d = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

from torch import nn

from .config import TTLoRAConfig
from .targets import find_target_modules, head_module_names, suffix_matches

__all__ = [
    "ShapeError",
    "prime_factors",
    "balanced_factors",
    "propose_shape",
    "split_index",
    "full_ranks",
    "tt_param_count",
    "resolve_shape",
    "find_target_modules",
    "MatrixPlan",
    "PlanCounts",
    "plan_counts",
]


class ShapeError(ValueError):
    """A TT shape or rank list that does not fit a target layer."""


def prime_factors(n: int) -> list[int]:
    """Prime factors of ``n`` with multiplicity, largest first (``prime_factors(12) == [3, 2, 2]``)."""
    if n < 1:
        raise ShapeError(f"cannot factor {n}: expected a positive integer")
    factors: list[int] = []
    p = 2
    while p * p <= n:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    if n > 1:
        factors.append(n)
    return sorted(factors, reverse=True)


def balanced_factors(n: int, parts: int) -> list[int] | None:
    """Split ``n`` into ``parts`` factors >= 2 as evenly as possible, largest first; None if impossible.

    Greedy: each prime, largest first, goes to the currently smallest factor (LPT scheduling on logs).
    """
    primes = prime_factors(n) if n > 1 else []
    if parts < 1 or len(primes) < parts:
        return None
    bins = [1] * parts
    for p in primes:
        smallest = min(range(parts), key=lambda i: bins[i])
        bins[smallest] *= p
    return sorted(bins, reverse=True)


def propose_shape(out_features: int, in_features: int, cores: int) -> list[int]:
    """A balanced ``cores``-core shape for an (out, in) matrix that always has a split point.

    The first cores factor ``out``, the rest ``in``, so ``split_index(shape, out)`` is not None and
    the fast LoRA-like path applies. Among all out/in core splits the one with the smallest largest
    factor wins (then the smallest sum). Large factors go to the two end cores, whose size is only
    r*k instead of r*r*k.
    """
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 2:
        raise ShapeError(f"cores: expected an integer >= 2, got {cores!r}")
    best: tuple[tuple[int, int], list[int]] | None = None
    for out_parts in range(1, cores):
        out_f = balanced_factors(out_features, out_parts)
        in_f = balanced_factors(in_features, cores - out_parts)
        if out_f is None or in_f is None:
            continue
        shape = out_f + sorted(in_f)  # out factors descending, in factors ascending
        score = (max(shape), sum(shape))
        if best is None or score < best[0]:
            best = (score, shape)
    if best is None:
        limit = len(prime_factors(out_features)) + len(prime_factors(in_features))
        raise ShapeError(
            f"cannot factor a ({out_features}, {in_features}) matrix into {cores} cores >= 2 with a split point: "
            f"{out_features} x {in_features} has {limit} prime factors, so at most {limit} cores (and >= 1 per side)"
        )
    return best[1]


def split_index(shape: list[int], out_features: int) -> int | None:
    """The s in 1..d-1 with ``prod(shape[:s]) == out_features`` (ΔW = P @ S there), else None."""
    prefix = 1
    for s, k in enumerate(shape[:-1], start=1):
        prefix *= k
        if prefix == out_features:
            return s
        if prefix > out_features:
            return None
    return None


def full_ranks(rank: int | list[int], n_cores: int) -> list[int]:
    """The full rank list ``[1, r1, ..., r_{d-1}, 1]`` (length ``n_cores + 1``).

    ``rank`` is an int (the same inner rank everywhere), the full list, or the ``n_cores - 1`` inner ranks.
    """
    if n_cores < 2:
        raise ShapeError(f"a TT shape needs at least 2 cores, got {n_cores}")
    if isinstance(rank, bool):
        raise ShapeError(f"rank: expected an integer or a list of integers, got {rank!r}")
    if isinstance(rank, int):
        if rank < 1:
            raise ShapeError(f"rank: expected >= 1, got {rank}")
        return [1] + [rank] * (n_cores - 1) + [1]
    ranks = [int(r) for r in rank]
    if any(r < 1 for r in ranks):
        raise ShapeError(f"rank: every entry must be >= 1, got {ranks}")
    if len(ranks) == n_cores - 1:
        return [1] + ranks + [1]
    if len(ranks) == n_cores + 1:
        if ranks[0] != 1 or ranks[-1] != 1:
            raise ShapeError(f"rank: a full rank list starts and ends with 1, got {ranks}")
        return ranks
    raise ShapeError(
        f"rank: a list for {n_cores} cores needs {n_cores - 1} inner ranks or {n_cores + 1} with the 1s at both ends, "
        f"got {len(ranks)}: {ranks}"
    )


def tt_param_count(shape: list[int], ranks: list[int] | int) -> int:
    """Closed-form core parameter count: sum over i of r_{i-1} * k_i * r_i."""
    full = full_ranks(ranks, len(shape))
    return sum(full[i] * k * full[i + 1] for i, k in enumerate(shape))


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
    if raw == "auto":
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
    at ``dtype_bytes`` per value; ``head_params``: parameters of the trainable task head (0 when
    ``train_head`` is false or the model has none).
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
    head = 0
    if config.train_head:
        seen: set[int] = set()
        for head_name in head_module_names(model):
            for param in model.get_submodule(head_name).parameters():
                if id(param) not in seen:
                    seen.add(id(param))
                    head += param.numel()
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
