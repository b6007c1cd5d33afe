"""The "block" forward for shapes without a split point: three small factors, no dense ΔW, no kron zeros.

Without a split point the cores split into row cores (a prefix whose product p divides ``out``), one
straddling block (cores s0..s1-1, index of size u*v: u rows, v columns) and column cores (product q,
``in = v * q``). Then exactly

    ΔW = kron(L, I_u) @ M @ kron(I_v, R)

with L (p, r0) the row chain, R (r1, q) the column chain and M (u*r0, v*r1) the block, rows ordered
(i, r) and columns (j, b). The dense exact factors of :func:`ttlora_core.tt_math.block_factors` carry
one of the two Kronecker products, u or v times the FLOPs needed (RoBERTa's [64, 16, 9, 64] on
768x768: u = v = 12). Here x goes through R, M and L one small GEMM at a time:

    a = x.view(T*v, q) @ R^T  -> (T, v*r1);  m = a @ M^T -> (T, u*r0);  d = m.view(T*u, r0) @ L^T

and d is added into the (T, p, u) view of the output through a strided view (no copy). One autograd
function saves only x, a and m (T x ~60 at rank 5), like the split path's ``FusedLowRankLinear``.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional

from .tt_math import left_chain, left_chain_open, right_chain


def block_three_factors(cores: list[Tensor], s0: int, s1: int, u: int, v: int) -> tuple[Tensor, Tensor, Tensor]:
    """(L (p, r0), M (u*r0, v*r1), R (r1, q)) with ΔW = kron(L, I_u) @ M @ kron(I_v, R); float32 like the cores."""
    ref = cores[0]
    one = torch.ones(1, 1, dtype=ref.dtype, device=ref.device)
    left = left_chain(cores[:s0]) if s0 > 0 else one  # (p, r0)
    right = right_chain(cores[s1:]) if s1 < len(cores) else one  # (r1, q)
    block = left_chain_open(cores[s0:s1])  # (r0, u*v, r1)
    r0, _, r1 = block.shape
    middle = block.reshape(r0, u, v, r1).permute(1, 0, 2, 3).reshape(u * r0, v * r1)  # rows (i, r), cols (j, b)
    return left, middle, right


class FusedBlockLinear(torch.autograd.Function):
    """y = x W0^T + b + alpha * kron(L, I_u) M kron(I_v, R) x; W0, b frozen."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, left: Tensor, middle: Tensor,  # type: ignore[override]
                right: Tensor, alpha: float, u: int, v: int) -> Tensor:
        out_features, in_features = weight.shape
        x2 = x.reshape(-1, in_features)  # (..., in) -> (T, in)
        y = functional.linear(x2, weight, bias)  # (T, out)
        t, (p, r0), (r1, q) = x2.shape[0], left.shape, right.shape
        a = (x2.reshape(t * v, q) @ right.t()).view(t, v * r1)  # (T*v, q) @ (q, r1) -> (T, v*r1)
        m = a @ middle.t()  # (T, v*r1) @ (v*r1, u*r0) -> (T, u*r0)
        d = m.view(t * u, r0) @ left.t()  # (T*u, r0) @ (r0, p) -> (T*u, p)
        y.view(t, p, u).add_(d.view(t, u, p).transpose(1, 2), alpha=alpha)  # output rows are (a, i)
        ctx.save_for_backward(x2, a, m, weight, left, middle, right)
        ctx.alpha, ctx.u, ctx.v, ctx.x_shape = alpha, u, v, x.shape
        return y.reshape(*x.shape[:-1], out_features)  # (T, out) -> (..., out)

    @staticmethod
    def backward(ctx, grad_y: Tensor):  # type: ignore[override]
        x2, a, m, weight, left, middle, right = ctx.saved_tensors
        alpha, u, v = ctx.alpha, ctx.u, ctx.v
        t, (p, r0), (r1, q) = x2.shape[0], left.shape, right.shape
        g = grad_y.reshape(t, weight.shape[0]).contiguous()  # (..., out) -> (T, out)
        g_iu = g.view(t, p, u).transpose(1, 2).reshape(t * u, p)  # (T, p, u) -> (T*u, p), one copy
        grad_m = (g_iu @ (alpha * left)).view(t, u * r0)  # (T*u, p) @ (p, r0) -> (T, u*r0); alpha on the small side
        grad_a = grad_m @ middle  # (T, u*r0) @ (u*r0, v*r1) -> (T, v*r1)
        grad_x = grad_left = grad_middle = grad_right = None
        if ctx.needs_input_grad[0]:
            grad_x = g @ weight  # (T, in)
            grad_x.view(t * v, q).addmm_(grad_a.view(t * v, r1), right)  # += (T*v, r1) @ (r1, q), in place
            grad_x = grad_x.reshape(ctx.x_shape)  # (T, in) -> (..., in)
        if ctx.needs_input_grad[3]:
            grad_left = (g_iu.t() @ m.view(t * u, r0)).mul_(alpha)  # (p, T*u) @ (T*u, r0) -> (p, r0)
        if ctx.needs_input_grad[4]:
            grad_middle = grad_m.t() @ a  # (u*r0, T) @ (T, v*r1) -> (u*r0, v*r1)
        if ctx.needs_input_grad[5]:
            grad_right = grad_a.view(t * v, r1).t() @ x2.reshape(t * v, q)  # (r1, T*v) @ (T*v, q) -> (r1, q)
        return grad_x, None, None, grad_left, grad_middle, grad_right, None, None, None


# Up to this inner size (u * r0) the row side runs faster as one dense (T, u*r0) x (u*r0, out) GEMM than
# as the transposed small GEMM (measured on CPU, 768x768 [64,16,9,64] at 1,024 tokens: rank 5 (60):
# dense rows 1.29x the frozen layer vs 1.39x; rank 16 (192): 1.80x vs 1.54x). benchmarks/bench_layer.py.
DENSE_ROWS_MAX_INNER = 96


def dense_rows(left: Tensor, u: int) -> Tensor:
    """kron(L, I_u) with columns ordered (i, r) like M's rows: (p*u, u*r0)."""
    p, r0 = left.shape
    eye = torch.eye(u, dtype=left.dtype, device=left.device)
    # P[(a, i), (i', r)] = L[a, r] * [i == i']: (p, 1, 1, r0) * (1, u, u, 1) -> (p, u, u, r0) -> (p*u, u*r0)
    return (left[:, None, None, :] * eye[None, :, :, None]).reshape(p * u, u * r0)


class FusedBlockDenseRowsLinear(torch.autograd.Function):
    """As :class:`FusedBlockLinear` with the row side given densely: y += alpha * P (M (kron(I_v, R) x)),
    P = :func:`dense_rows` (out, u*r0). No strided output pass; better when u*r0 is small."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, p_dense: Tensor, middle: Tensor,  # type: ignore[override]
                right: Tensor, alpha: float, v: int) -> Tensor:
        out_features, in_features = weight.shape
        x2 = x.reshape(-1, in_features)  # (..., in) -> (T, in)
        y = functional.linear(x2, weight, bias)  # (T, out)
        t, (r1, q) = x2.shape[0], right.shape
        a = (x2.reshape(t * v, q) @ right.t()).view(t, v * r1)  # (T*v, q) @ (q, r1) -> (T, v*r1)
        m = a @ middle.t()  # (T, v*r1) @ (v*r1, u*r0) -> (T, u*r0)
        p_t = p_dense.t().contiguous()  # (u*r0, out): the fast layout for skinny GEMMs
        y.addmm_(m, p_t, alpha=alpha)  # (T, out) += alpha * (T, u*r0) @ (u*r0, out)
        ctx.save_for_backward(x2, a, m, weight, p_t, middle, right)
        ctx.alpha, ctx.v, ctx.x_shape = alpha, v, x.shape
        return y.reshape(*x.shape[:-1], out_features)  # (T, out) -> (..., out)

    @staticmethod
    def backward(ctx, grad_y: Tensor):  # type: ignore[override]
        x2, a, m, weight, p_t, middle, right = ctx.saved_tensors
        alpha, v = ctx.alpha, ctx.v
        t, (r1, q) = x2.shape[0], right.shape
        g = grad_y.reshape(t, weight.shape[0]).contiguous()  # (..., out) -> (T, out)
        grad_m_t = (p_t @ g.t()).mul_(alpha)  # (u*r0, out) @ (out, T) -> (u*r0, T)
        grad_a = grad_m_t.t() @ middle  # (T, u*r0) @ (u*r0, v*r1) -> (T, v*r1)
        grad_x = grad_p = grad_middle = grad_right = None
        if ctx.needs_input_grad[0]:
            grad_x = g @ weight  # (T, in)
            grad_x.view(t * v, q).addmm_(grad_a.view(t * v, r1), right)  # += (T*v, r1) @ (r1, q), in place
            grad_x = grad_x.reshape(ctx.x_shape)  # (T, in) -> (..., in)
        if ctx.needs_input_grad[3]:
            grad_p = (m.t() @ g).mul_(alpha).t()  # (u*r0, T) @ (T, out) -> (out, u*r0) view
        if ctx.needs_input_grad[4]:
            grad_middle = grad_m_t @ a  # (u*r0, T) @ (T, v*r1) -> (u*r0, v*r1)
        if ctx.needs_input_grad[5]:
            grad_right = grad_a.view(t * v, r1).t() @ x2.reshape(t * v, q)  # (r1, T*v) @ (T*v, q) -> (r1, q)
        return grad_x, None, None, grad_p, grad_middle, grad_right, None, None
