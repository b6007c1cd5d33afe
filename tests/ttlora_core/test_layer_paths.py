"""Every forward path of TTLoRALinear against the dense reference x @ (W0 + alpha * ΔW).T + b.

Shapes with and without a split point for 2..12 cores, several ranks and batch shapes:
<= 1e-5 relative error in float32, torch.autograd.gradcheck in float64.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call

from ttlora_core import TTLoRALinear
from ttlora_core.tt_arithmetic import full_ranks, split_index
from ttlora_core.tt_math import block_plan


def shapes_for(cores: int) -> dict[str, tuple[int, int, list[int]]]:
    """(out, in, shape) with and without a split point for ``cores`` cores (factors 2 and 3).

    out = 2^(a-1) * 3 ends its factors with the 3; swapping that 3 with the next 2 moves a prime
    across the row/column boundary, so no prefix product equals out any more.
    """
    n_out, n_in = (cores + 1) // 2, cores // 2
    out_f, in_f = 2 ** (n_out - 1) * 3, 2 ** n_in
    split = [2] * (n_out - 1) + [3] + [2] * n_in
    no_split = [2] * (n_out - 1) + [2, 3] + [2] * (n_in - 1)
    assert split_index(split, out_f) == n_out and split_index(no_split, out_f) is None
    return {"split": (out_f, in_f, split), "no_split": (out_f, in_f, no_split)}


REALISTIC = {
    "768x2304 paper split": (2304, 768, [12, 8, 8, 3, 8, 8, 12]),
    "768x768 paper RoBERTa (no split)": (768, 768, [64, 16, 9, 64]),
    "48x48 no split": (48, 48, [8, 9, 4, 8]),
    "LLaMA-3 v_proj-like auto": (64, 256, [4, 4, 4, 4, 4, 4, 4]),
}


def make_layer(out_f: int, in_f: int, shape: list[int], rank, path: str, dtype=torch.float32, seed: int = 0) -> TTLoRALinear:
    torch.manual_seed(seed)
    base = nn.Linear(in_f, out_f).to(dtype)
    layer = TTLoRALinear(base, shape, rank, alpha=1.7, init="gaussian", generator=torch.Generator().manual_seed(seed), path=path)
    with torch.no_grad():  # O(1) entries so ΔW is not negligible next to W0
        for core in layer.cores:
            core.copy_(torch.randn(core.shape, generator=torch.Generator().manual_seed(seed + core.numel())) / math.sqrt(core.shape[0]))
    return layer


def reference_delta(cores: list[Tensor], out_f: int, in_f: int) -> Tensor:
    """ΔW by a different route: tensordot of all cores, then squeeze the unit end ranks."""
    full = cores[0]
    for core in cores[1:]:
        full = torch.tensordot(full, core, dims=([-1], [0]))  # (1, k1, ..., k_i, r_i)
    return full.reshape(out_f, in_f)  # (1, k1..kd, 1) -> (out, in), row-major


def reference_output(layer: TTLoRALinear, x: Tensor) -> Tensor:
    delta = reference_delta([c.double() for c in layer.cores], layer.out_features, layer.in_features)
    weight = layer.base_layer.weight.double() + layer.alpha * delta
    bias = layer.base_layer.bias.double()
    return x.double() @ weight.t() + bias


def relative_error(actual: Tensor, expected: Tensor) -> float:
    return ((actual.double() - expected).norm() / expected.norm()).item()


def test_reference_delta_matches_the_elementwise_definition() -> None:
    layer = make_layer(6, 4, [3, 2, 2, 2], 2, "dense")
    cores = [c.detach().double() for c in layer.cores]
    delta = reference_delta(cores, 6, 4)
    for flat in range(24):
        idx, rem = [], flat
        for k in reversed(layer.shape):  # row-major digits of the flat index
            idx.append(rem % k)
            rem //= k
        idx.reverse()
        chain = torch.ones(1, 1, dtype=torch.float64)
        for core, i in zip(cores, idx):
            chain = chain @ core[:, i, :]
        assert torch.allclose(delta[flat // 4, flat % 4], chain[0, 0])
    assert torch.allclose(layer.delta_weight().double(), delta, atol=1e-6)


CASES = [(d, kind) for d in range(2, 13) for kind in ("split", "no_split")]


@pytest.mark.parametrize(("cores", "kind"), CASES)
@pytest.mark.parametrize("rank", [1, 3, "varying"])
def test_fp32_paths_agree_with_dense_reference(cores: int, kind: str, rank) -> None:
    out_f, in_f, shape = shapes_for(cores)[kind]
    rank = [2 + (i % 3) for i in range(cores - 1)] if rank == "varying" else rank
    paths = ("split", "dense") if kind == "split" else ("block", "dense")
    for path in paths:
        layer = make_layer(out_f, in_f, shape, rank, path)
        for batch in [(5,), (2, 3), ()]:
            x = torch.randn(*batch, in_f)
            y = layer(x)
            assert y.shape == (*batch, out_f) and y.dtype == torch.float32
            assert relative_error(y, reference_output(layer, x)) <= 1e-5, (path, batch)


@pytest.mark.parametrize("name", list(REALISTIC))
def test_fp32_realistic_shapes_forward_and_gradients(name: str) -> None:
    out_f, in_f, shape = REALISTIC[name]
    kind_paths = ("split", "dense") if split_index(shape, out_f) is not None else ("block", "dense")
    x = torch.randn(3, 7, in_f)
    for path in kind_paths:
        layer = make_layer(out_f, in_f, shape, 4, path)
        xr = x.clone().requires_grad_(True)
        y = layer(xr)
        assert relative_error(y, reference_output(layer, x)) <= 1e-5
        weights = torch.randn(y.shape, generator=torch.Generator().manual_seed(5))
        (y * weights).sum().backward()
        # reference gradients in float64 through the independent reconstruction
        cores64 = [c.detach().double().requires_grad_(True) for c in layer.cores]
        x64 = x.double().requires_grad_(True)
        delta = reference_delta(cores64, out_f, in_f)
        y64 = x64 @ (layer.base_layer.weight.double() + layer.alpha * delta).t() + layer.base_layer.bias.double()
        (y64 * weights.double()).sum().backward()
        assert relative_error(xr.grad, x64.grad) <= 1e-5
        for core, ref in zip(layer.cores, cores64):
            assert relative_error(core.grad, ref.grad) <= 1e-4, path


@pytest.mark.parametrize(("cores", "kind"), CASES)
def test_gradcheck_fp64(cores: int, kind: str) -> None:
    out_f, in_f, shape = shapes_for(cores)[kind]
    rank = 2 if cores > 6 else [2 + (i % 2) for i in range(cores - 1)]
    paths = ("split", "dense") if kind == "split" else ("block", "dense")
    for path in paths:
        layer = make_layer(out_f, in_f, shape, rank, path, dtype=torch.float64)
        core_inputs = tuple(c.detach().double().requires_grad_(True) for c in layer.cores)
        x = torch.randn(2, in_f, dtype=torch.float64, requires_grad=True)

        def run(x: Tensor, *cores: Tensor) -> Tensor:
            return functional_call(layer, {f"cores.{i}": c for i, c in enumerate(cores)}, (x,))

        assert torch.autograd.gradcheck(run, (x, *core_inputs), eps=1e-6, atol=1e-7, rtol=1e-5), path


def test_auto_path_choice() -> None:
    assert make_layer(2304, 768, [12, 8, 8, 3, 8, 8, 12], 5, "auto").path == "split"
    roberta = make_layer(768, 768, [64, 16, 9, 64], 4, "auto")
    plan = block_plan(roberta.shape, roberta.ranks, 768)
    assert (plan.s0, plan.s1, plan.u, plan.v, plan.inner) == (1, 3, 12, 12, 48)
    assert roberta.path == "block" and roberta.factor_rank == 48
    whole = make_layer(6, 4, [8, 3], 1, "auto")  # the only block is the whole matrix: dense is cheaper
    assert whole.path == "dense"
    with pytest.raises(ValueError, match="'split' needs a split point"):
        make_layer(768, 768, [64, 16, 9, 64], 4, "split")


def test_unfrozen_base_uses_plain_autograd_and_trains_w0() -> None:
    layer = make_layer(48, 48, [8, 6, 6, 8], 3, "split")
    layer.base_layer.weight.requires_grad_(True)
    x = torch.randn(4, 48)
    y = layer(x)
    assert relative_error(y, reference_output(layer, x)) <= 1e-5
    y.sum().backward()
    assert layer.base_layer.weight.grad is not None and layer.cores[0].grad is not None


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("shape", [[12, 8, 8, 3, 8, 8, 12], [36, 64, 12, 64]])
def test_low_precision_base_keeps_float32_master_cores(dtype: torch.dtype, shape: list[int]) -> None:
    layer = make_layer(2304, 768, shape, 4, "auto", dtype=dtype)
    assert all(core.dtype == torch.float32 for core in layer.cores)
    x = torch.randn(2, 5, 768)
    y = layer(x.to(dtype))
    assert y.dtype == dtype
    assert relative_error(y, reference_output(layer, x.to(dtype))) <= 2e-2
    y.float().pow(2).mean().backward()
    assert all(core.grad is not None and core.grad.dtype == torch.float32 and torch.isfinite(core.grad).all() for core in layer.cores)


def test_cpu_autocast_runs_in_the_autocast_dtype() -> None:
    layer = make_layer(96, 64, [4, 4, 6, 4, 4, 4], 3, "auto")
    x = torch.randn(3, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    assert y.dtype == torch.bfloat16
    assert relative_error(y, reference_output(layer, x)) <= 2e-2


def test_conv1d_layer_matches_reference() -> None:
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(0)
    conv = Conv1D(144, 48)  # GPT-2 layout: weight (in=48, out=144)
    layer = TTLoRALinear(conv, [12, 12, 6, 8], 3, alpha=2.0, init="gaussian", generator=torch.Generator().manual_seed(0))
    x = torch.randn(2, 5, 48)
    expected = x.double() @ (conv.weight.double() + 2.0 * reference_delta([c.double() for c in layer.cores], 144, 48).t()) + conv.bias.double()
    assert relative_error(layer(x), expected) <= 1e-5
    assert full_ranks(3, 4) == layer.ranks


@pytest.mark.parametrize(("shape", "out_f", "in_f", "rank", "absorb_rows"), [
    ([8, 9, 4, 8], 48, 48, 3, True),  # the paper's RoBERTa pattern in small: P = kron(L, I_u)
    ([2, 9, 4, 8], 24, 24, [1, 2, 7, 2, 1], False),  # S = kron(I_v, R)
    ([8, 9, 4, 8], 48, 48, 17, True),  # u*r0 = 102 > DENSE_ROWS_MAX_INNER: the strided row side
])
def test_block_path_without_kron_zeros_matches_dense_and_gradcheck(shape: list[int], out_f: int, in_f: int, rank,
                                                                   absorb_rows: bool) -> None:
    base = nn.Linear(in_f, out_f).double()
    forced = "block" if rank == 17 else "auto"  # auto would pick "dense" for rank 17 (factors larger than ΔW)
    layer = TTLoRALinear(base, shape, rank, 2.0, "gaussian", torch.Generator().manual_seed(4), path=forced).double()
    assert layer.path == "block" and layer._block.absorb_rows is absorb_rows
    x = torch.randn(3, 5, in_f, dtype=torch.double)
    expected = nn.functional.linear(x, base.weight + 2.0 * reference_delta(list(layer.cores), out_f, in_f), base.bias)
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-12)
    cores = tuple(c.detach().double().requires_grad_(True) for c in layer.cores)

    def run(x_in: Tensor, *core_values: Tensor) -> Tensor:
        return functional_call(layer, {f"cores.{i}": c for i, c in enumerate(core_values)}, (x_in,))

    assert torch.autograd.gradcheck(run, (x[:1, :2].clone().requires_grad_(True), *cores))
