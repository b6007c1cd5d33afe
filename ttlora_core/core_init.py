"""Initial values of the TT cores, drawn from a private ``torch.Generator`` (never the global RNG).

* ``"zero"``: ΔW = 0 exactly (the wrapped model's outputs equal the base model's), like LoRA's
  B = 0: the first core is zero, the others are i.i.d. Gaussian scaled so the contraction of
  cores 2..d has entries of std 1/sqrt(in), the scale LoRA gives its A matrix. At step 0 only the
  first core receives a gradient (e.g. 8 x 8 = 64 values for [8,6,8,8,6,8] at rank 8).
* ``"zero_largest"``: ΔW = 0 as well, but the zero core is the one with the most values (the first
  such), so the first step trains the largest core; the others are scaled as for ``"zero"``.
* ``"gaussian"`` (the paper's non-zero start): the research code draws a random matrix with the
  Kaiming-uniform(a=sqrt(8)) scale, reshapes it to the TT shape and TT-SVD-truncates it to the
  ranks; the cores are the truncated factors. We do the same with a Gaussian matrix of the same
  std. The truncation keeps only a few per cent of the matrix's norm (about 8 % for MiniLM's
  [8,6,8,8,6,8] at rank 5), so the initial alpha * ΔW is small but not zero.
* ``"unit_norm"`` (the authors' later code): every core uniform, then divided by its Frobenius
  norm; ΔW is not zero and every core receives a gradient at step 0.

The start is a searched row (``search.init``, vocab/searched_params.py); the default ``"gaussian"``
is the one the measurement in docs/ARCHITECTURE.md ("Core init", 3 seeds on SST-2) chose: both
non-zero starts beat ``"zero"`` on every seed, ``"gaussian"`` with the lower validation loss.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from .config import INIT_CHOICES

KAIMING_GAIN = math.sqrt(2.0 / (1.0 + 8.0))  # kaiming_uniform_(a=sqrt(8)) in the research code


def tt_svd(tensor: Tensor, shape: Sequence[int], ranks: Sequence[int], generator: torch.Generator | None) -> list[Tensor]:
    """Truncated TT-SVD of ``tensor`` (any shape with prod == prod(shape)) to the full rank list ``ranks``.

    Where an unfolding has lower rank than asked for, the missing columns are filled with small
    Gaussian values and the matching rows of the remainder with zeros: the product is unchanged and
    every core entry still receives gradient after the first update.
    """
    cores: list[Tensor] = []
    rest = tensor.reshape(1, -1)  # (r_0, k_1 * ... * k_d)
    for i, k in enumerate(shape[:-1]):
        r_prev, r_next = ranks[i], ranks[i + 1]
        unfolding = rest.reshape(r_prev * k, -1)  # (r_{i-1} k_i, k_{i+1} ... k_d)
        u, s, vh = torch.linalg.svd(unfolding, full_matrices=False)
        kept = min(r_next, s.numel())
        u_part = u[:, :kept]  # (r_{i-1} k_i, kept)
        rest = s[:kept, None] * vh[:kept]  # (kept, remaining)
        if kept < r_next:
            pad = torch.randn(u.shape[0], r_next - kept, generator=generator, dtype=u.dtype) / math.sqrt(u.shape[0])
            u_part = torch.cat([u_part, pad], dim=1)  # (r_{i-1} k_i, r_i)
            rest = torch.cat([rest, rest.new_zeros(r_next - kept, rest.shape[1])], dim=0)  # (r_i, remaining)
        cores.append(u_part.reshape(r_prev, k, r_next).contiguous())
    cores.append(rest.reshape(ranks[-2], shape[-1], 1).contiguous())
    return cores


def zero_start_core_std(ranks: Sequence[int], in_features: int, index: int, zero_index: int = 0) -> float:
    """Std of core ``index`` != ``zero_index`` so that the pieces left and right of the zero core,
    contracted, have entries of std about 1/sqrt(in): each core's variance is divided by the bond it
    sums over inside its piece (left bond left of the zero core, right bond right of it)."""
    d = len(ranks) - 1
    bond = ranks[index] if index < zero_index else ranks[index + 1]
    return math.sqrt(in_features ** (-1.0 / (d - 1)) / bond)


def largest_core(shape: Sequence[int], ranks: Sequence[int]) -> int:
    """Index of the core with the most values r_{i-1} * k_i * r_i (the first of equals)."""
    sizes = [ranks[i] * k * ranks[i + 1] for i, k in enumerate(shape)]
    return sizes.index(max(sizes))


def zero_start(shape: Sequence[int], ranks: Sequence[int], in_features: int, zero_index: int,
               generator: torch.Generator | None) -> list[Tensor]:
    """Core ``zero_index`` zero (so ΔW = 0), the others Gaussian with ``zero_start_core_std``; the
    draws run from the first core to the last, skipping the zero one."""
    cores = []
    for i, k in enumerate(shape):
        if i == zero_index:
            cores.append(torch.zeros(ranks[i], k, ranks[i + 1]))  # (r_{i-1}, k_i, r_i)
            continue
        core = torch.randn(ranks[i], k, ranks[i + 1], generator=generator, dtype=torch.float32)
        cores.append(core * zero_start_core_std(ranks, in_features, i, zero_index))
    return cores


def unit_norm_start(shape: Sequence[int], ranks: Sequence[int], generator: torch.Generator | None) -> list[Tensor]:
    """Every core uniform on [-1, 1), divided by its Frobenius norm."""
    cores = []
    for i, k in enumerate(shape):
        core = torch.rand(ranks[i], k, ranks[i + 1], generator=generator, dtype=torch.float32) * 2 - 1  # (r_{i-1}, k_i, r_i)
        cores.append(core / core.norm())
    return cores


def init_cores(
    shape: Sequence[int],
    ranks: Sequence[int],
    out_features: int,
    in_features: int,
    method: str,
    generator: torch.Generator | None,
    device: torch.device | str | None = None,
) -> list[Tensor]:
    """Float32 cores (r_{i-1}, k_i, r_i) for ``method`` (one of ``INIT_CHOICES``, see module doc).

    Values are drawn on the CPU from ``generator`` and then moved to ``device``; on the meta device
    nothing is drawn.
    """
    if device is not None and torch.device(device).type == "meta":
        return [torch.empty((ranks[i], k, ranks[i + 1]), dtype=torch.float32, device="meta") for i, k in enumerate(shape)]
    if method == "gaussian":
        std = KAIMING_GAIN / math.sqrt(in_features)
        matrix = torch.randn(out_features, in_features, generator=generator, dtype=torch.float32) * std  # (out, in)
        cores = tt_svd(matrix, shape, ranks, generator)
    elif method == "zero":
        cores = zero_start(shape, ranks, in_features, 0, generator)
    elif method == "zero_largest":
        cores = zero_start(shape, ranks, in_features, largest_core(shape, ranks), generator)
    elif method == "unit_norm":
        cores = unit_norm_start(shape, ranks, generator)
    else:
        raise ValueError(f"init: expected one of {', '.join(INIT_CHOICES)}, got {method!r}")
    return [core.to(device) for core in cores] if device is not None else cores
