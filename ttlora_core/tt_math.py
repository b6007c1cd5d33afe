"""Tensor-train contractions for any core count (no per-count einsum): torch tensors. The integer side
(shapes, split points, parameter counts, no torch) is ``tt_arithmetic.py``.

Core i has shape (r_{i-1}, k_i, r_i). ΔW (out, in) is the row-major reshape of the full
contraction, so contracting a prefix of cores gives row factors and a suffix gives column
factors:

* split point s (prod k_1..k_s == out): ΔW = P @ S, P = (out, r_s), S = (r_s, in)  [exact]
* no split point: the cores that straddle the row/column boundary form one block; ΔW is still
  an exact product P @ S, with inner size min(r_{s0} * u, v * r_{s1}) (see :class:`BlockPlan`;
  the factors are built in :mod:`ttlora_core.block_linear`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor


def left_chain(cores: Sequence[Tensor]) -> Tensor:
    """Contract cores left to right into a (prod k, r_last) matrix (row-major over the k's)."""
    first = cores[0]
    acc = first.reshape(first.shape[0] * first.shape[1], first.shape[2])  # (r0*k1, r1), r0 == 1 at the left end
    for core in cores[1:]:
        r_prev, k, r_next = core.shape
        acc = (acc @ core.reshape(r_prev, k * r_next)).reshape(-1, r_next)  # (K*k, r_next)
    return acc


def right_chain(cores: Sequence[Tensor]) -> Tensor:
    """Contract cores right to left into an (r_first, prod k) matrix (row-major over the k's)."""
    last = cores[-1]
    acc = last.reshape(last.shape[0], last.shape[1] * last.shape[2])  # (r_prev, k*r_d), r_d == 1 at the right end
    for core in reversed(cores[:-1]):
        r_prev, k, r_next = core.shape
        acc = (core.reshape(r_prev * k, r_next) @ acc).reshape(r_prev, -1)  # (r_prev, k*K)
    return acc


def reconstruct(cores: Sequence[Tensor], out_features: int, in_features: int) -> Tensor:
    """Dense ΔW (out, in): the reference every fast path is tested against."""
    return left_chain(cores).reshape(out_features, in_features)  # (out*in, 1) -> (out, in) row-major


def split_factors(cores: Sequence[Tensor], split: int) -> tuple[Tensor, Tensor]:
    """ΔW = P @ S at split point ``split``: P (out, r_s) from the first cores, S (r_s, in) from the rest."""
    return left_chain(cores[:split]), right_chain(cores[split:])


@dataclass(frozen=True)
class BlockPlan:
    """How a shape without a split point divides into row cores, one straddling block, column cores.

    ``s0``: the last prefix boundary whose product p divides ``out``; ``s1``: the first boundary whose
    product is a multiple of ``out``. Cores s0..s1-1 form the block, whose combined index (size
    u*v, row-major) splits into u rows (out = p_{s0} * u) and v columns (in = v * q_{s1}).
    ``inner`` = min(r_{s0}*u, v*r_{s1}) is the rank of the exact factorisation ΔW = P @ S.
    """

    s0: int
    s1: int
    u: int
    v: int
    inner: int
    absorb_rows: bool  # True: inner index is (r_{s0}, u) (P block-diagonal); False: (v, r_{s1}) (S block-diagonal)


def block_plan(shape: Sequence[int], ranks: Sequence[int], out_features: int) -> BlockPlan:
    """The straddling block of ``shape`` for a layer with ``out_features`` rows (see :class:`BlockPlan`)."""
    prefix = [1]
    for k in shape:
        prefix.append(prefix[-1] * k)
    s1 = next(t for t in range(len(prefix)) if prefix[t] % out_features == 0)
    s0 = max(t for t in range(s1) if out_features % prefix[t] == 0) if s1 > 0 else 0
    u = out_features // prefix[s0]
    v = (prefix[s1] // prefix[s0]) // u
    rows_inner, cols_inner = ranks[s0] * u, v * ranks[s1]
    return BlockPlan(s0, s1, u, v, min(rows_inner, cols_inner), rows_inner <= cols_inner)


def left_chain_open(cores: Sequence[Tensor]) -> Tensor:
    """Contract consecutive cores into one (r_first, prod k, r_last) block."""
    r_first = cores[0].shape[0]
    acc = cores[0].reshape(r_first * cores[0].shape[1], cores[0].shape[2])  # (r_first*k, r)
    for core in cores[1:]:
        r_prev, k, r_next = core.shape
        acc = (acc @ core.reshape(r_prev, k * r_next)).reshape(-1, r_next)  # (r_first*K*k, r_next)
    return acc.reshape(r_first, -1, acc.shape[-1])  # (r_first, K, r_last)


class FusedLowRankLinear(torch.autograd.Function):
    """y = x @ W0.T + b + alpha * (x @ S.T) @ P.T with a frozen W0 / b.

    Saves only x and u = x @ S.T (T x inner) as activations (plus references to W0, P, S that
    exist anyway), and adds the adapter output into the base output in place (no extra (T, out)
    buffer). Gradients flow to x, P and S; W0 and b must not require grad.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, p_factor: Tensor, s_factor: Tensor, alpha: float) -> Tensor:  # type: ignore[override]
        out_features, in_features = weight.shape
        x2 = x.reshape(-1, in_features)  # (..., in) -> (T, in)
        y = torch.nn.functional.linear(x2, weight, bias)  # (T, out)
        u = x2 @ s_factor.t()  # (T, inner)
        p_t = p_factor.t().contiguous()  # (inner, out): skinny GEMMs are several times faster with this layout
        y.addmm_(u, p_t, alpha=alpha)  # (T, out) += alpha * (T, inner) @ (inner, out)
        ctx.save_for_backward(x2, u, weight, p_t, s_factor)
        ctx.alpha = alpha
        ctx.x_shape = x.shape
        return y.reshape(*x.shape[:-1], out_features)  # (T, out) -> (..., out)

    @staticmethod
    def backward(ctx, grad_y: Tensor):  # type: ignore[override]
        x2, u, weight, p_t, s_factor = ctx.saved_tensors
        alpha = ctx.alpha
        g = grad_y.reshape(-1, weight.shape[0])  # (..., out) -> (T, out)
        # (inner, out) @ (out, T): the fast layout for a rank-r product with g (measured: ~5x vs g @ P)
        grad_u_t = (p_t @ g.t()).mul_(alpha)  # (inner, T) = (alpha * g @ P).T
        grad_x = grad_p = grad_s = None
        if ctx.needs_input_grad[0]:
            grad_x = (g @ weight).addmm_(grad_u_t.t(), s_factor).reshape(ctx.x_shape)  # (T, in) -> (..., in)
        if ctx.needs_input_grad[3]:
            grad_p = (u.t() @ g).mul_(alpha).t()  # (inner, T) @ (T, out) -> (out, inner) view
        if ctx.needs_input_grad[4]:
            grad_s = grad_u_t @ x2  # (inner, T) @ (T, in) -> (inner, in)
        return grad_x, None, None, grad_p, grad_s, None
