"""Core initialisation: zero start is exactly the base model, Gaussian is the paper's TT-SVD start,
both deterministic per seed and independent of the global RNG."""

from __future__ import annotations

import math

import pytest
import torch

import ttlora_core
from ttlora_core import TTLoRAConfig, apply_ttlora
from ttlora_core.core_init import KAIMING_GAIN, init_cores, tt_svd
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


@pytest.mark.parametrize("init", ["zero", "gaussian"])
def test_apply_never_touches_the_global_rng(init: str, tiny_model) -> None:
    model = tiny_model("bert")
    state = torch.get_rng_state()
    apply_ttlora(model, TTLoRAConfig(cores=4, init=init, seed=5))
    assert torch.equal(torch.get_rng_state(), state)
    again = apply_ttlora(tiny_model("bert"), TTLoRAConfig(cores=4, init=init, seed=5))
    for a, b in zip(ttlora_core.ttlora_layers(model).values(), ttlora_core.ttlora_layers(again).values()):
        assert all(torch.equal(x, y) for x, y in zip(a.cores, b.cores))
