"""Initial values of the TT cores, drawn from a private ``torch.Generator`` (never the global RNG).

* ``"gaussian"`` (the paper's non-zero start): the research code draws a random matrix with the
  Kaiming-uniform(a=sqrt(8)) scale, reshapes it to the TT shape and TT-SVD-truncates it to the
  ranks; the cores are the truncated factors. We do the same with a Gaussian matrix of the same
  std. The truncation keeps only a few per cent of the matrix's norm (about 8 % for MiniLM's
  [8,6,8,8,6,8] at rank 5), so the initial alpha * ΔW is small but not zero.
* ``"zero"``: ΔW = 0 exactly (the wrapped model's outputs equal the base model's), like LoRA's
  B = 0: the first core is zero, the others are i.i.d. Gaussian scaled so the contraction of
  cores 2..d has entries of std 1/sqrt(in), the scale LoRA gives its A matrix.

Default ``"zero"``, chosen by ``benchmarks/compare_init.py`` (MiniLM, query+value, [8,6,8,8,6,8],
rank 5, alpha 8, lr 5e-3, one epoch, same seeds): SST-2 (2,000-example subset, 4 seeds) dev
accuracy 0.739 zero vs 0.733 Gaussian, with the lower final training loss in 4 of 4 seeds; MRPC
(full train, 2 seeds) 0.703 vs 0.694. The gap is within seed noise; zero also starts exactly at
the base model, which makes every trial's first evaluation the base model's.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

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


def zero_start_core_std(ranks: Sequence[int], in_features: int, index: int) -> float:
    """Std of core ``index`` >= 1 so that cores 2..d contracted have entries of std 1/sqrt(in)."""
    d = len(ranks) - 1
    return math.sqrt(in_features ** (-1.0 / (d - 1)) / ranks[index + 1])


def init_cores(
    shape: Sequence[int],
    ranks: Sequence[int],
    out_features: int,
    in_features: int,
    method: str,
    generator: torch.Generator | None,
    device: torch.device | str | None = None,
) -> list[Tensor]:
    """Float32 cores (r_{i-1}, k_i, r_i) for ``method`` ``"gaussian"`` or ``"zero"`` (see module doc).

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
        cores = [torch.zeros(ranks[0], shape[0], ranks[1])]
        for i in range(1, len(shape)):
            core = torch.randn(ranks[i], shape[i], ranks[i + 1], generator=generator, dtype=torch.float32)
            cores.append(core * zero_start_core_std(ranks, in_features, i))
    else:
        raise ValueError(f"init: expected 'zero' or 'gaussian', got {method!r}")
    return [core.to(device) for core in cores] if device is not None else cores
