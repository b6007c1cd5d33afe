"""Shape arithmetic: factorisation, split points, rank lists, validation messages, closed-form counts."""

from __future__ import annotations

import math

import pytest

from ttlora_core import ShapeError, TTLoRAConfig
from ttlora_core.core_init import init_cores
from ttlora_core.model_plan import resolve_shape
from ttlora_core.tt_arithmetic import full_ranks, propose_shape, split_index, tt_param_count


def _prime_factor_count(n: int) -> int:
    """Prime factors of ``n`` counted with multiplicity (96 = 2^5 * 3: 6)."""
    count, divisor = 0, 2
    while n > 1:
        while n % divisor == 0:
            n, count = n // divisor, count + 1
        divisor += 1
    return count


@pytest.mark.parametrize("out_in", [(768, 768), (2304, 768), (384, 384), (1024, 4096), (4096, 4096), (48, 144), (96, 50)])
@pytest.mark.parametrize("cores", [2, 3, 4, 6, 8, 12])
def test_propose_shape_factors_exactly_with_a_split_point(out_in: tuple[int, int], cores: int) -> None:
    out_f, in_f = out_in
    try:
        shape = propose_shape(out_f, in_f, cores)
    except ShapeError as err:  # only when out and in together have fewer prime factors than cores
        assert _prime_factor_count(out_f) + _prime_factor_count(in_f) < cores, err  # 96x50: 2^5*3 x 2*5^2, 9
        assert f"into {cores} cores" in str(err) and "prime factors" in str(err)
        return
    assert len(shape) == cores and math.prod(shape) == out_f * in_f
    assert all(k >= 2 for k in shape)
    s = split_index(shape, out_f)
    assert s is not None and math.prod(shape[:s]) == out_f


def test_propose_shape_is_balanced() -> None:
    assert propose_shape(768, 768, 6) == [12, 8, 8, 8, 8, 12]
    assert propose_shape(4096, 4096, 6) == [16] * 6
    assert sorted(propose_shape(384, 384, 6)) == [6, 6, 8, 8, 8, 8]


def test_propose_shape_errors_name_sizes_and_limit() -> None:
    with pytest.raises(ShapeError, match=r"\(7, 5\) matrix into 3 cores.*2 prime factors"):
        propose_shape(7, 5, 3)
    with pytest.raises(ShapeError, match="cores"):
        propose_shape(8, 8, 1)


def test_split_index() -> None:
    assert split_index([12, 8, 8, 3, 8, 8, 12], 768) == 3
    assert split_index([12, 8, 8, 3, 8, 8, 12], 2304) == 4
    assert split_index([64, 16, 9, 64], 768) is None  # the paper's RoBERTa shape: 64, 1024, ...
    assert split_index([16] * 6, 4096) == 3


def test_full_ranks_forms_and_errors() -> None:
    assert full_ranks(5, 4) == [1, 5, 5, 5, 1]
    assert full_ranks([2, 3, 4], 4) == [1, 2, 3, 4, 1]
    assert full_ranks([1, 2, 3, 4, 1], 4) == [1, 2, 3, 4, 1]
    with pytest.raises(ShapeError, match="3 inner ranks or 5"):
        full_ranks([2, 3], 4)
    with pytest.raises(ShapeError, match="starts and ends with 1"):
        full_ranks([2, 2, 3, 4, 1], 4)


@pytest.mark.parametrize(
    ("shape", "rank", "expected"),
    [
        ([12, 8, 8, 3, 8, 8, 12], 5, 995),  # docs/ARCHITECTURE.md worked counts (the paper's text says 1,135)
        ([64, 36, 12, 64], 5, 1840),
        ([64, 16, 9, 64], 4, 912),
        ([16] * 6, 5, 1760),
        ([16, 4, 4, 4, 2, 2, 2, 2, 4, 4, 4, 16], 10, 3520),
    ],
)
def test_worked_numbers_from_design_notes(shape: list[int], rank: int, expected: int) -> None:
    assert tt_param_count(shape, rank) == expected


@pytest.mark.parametrize("rank", [1, 3, [2, 7, 3, 5]])
def test_closed_form_matches_built_cores(rank: int | list[int]) -> None:
    shape = [4, 6, 5, 3, 8]
    ranks = full_ranks(rank, len(shape))
    cores = init_cores(shape, ranks, 24, 120, "gaussian", None)
    assert tt_param_count(shape, rank) == sum(core.numel() for core in cores)


def test_resolve_shape_error_quotes_target_features_shape_and_product() -> None:
    config = TTLoRAConfig(shape=[8, 6, 8, 8, 6, 8])
    with pytest.raises(ShapeError) as info:
        resolve_shape(config, "layer.0.value", 384, 1536)
    message = str(info.value)
    for fragment in ("'layer.0.value'", "(384, 1536)", "[8, 6, 8, 8, 6, 8]", "147456", str(384 * 1536)):
        assert fragment in message


def test_resolve_shape_rank_list_must_fit_core_count() -> None:
    config = TTLoRAConfig(shape=[8, 6, 8, 8, 6, 8], rank=[4, 4, 4])
    with pytest.raises(ShapeError, match=r"'q' with shape \[8, 6, 8, 8, 6, 8\].*5 inner ranks"):
        resolve_shape(config, "q", 384, 384)


def test_resolve_shape_mapping_longest_suffix_wins_and_missing_key_is_an_error() -> None:
    config = TTLoRAConfig(shape={"q_proj": "auto", "v_proj": [4, 4, 8, 8], "layers.1.self_attn.v_proj": [2, 8, 8, 8]}, cores=4)
    assert resolve_shape(config, "model.layers.0.self_attn.v_proj", 16, 64) == [4, 4, 8, 8]
    assert resolve_shape(config, "model.layers.1.self_attn.v_proj", 16, 64) == [2, 8, 8, 8]
    assert resolve_shape(config, "model.layers.0.self_attn.q_proj", 64, 64) == propose_shape(64, 64, 4)
    with pytest.raises(ShapeError, match=r"'encoder.query' matches no key.*\['layers.1.self_attn.v_proj', 'q_proj', 'v_proj'\]"):
        resolve_shape(config, "encoder.query", 64, 64)


def test_resolve_auto_error_names_target() -> None:
    config = TTLoRAConfig(cores=12)
    with pytest.raises(ShapeError, match=r"target 'tiny' \(6, 6\)"):
        resolve_shape(config, "tiny", 6, 6)
