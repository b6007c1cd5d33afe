"""Confirmed figures from finalists' scores over seeds: the table (means, sd, 95 % half widths), the
headline on confirmed means in words, and the error bars of the Figure-5 view."""
from __future__ import annotations

import math

import pytest

from analysis import columns as col
from analysis.confirmation import SeedSummary, best_baseline, verdict_lines
from analysis.confirmed import confirmed_headline, confirmed_table
from analysis.figures import CONFIRMED_META, pareto_figure
from tests.analysis.test_analysis_figures import trials_table

SEEDS = [1, 2, 3]


def summary(finalist: str, method: str, params: float, val: list[float], test: list[float]) -> SeedSummary:
    return SeedSummary(finalist, method, params, SEEDS, val, test)


LORA = summary("lora_8", "lora", 73_728, [0.80, 0.82, 0.81], [0.78, 0.80, 0.79])
TT_CLOSE = summary("tt_small", "ttlora", 6_144, [0.80, 0.81, 0.805], [0.775, 0.795, 0.788])
TT_BIG = summary("tt_big", "ttlora", 8_448, [0.815, 0.815, 0.815], [0.79, 0.80, 0.79])
TT_FAR = summary("tt_far", "ttlora", 6_144, [0.70, 0.72, 0.71], [0.60, 0.70, 0.65])


def test_table_has_means_spreads_and_t_intervals_highest_mean_val_first() -> None:
    table = confirmed_table([LORA, TT_CLOSE, TT_BIG])
    assert list(table[col.TRIAL_ID]) == ["tt_big", "lora_8", "tt_small"]
    row = table.set_index(col.TRIAL_ID).loc["lora_8"]
    assert row["val_mean"] == pytest.approx(0.81) and row["val_sd"] == pytest.approx(0.01)
    assert row["val_half95"] == pytest.approx(4.302653 * 0.01 / math.sqrt(3), rel=1e-5)  # t(0.975, 2 df)
    assert row["seeds"] == 3


def test_headline_names_the_smallest_ttlora_within_a_point_and_says_whether_it_is_within_noise() -> None:
    text = confirmed_headline([LORA, TT_CLOSE, TT_BIG], "accuracy")
    assert "Confirmed over 3 seeds" in text and "trial tt_small (6,144 params, 12.0x fewer than LoRA lora_8" in text
    # per-seed test differences -0.5, -0.5, -0.2 points: the interval lies above -1
    assert "test difference -0.40 points" in text and "within 1 point" in text


def test_headline_when_no_ttlora_finalist_is_within_a_point() -> None:
    text = confirmed_headline([LORA, TT_FAR], "accuracy")
    assert "no TT-LoRA finalist is within 1 point" in text and "trial tt_far" in text
    assert "more than 1 point below" in text  # -18, -10, -14 points
    assert confirmed_headline([TT_FAR], "accuracy") == ""  # nothing to compare with


def test_headline_and_every_verdict_compare_with_the_baseline_of_highest_mean_val_score() -> None:
    """One rule for "best baseline": the highest mean val score, never the held-out one. LoRA r=1 has the
    higher mean test score here, LoRA r=8 the higher mean val score: both texts name r=8."""
    lora_1 = summary("lora_1", "lora", 9_216, [0.79, 0.80, 0.80], [0.83, 0.84, 0.84])
    assert best_baseline([LORA, lora_1, TT_CLOSE]) is LORA
    lines = verdict_lines([lora_1, TT_CLOSE, LORA])
    assert len(lines) == 1 and "vs LoRA lora_8 (73,728)" in lines[0]
    headline = confirmed_headline([lora_1, TT_CLOSE, LORA], "accuracy")
    assert "fewer than LoRA lora_8" in headline and "vs LoRA lora_8" in headline
    tied = summary("lora_8_twin", "lora", 147_456, LORA.val_scores, LORA.test_scores)
    assert best_baseline([tied, LORA]) is LORA  # tie on mean val: the smaller adapter
    assert best_baseline([TT_CLOSE]) is None and verdict_lines([TT_CLOSE]) == []


def test_figure_draws_error_bars_only_on_the_axes_the_confirmation_measured() -> None:
    trials = trials_table([{col.TRIAL_ID: "tt_small", col.CORES: 6, col.ALPHA: 8.0, col.TTLORA_PARAMS: 6_144,
                            col.BEST_SCORE: 0.80, col.BEST_TEST_SCORE: 0.79}])
    table = confirmed_table([LORA, TT_CLOSE])
    figure = pareto_figure(trials, "accuracy", col.ADAPTER_PARAMS, col.BEST_SCORE, confirmed=table)
    confirmed = [trace for trace in figure.data if trace.meta == CONFIRMED_META]
    assert len(confirmed) == 1 and list(confirmed[0].x) == [73_728, 6_144]
    assert list(confirmed[0].error_y.array) == pytest.approx(list(table["val_sd"]))
    assert list(confirmed[0].y) == pytest.approx(list(table["val_mean"]))
    loss_axis = pareto_figure(trials, "accuracy", col.ADAPTER_PARAMS, col.BEST_VAL_LOSS, confirmed=table)
    assert not [t for t in loss_axis.data if t.meta == CONFIRMED_META]
    other_cost = pareto_figure(trials, "accuracy", col.TTLORA_PARAMS, col.BEST_SCORE, confirmed=table)
    assert not [t for t in other_cost.data if t.meta == CONFIRMED_META]


def test_report_section_holds_the_table_the_headline_and_each_verdict() -> None:
    from analysis.report import CONFIRMED_HEADLINE_ID, CONFIRMED_TABLE_ID, confirmed_section

    page = confirmed_section([LORA, TT_CLOSE, TT_FAR], "accuracy")
    assert f'id="{CONFIRMED_HEADLINE_ID}"' in page and f'id="{CONFIRMED_TABLE_ID}"' in page
    assert "0.8100 ± 0.0100 (95 %: ±0.0248)" in page  # LoRA's val: mean ± sd (t half width)
    assert page.count('class="note confirmed-verdict"') == 2  # one per TT-LoRA finalist
    assert "tt_far" in page and "more than 1 point below" in page


def test_ls_best_among_equal_val_scores_is_the_smaller_adapter_the_front_holds() -> None:
    """Two trials tie on val accuracy (small validation sets do): ls names the smaller, which is the
    front's member and so the one whose held-out score was scored after the search."""
    from analysis.pareto import best_trial

    trials = trials_table([
        {col.TRIAL_ID: "big", col.CORES: 4, col.ALPHA: 8.0, col.TTLORA_PARAMS: 29_184, col.BEST_SCORE: 0.75},
        {col.TRIAL_ID: "small", col.CORES: 4, col.ALPHA: 8.0, col.TTLORA_PARAMS: 8_448, col.BEST_SCORE: 0.75},
        {col.TRIAL_ID: "worse", col.CORES: 4, col.ALPHA: 8.0, col.TTLORA_PARAMS: 528, col.BEST_SCORE: 0.70},
    ])
    assert best_trial(trials, col.BEST_SCORE)[col.TRIAL_ID] == "small"
