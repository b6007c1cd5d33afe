"""Core initialisation: zero start is exactly the base model, Gaussian is the paper's TT-SVD start,
both deterministic per seed and independent of the global RNG."""

from __future__ import annotations

import math

import pytest
import torch

import ttlora_core
from ttlora_core import TTLoRAConfig, apply_ttlora
from ttlora_core.core_init import KAIMING_GAIN, init_cores, largest_core, tt_svd
from ttlora_core.tt_math import reconstruct, right_chain


def test_tt_svd_is_exact_at_full_rank_and_pads_low_rank_unfoldings() -> None:
    generator = torch.Generator().manual_seed(0)
    matrix = torch.randn(12, 10, generator=generator, dtype=torch.float64)
    shape, full = [3, 4, 2, 5], [1, 3, 10, 5, 1]  # ranks of the unfoldings: 3, 10 (12x10), 5
    cores = tt_svd(matrix, shape, full, generator)
    assert torch.allclose(reconstruct(cores, 12, 10), matrix, atol=1e-10)
    padded = tt_svd(matrix, shape, [1, 6, 12, 7, 1], generator)  # asks for more than the unfoldings have
    assert [tuple(c.shape) for c in padded] == [(1, 3, 6), (6, 4, 12), (12, 2, 7), (7, 5, 1)]
    assert torch.allclose(reconstruct(padded, 12, 10), matrix, atol=1e-10)
    assert all(c.abs().sum() > 0 for c in padded)


def test_gaussian_init_is_non_zero_small_and_seeded() -> None:
    shape, ranks = [8, 6, 8, 8, 6, 8], [1, 5, 5, 5, 5, 5, 1]
    first = init_cores(shape, ranks, 384, 384, "gaussian", torch.Generator().manual_seed(3))
    again = init_cores(shape, ranks, 384, 384, "gaussian", torch.Generator().manual_seed(3))
    other = init_cores(shape, ranks, 384, 384, "gaussian", torch.Generator().manual_seed(4))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])
    delta_std = reconstruct(first, 384, 384).std().item()
    kaiming_std = KAIMING_GAIN / math.sqrt(384)
    assert 0.01 * kaiming_std < delta_std < 0.3 * kaiming_std  # truncation keeps a few per cent of the norm


def test_zero_init_has_zero_delta_but_live_gradients() -> None:
    torch.manual_seed(0)
    base = torch.nn.Linear(64, 48)
    layer = ttlora_core.TTLoRALinear(base, [6, 8, 8, 8], 3, alpha=8.0, init="zero", generator=torch.Generator().manual_seed(0))
    assert torch.count_nonzero(layer.delta_weight()) == 0
    x = torch.randn(5, 64)
    assert torch.equal(layer(x), base(x))
    layer(x).pow(2).sum().backward()
    assert layer.cores[0].grad.abs().sum() > 0
    right = right_chain([c.detach() for c in layer.cores[1:]])  # (r1, 8*8*8)
    assert 0.5 / math.sqrt(64) < right.std().item() < 2.0 / math.sqrt(64)


@pytest.mark.parametrize("init", ["zero", "zero_largest", "gaussian", "unit_norm"])
def test_apply_never_touches_the_global_rng(init: str, tiny_model) -> None:
    model = tiny_model("bert")
    state = torch.get_rng_state()
    apply_ttlora(model, TTLoRAConfig(cores=4, init=init, seed=5))
    assert torch.equal(torch.get_rng_state(), state)
    again = apply_ttlora(tiny_model("bert"), TTLoRAConfig(cores=4, init=init, seed=5))
    for a, b in zip(ttlora_core.ttlora_layers(model).values(), ttlora_core.ttlora_layers(again).values()):
        assert all(torch.equal(x, y) for x, y in zip(a.cores, b.cores))


def test_zero_largest_zeroes_the_largest_core_and_only_it_learns_at_step_zero() -> None:
    shape, ranks = [8, 6, 8, 8, 6, 8], [1, 4, 4, 4, 4, 4, 1]
    assert largest_core(shape, ranks) == 2  # 4 x 8 x 4 = 128 values, the first of the two largest
    base = torch.nn.Linear(384, 384)
    layer = ttlora_core.TTLoRALinear(base, shape, ranks, alpha=8.0, init="zero_largest",
                                     generator=torch.Generator().manual_seed(0))
    assert torch.count_nonzero(layer.delta_weight()) == 0
    assert torch.count_nonzero(layer.cores[2]) == 0 and all(torch.count_nonzero(c) == c.numel()
                                                             for i, c in enumerate(layer.cores) if i != 2)
    x = torch.randn(5, 384)
    assert torch.equal(layer(x), base(x))
    layer(x).pow(2).sum().backward()
    with_gradient = [i for i, core in enumerate(layer.cores) if core.grad is not None and core.grad.abs().sum() > 0]
    assert with_gradient == [2]  # the first step trains 128 values per matrix, not the first core's 32


def test_zero_start_on_the_first_core_is_unchanged_by_the_generalisation() -> None:
    """``zero`` draws what it drew before ``zero_largest`` existed: cores 2..d in order, same stds."""
    shape, ranks = [6, 8, 8, 8], [1, 3, 3, 3, 1]
    generator = torch.Generator().manual_seed(7)
    expected = [torch.randn(ranks[i], k, ranks[i + 1], generator=generator) * math.sqrt(64 ** (-1 / 3) / ranks[i + 1])
                for i, k in enumerate(shape) if i > 0]
    cores = init_cores(shape, ranks, 48, 64, "zero", torch.Generator().manual_seed(7))
    assert torch.count_nonzero(cores[0]) == 0
    assert all(torch.allclose(a, b) for a, b in zip(cores[1:], expected))


def test_unit_norm_cores_each_have_norm_one_and_all_learn() -> None:
    shape, ranks = [8, 6, 8, 8, 6, 8], [1, 5, 5, 5, 5, 5, 1]
    cores = init_cores(shape, ranks, 384, 384, "unit_norm", torch.Generator().manual_seed(1))
    assert all(abs(core.norm().item() - 1.0) < 1e-5 for core in cores)
    layer = ttlora_core.TTLoRALinear(torch.nn.Linear(384, 384), shape, 5, alpha=8.0, init="unit_norm",
                                     generator=torch.Generator().manual_seed(1))
    assert torch.count_nonzero(layer.delta_weight()) > 0
    layer(torch.randn(3, 384)).pow(2).sum().backward()
    assert all(core.grad.abs().sum() > 0 for core in layer.cores)


def test_an_unknown_start_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="zero, zero_largest, gaussian, unit_norm"):
        init_cores([4, 4], [1, 2, 1], 4, 4, "ones", None)
    with pytest.raises(ValueError, match="TTLoRAConfig.init"):
        TTLoRAConfig(init="ones")
