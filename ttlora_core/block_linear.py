"""The "block" forward for shapes without a split point, contracted without the Kronecker zeros.

For such shapes :func:`ttlora_core.tt_math.block_factors` gives exact factors ΔW = P @ S, but one of
them is a Kronecker product with an identity (mostly zeros):

* ``absorb_rows``: P = kron(L, I_u), L (p, r0) from the row cores; S (r0*u, in) dense.
* otherwise:       S = kron(I_v, R), R (r1, q) from the column cores; P (out, v*r1) dense.

Multiplying by the dense kron costs u (or v) times the FLOPs needed: for RoBERTa's [64, 16, 9, 64] on
768x768, u = 12. Here the kron side is applied as a batched matmul of the small factor instead
(``L @ u.view(T, r0, u)``), inside one autograd function that, like ``FusedLowRankLinear``, saves
only x and the (T, inner) intermediate and adds into the base output in place.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional

from .tt_math import left_chain, left_chain_open, right_chain


def block_factors_structured(cores: list[Tensor], s0: int, s1: int, u: int, v: int, absorb_rows: bool
                             ) -> tuple[Tensor, Tensor]:
    """(L, S) when ``absorb_rows`` (P = kron(L, I_u)), else (P, R) (S = kron(I_v, R)); float32 like the cores."""
    ref = cores[0]
    one = torch.ones(1, 1, dtype=ref.dtype, device=ref.device)
    left = left_chain(cores[:s0]) if s0 > 0 else one  # (p, r0)
    right = right_chain(cores[s1:]) if s1 < len(cores) else one  # (r1, q)
    block = left_chain_open(cores[s0:s1])  # (r0, u*v, r1)
    r0, _, r1 = block.shape
    if absorb_rows:
        s_factor = (block.reshape(r0 * u * v, r1) @ right).reshape(r0 * u, v * right.shape[1])  # (r0*u, in)
        return left, s_factor
    p_factor = (left @ block.reshape(r0, u * v * r1)).reshape(left.shape[0] * u, v * r1)  # (out, v*r1)
    return p_factor, right


class FusedRowBlockLinear(torch.autograd.Function):
    """y = x W0^T + b + alpha * kron(L, I_u) (S x), with L (p, r0), S (r0*u, in); W0, b frozen."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, left: Tensor, s_factor: Tensor,  # type: ignore[override]
                alpha: float, u: int) -> Tensor:
        out_features, in_features = weight.shape
        x2 = x.reshape(-1, in_features)  # (..., in) -> (T, in)
        y = functional.linear(x2, weight, bias)  # (T, out)
        inner = x2 @ s_factor.t()  # (T, r0*u)
        t, r0 = x2.shape[0], left.shape[1]
        delta = torch.matmul(left, inner.view(t, r0, u))  # (p, r0) @ (T, r0, u) -> (T, p, u)
        y.add_(delta.reshape(t, out_features), alpha=alpha)  # (T, p*u) = (T, out), rows ordered (a, i)
        ctx.save_for_backward(x2, inner, weight, left, s_factor)
        ctx.alpha, ctx.u, ctx.x_shape = alpha, u, x.shape
        return y.reshape(*x.shape[:-1], out_features)  # (T, out) -> (..., out)

    @staticmethod
    def backward(ctx, grad_y: Tensor):  # type: ignore[override]
        x2, inner, weight, left, s_factor = ctx.saved_tensors
        alpha, u = ctx.alpha, ctx.u
        t, (p, r0) = x2.shape[0], left.shape
        g = grad_y.reshape(t, weight.shape[0])  # (..., out) -> (T, out)
        g3 = g.view(t, p, u)  # (T, p, u)
        grad_inner = torch.matmul(left.t(), g3).mul_(alpha).reshape(t, r0 * u)  # (r0, p) @ (T, p, u) -> (T, r0*u)
        grad_x = grad_left = grad_s = None
        if ctx.needs_input_grad[0]:
            grad_x = (g @ weight).addmm_(grad_inner, s_factor).reshape(ctx.x_shape)  # (T, in) -> (..., in)
        if ctx.needs_input_grad[3]:
            # sum over tokens and i of g3[t, a, i] * inner3[t, r, i]: (p, T*u) @ (T*u, r0)
            grad_left = (g3.permute(1, 0, 2).reshape(p, t * u) @ inner.view(t, r0, u).permute(0, 2, 1).reshape(t * u, r0)
                         ).mul_(alpha)  # (p, r0)
        if ctx.needs_input_grad[4]:
            grad_s = grad_inner.t() @ x2  # (r0*u, T) @ (T, in) -> (r0*u, in)
        return grad_x, None, None, grad_left, grad_s, None, None


class FusedColumnBlockLinear(torch.autograd.Function):
    """y = x W0^T + b + alpha * P (kron(I_v, R) x), with P (out, v*r1), R (r1, q); W0, b frozen."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, p_factor: Tensor, right: Tensor,  # type: ignore[override]
                alpha: float, v: int) -> Tensor:
        out_features, in_features = weight.shape
        x2 = x.reshape(-1, in_features)  # (..., in) -> (T, in)
        y = functional.linear(x2, weight, bias)  # (T, out)
        t, (r1, q) = x2.shape[0], right.shape
        inner = torch.matmul(x2.view(t, v, q), right.t()).reshape(t, v * r1)  # (T, v, q) @ (q, r1) -> (T, v*r1)
        y.addmm_(inner, p_factor.t(), alpha=alpha)  # (T, out) += alpha * (T, v*r1) @ (v*r1, out)
        ctx.save_for_backward(x2, inner, weight, p_factor, right)
        ctx.alpha, ctx.v, ctx.x_shape = alpha, v, x.shape
        return y.reshape(*x.shape[:-1], out_features)  # (T, out) -> (..., out)

    @staticmethod
    def backward(ctx, grad_y: Tensor):  # type: ignore[override]
        x2, inner, weight, p_factor, right = ctx.saved_tensors
        alpha, v = ctx.alpha, ctx.v
        t, (r1, q) = x2.shape[0], right.shape
        g = grad_y.reshape(t, weight.shape[0])  # (..., out) -> (T, out)
        grad_inner = (g @ p_factor).mul_(alpha)  # (T, v*r1)
        grad_x = grad_p = grad_right = None
        if ctx.needs_input_grad[0]:
            through = torch.matmul(grad_inner.view(t, v, r1), right).reshape(t, v * q)  # (T, v, r1) @ (r1, q) -> (T, in)
            grad_x = (g @ weight).add_(through).reshape(ctx.x_shape)  # (T, in) -> (..., in)
        if ctx.needs_input_grad[3]:
            grad_p = (g.t() @ inner).mul_(alpha)  # (out, T) @ (T, v*r1) -> (out, v*r1)
        if ctx.needs_input_grad[4]:
            # sum over tokens and j of grad_inner3[t, j, b] * x3[t, j, c]: (r1, T*v) @ (T*v, q)
            grad_right = grad_inner.view(t * v, r1).t() @ x2.reshape(t * v, q)  # (r1, q)
        return grad_x, None, None, grad_p, grad_right, None, None
