"""Tensor-train integer arithmetic: factorisation, split points, shape checks and closed-form counts.

Plain integers only (no torch, no model): importable on its own, so the search schema validates a
shape with the same rules as the library, and a 7B-parameter plan costs microseconds. Model-level
planning (resolving shapes against a model's target modules) is :mod:`ttlora_core.model_plan`.

Conventions (docs/ARCHITECTURE.md, "The method"): W0 and ΔW are (out, in); ΔW is reshaped row-major
to ``[k1..kd]`` with ``prod(k) == out * in``; core i is (r_{i-1}, k_i, r_i) with r_0 = r_d = 1.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ShapeError",
    "AUTO_SHAPE",
    "check_shape_value",
    "prime_factors",
    "balanced_factors",
    "propose_shape",
    "split_index",
    "full_ranks",
    "tt_param_count",
]

AUTO_SHAPE = "auto"  # shape setting: a balanced factorisation with a split point (propose_shape)

ShapeValue = Any  # list[int] | dict[str, list[int] | "auto"] | "auto"


class ShapeError(ValueError):
    """A TT shape or rank list that is malformed or does not fit a target layer."""


def _check_dims(value: Any, where: str) -> list[int]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ShapeError(f"{where}: expected a non-empty list of integers, got {value!r}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            raise ShapeError(f"{where}: every entry must be an integer >= 1, got {item!r} in {list(value)!r}")
    if len(value) < 2:
        raise ShapeError(f"{where}: needs at least 2 cores, got {list(value)!r}")
    return [int(k) for k in value]


def check_shape_value(value: Any, where: str = "shape") -> ShapeValue:
    """The one structural check of a shape setting, before any model is seen; returns a normalised copy.

    Accepted: ``"auto"``; a list of at least 2 integers >= 1; a non-empty mapping target suffix ->
    (such a list or ``"auto"``). Raises :class:`ShapeError` whose message starts with ``where``.
    Products against a layer's ``out * in`` are checked later (``model_plan.resolve_shape``)."""
    if isinstance(value, str):
        if value != AUTO_SHAPE:
            raise ShapeError(f"{where}: expected 'auto', a list or a mapping, got {value!r}")
        return AUTO_SHAPE
    if isinstance(value, dict):
        if not value:
            raise ShapeError(f"{where}: the mapping target -> shape is empty")
        checked: dict[str, list[int] | str] = {}
        for key, dims in value.items():
            if not isinstance(key, str) or not key:
                raise ShapeError(f"{where}: mapping keys must be target suffixes, got {key!r}")
            checked[key] = AUTO_SHAPE if dims == AUTO_SHAPE else _check_dims(dims, f"{where}[{key!r}]")
        return checked
    return _check_dims(value, where)


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
