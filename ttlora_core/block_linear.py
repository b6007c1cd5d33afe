"""Shapes without a split point: ΔW through three small factors, no dense ΔW, no Kronecker zeros.

Without a split point the cores split into row cores (a prefix whose product p divides ``out``), one
straddling block (cores s0..s1-1, index of size u*v: u rows, v columns) and column cores (product q,
``in = v * q``; :class:`ttlora_core.tt_math.BlockPlan`). Then exactly

    ΔW = kron(L, I_u) @ M @ kron(I_v, R)

with L (p, r0) the row chain, R (r1, q) the column chain and M (u*r0, v*r1) the block, rows ordered
(i, r) and columns (j, b). Training runs x through R and M as small GEMMs,

    a = x.view(T*v, q) @ R^T  -> (T, v*r1);  m = a @ M^T -> (T, u*r0)

then through the row side: either d = m.view(T*u, r0) @ L^T added into the (T, p, u) view of the
output through a strided view, or, when u*r0 is small, one GEMM with the dense kron(L, I_u) (no
strided pass). One autograd function saves only x, a and m (T x ~60 at rank 5), like the split path's
``FusedLowRankLinear``. :func:`block_factors` gives the two exact dense factors (merge, PEFT export).
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional

from .tt_math import BlockPlan, left_chain, left_chain_open, right_chain

# Up to this inner size (u * r0) the row side runs faster as one dense (T, u*r0) x (u*r0, out) GEMM than
# as the transposed small GEMM (measured on CPU, 768x768 [64,16,9,64] at 1,024 tokens: rank 5 (60):
# dense rows 1.29x the frozen layer vs 1.39x; rank 16 (192): 1.80x vs 1.54x). benchmarks/bench_layer.py.
DENSE_ROWS_MAX_INNER = 96


def block_three_factors(cores: list[Tensor], plan: BlockPlan) -> tuple[Tensor, Tensor, Tensor]:
    """(L (p, r0), M (u*r0, v*r1), R (r1, q)) with ΔW = kron(L, I_u) @ M @ kron(I_v, R); float32 like the cores."""
    ref = cores[0]
    one = torch.ones(1, 1, dtype=ref.dtype, device=ref.device)
    left = left_chain(cores[:plan.s0]) if plan.s0 > 0 else one  # (p, r0)
    right = right_chain(cores[plan.s1:]) if plan.s1 < len(cores) else one  # (r1, q)
    block = left_chain_open(cores[plan.s0:plan.s1])  # (r0, u*v, r1)
    r0, _, r1 = block.shape
    middle = block.reshape(r0, plan.u, plan.v, r1).permute(1, 0, 2, 3).reshape(plan.u * r0, plan.v * r1)  # rows (i, r)
    return left, middle, right


def dense_rows(left: Tensor, u: int) -> Tensor:
    """kron(L, I_u) with columns ordered (i, r) like M's rows: (p*u, u*r0)."""
    p, r0 = left.shape
    eye = torch.eye(u, dtype=left.dtype, device=left.device)
    # P[(a, i), (i', r)] = L[a, r] * [i == i']: (p, 1, 1, r0) * (1, u, u, 1) -> (p, u, u, r0) -> (p*u, u*r0)
    return (left[:, None, None, :] * eye[None, :, :, None]).reshape(p * u, u * r0)


def dense_columns(right: Tensor, v: int) -> Tensor:
    """kron(I_v, R): (v*r1, v*q), rows (j, b) like M's columns."""
    return torch.kron(torch.eye(v, dtype=right.dtype, device=right.device), right.contiguous())


def block_factors(cores: list[Tensor], plan: BlockPlan) -> tuple[Tensor, Tensor]:
    """Exact dense factors P (out, inner), S (inner, in) of ΔW, inner = ``plan.inner``: M is folded into
    the side whose inner size is larger, the other side stays a Kronecker product."""
    left, middle, right = block_three_factors(cores, plan)
    r1, q = right.shape
    if plan.absorb_rows:  # inner (i, r): P = kron(L, I_u); S = M @ kron(I_v, R)
        s_factor = (middle.reshape(-1, plan.v, r1) @ right).reshape(middle.shape[0], plan.v * q)  # (u*r0, in)
        return dense_rows(left, plan.u), s_factor
    return dense_rows(left, plan.u) @ middle, dense_columns(right, plan.v)  # (out, v*r1), (v*r1, in)


class FusedBlockLinear(torch.autograd.Function):
    """y = x W0^T + b + alpha * kron(L, I_u) M kron(I_v, R) x; W0, b frozen.

    ``row_factor`` is L (p, r0) applied with a strided add, or with ``rows_dense`` the dense
    :func:`dense_rows` (out, u*r0) applied as one GEMM."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, row_factor: Tensor, middle: Tensor,  # type: ignore[override]
                right: Tensor, alpha: float, u: int, v: int, rows_dense: bool) -> Tensor:
        out_features, in_features = weight.shape
        x2 = x.reshape(-1, in_features)  # (..., in) -> (T, in)
        y = functional.linear(x2, weight, bias)  # (T, out)
        t, (r1, q) = x2.shape[0], right.shape
        a = (x2.reshape(t * v, q) @ right.t()).view(t, v * r1)  # (T*v, q) @ (q, r1) -> (T, v*r1)
        m = a @ middle.t()  # (T, v*r1) @ (v*r1, u*r0) -> (T, u*r0)
        if rows_dense:
            row_factor = row_factor.t().contiguous()  # (u*r0, out): the fast layout for skinny GEMMs
            y.addmm_(m, row_factor, alpha=alpha)  # (T, out) += alpha * (T, u*r0) @ (u*r0, out)
        else:
            p, r0 = row_factor.shape
            d = m.view(t * u, r0) @ row_factor.t()  # (T*u, r0) @ (r0, p) -> (T*u, p)
            y.view(t, p, u).add_(d.view(t, u, p).transpose(1, 2), alpha=alpha)  # output rows are (a, i)
        ctx.save_for_backward(x2, a, m, weight, row_factor, middle, right)
        ctx.alpha, ctx.u, ctx.v, ctx.rows_dense, ctx.x_shape = alpha, u, v, rows_dense, x.shape
        return y.reshape(*x.shape[:-1], out_features)  # (T, out) -> (..., out)

    @staticmethod
    def backward(ctx, grad_y: Tensor):  # type: ignore[override]
        x2, a, m, weight, row_factor, middle, right = ctx.saved_tensors
        alpha, u, v = ctx.alpha, ctx.u, ctx.v
        t, (r1, q) = x2.shape[0], right.shape
        g = grad_y.reshape(t, weight.shape[0]).contiguous()  # (..., out) -> (T, out)
        if ctx.rows_dense:  # row_factor: P^T (u*r0, out)
            grad_m = (row_factor @ g.t()).mul_(alpha).t()  # (u*r0, out) @ (out, T) -> (T, u*r0) view
            grad_rows = (m.t() @ g).mul_(alpha).t() if ctx.needs_input_grad[3] else None  # (out, u*r0) view
        else:  # row_factor: L (p, r0)
            p, r0 = row_factor.shape
            g_iu = g.view(t, p, u).transpose(1, 2).reshape(t * u, p)  # (T, p, u) -> (T*u, p), one copy
            grad_m = (g_iu @ (alpha * row_factor)).view(t, u * r0)  # (T*u, p) @ (p, r0) -> (T, u*r0)
            grad_rows = (g_iu.t() @ m.view(t * u, r0)).mul_(alpha) if ctx.needs_input_grad[3] else None  # (p, r0)
        grad_a = grad_m @ middle  # (T, u*r0) @ (u*r0, v*r1) -> (T, v*r1)
        grad_x = grad_middle = grad_right = None
        if ctx.needs_input_grad[0]:
            grad_x = g @ weight  # (T, in)
            grad_x.view(t * v, q).addmm_(grad_a.view(t * v, r1), right)  # += (T*v, r1) @ (r1, q), in place
            grad_x = grad_x.reshape(ctx.x_shape)  # (T, in) -> (..., in)
        if ctx.needs_input_grad[4]:
            grad_middle = grad_m.t() @ a  # (u*r0, T) @ (T, v*r1) -> (u*r0, v*r1)
        if ctx.needs_input_grad[5]:
            grad_right = grad_a.view(t * v, r1).t() @ x2.reshape(t * v, q)  # (r1, T*v) @ (T*v, q) -> (r1, q)
        return grad_x, None, None, grad_rows, grad_middle, grad_right, None, None, None, None
