"""Per-method best trials and the TT-LoRA-vs-baseline headline, on small tables checked by hand."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis import columns as col
from analysis.methods_summary import (
    LABEL,
    TOP_SCORE,
    TRIALS_RUN,
    headline,
    method_bests,
    methods_text,
    ordered_methods,
    trial_methods,
)
from vocab.experiment_folder import StopReason

DONE = StopReason.MAX_EPOCHS.value
ERR = StopReason.ERROR.value


def table(rows: list[tuple]) -> pd.DataFrame:
    """rows: (trial id, method, adapter params, val score, val loss[, test score[, stop reason]])."""
    full = [(*r, *(math.nan, DONE)[len(r) - 5:]) for r in rows]
    return pd.DataFrame(full, columns=[col.TRIAL_ID, col.METHOD, col.ADAPTER_PARAMS, col.BEST_SCORE,
                                       col.BEST_VAL_LOSS, col.BEST_TEST_SCORE, col.STOP_REASON])


# By hand: best baseline = l1 (0.87; l3 ties on score with more params). Within 1 point: score >= 0.86:
# t2 (0.86, exactly one point below) and t3 (0.90); the smaller is t2, 30,000 params: 73,728 / 30,000 = 2.46.
MIXED = table([
    ("t1", "ttlora", 12_000, 0.845, 0.36, 0.83), ("t2", "ttlora", 30_000, 0.86, 0.42, 0.85),
    ("t3", "ttlora", 90_000, 0.90, 0.39), ("t4", "ttlora", 5_000, 0.99, 0.10, math.nan, ERR),
    ("t5", "ttlora", 1_000, math.nan, math.nan),
    ("l1", "lora", 73_728, 0.87, 0.38, 0.84), ("l2", "lora", 36_864, 0.83, 0.41), ("l3", "lora", 147_456, 0.87, 0.40),
    ("v1", "vera", 20_000, 0.80, 0.45),
])


def test_method_bests_one_row_per_method_in_table_order() -> None:
    bests = method_bests(MIXED)
    assert list(bests[col.METHOD]) == ["ttlora", "lora", "vera"]
    assert list(bests[LABEL]) == ["TT-LoRA", "LoRA", "VeRA"]
    assert list(bests[TRIALS_RUN]) == [5, 3, 1]
    # lowest val loss within the method; t4 (0.10) errored and is never chosen
    assert list(bests[col.TRIAL_ID]) == ["t1", "l1", "v1"]
    tt = bests.set_index(col.METHOD).loc["ttlora"]
    assert tt[col.ADAPTER_PARAMS] == 12_000 and tt[col.BEST_SCORE] == 0.845 and tt[col.BEST_TEST_SCORE] == 0.83
    assert tt[TOP_SCORE] == 0.90  # the method's highest validation score (t4's 0.99 errored)
    assert math.isnan(bests.set_index(col.METHOD).loc["vera"][col.BEST_TEST_SCORE])  # no test split: NaN


def test_method_bests_ties_go_to_fewer_params_and_nan_only_methods_stay_listed() -> None:
    frame = table([("b", "lora", 200, 0.8, 0.3), ("a", "lora", 100, 0.7, 0.3), ("c", "ttlora", 50, math.nan, math.nan)])
    bests = method_bests(frame).set_index(col.METHOD)
    assert bests.loc["lora"][col.TRIAL_ID] == "a"  # val-loss tie: fewer parameters
    assert bests.loc["ttlora"][col.TRIAL_ID] == "" and math.isnan(bests.loc["ttlora"][col.BEST_SCORE])
    assert bests.loc["ttlora"][TRIALS_RUN] == 1
    assert method_bests(frame, col.BEST_SCORE).set_index(col.METHOD).loc["lora"][col.TRIAL_ID] == "b"


def test_headline_smallest_ttlora_within_one_point() -> None:
    result = headline(MIXED, "accuracy")
    assert (result.ttlora_trial, result.baseline_trial, result.baseline_method) == ("t2", "l1", "lora")
    assert result.ratio == pytest.approx(73_728 / 30_000)
    assert result.text.startswith("smallest TT-LoRA within 1 point of the best baseline: 30,000 params, "
                                  "2.5× fewer than LoRA (73,728 params)")
    assert result.text.endswith("; val accuracy 0.86 (test 0.85), trial t2, vs 0.87 (test 0.84), trial l1 "
                                "(5 TT-LoRA trials, 3 LoRA trials)")


def test_headline_when_ttlora_beats_every_baseline() -> None:
    frame = table([("t1", "ttlora", 2_000, 0.91, 0.3), ("t2", "ttlora", 1_000, 0.86, 0.4), ("l1", "lora", 73_728, 0.85, 0.35)])
    result = headline(frame)
    assert result.ttlora_trial == "t2"  # 0.86 >= 0.85 - 0.01: the smallest qualifying TT-LoRA
    assert "1,000 params, 73.7× fewer than LoRA (73,728 params)" in result.text


def test_headline_when_the_qualifying_ttlora_is_larger() -> None:
    frame = table([("t1", "ttlora", 100_000, 0.85, 0.3), ("l1", "lora", 50_000, 0.85, 0.35)])
    assert "100,000 params, 2.0× more than LoRA (50,000 params)" in headline(frame).text


def test_headline_no_ttlora_within_one_point() -> None:
    frame = table([("t1", "ttlora", 2_000, 0.80, 0.3), ("t2", "ttlora", 9_000, 0.849, 0.4), ("l1", "lora", 73_728, 0.86, 0.35)])
    result = headline(frame, "f1")
    assert result.ttlora_trial is None and result.baseline_trial == "l1" and math.isnan(result.ratio)
    assert result.text.startswith("no TT-LoRA trial is within 1 point of the best baseline (LoRA trial l1, val f1 0.86")
    assert "the best TT-LoRA trial t2 reaches val f1 0.849 with 9,000 params" in result.text


def test_headline_without_baselines_or_without_ttlora_or_scores() -> None:
    only_tt = table([("t1", "ttlora", 2_000, 0.8, 0.3)])
    assert headline(only_tt).text.startswith("no baseline in this experiment")
    assert headline(only_tt.drop(columns=[col.METHOD])).text.startswith("no baseline in this experiment")
    only_lora = table([("l1", "lora", 73_728, 0.8, 0.3)])
    assert headline(only_lora).text == "no TT-LoRA trial in this experiment: only baselines to compare"
    no_scores = table([("t1", "ttlora", 2_000, 0.8, 0.3), ("l1", "lora", 73_728, math.nan, math.nan)])
    assert headline(no_scores, "accuracy").text.startswith("no baseline trial has a validation accuracy")
    tt_nan = table([("t1", "ttlora", 2_000, math.nan, 0.3), ("l1", "lora", 73_728, 0.8, 0.3)])
    result = headline(tt_nan)
    assert result.text.startswith("no TT-LoRA trial has a validation score") and result.baseline_trial == "l1"
    assert headline(only_tt.iloc[0:0]).text.startswith("no trial has a result yet")


def test_method_names_order_and_text() -> None:
    frame = pd.DataFrame({col.METHOD: ["lora", None, "", "zzz", "ttlora", "vera"]})
    assert list(trial_methods(frame)) == ["lora", "ttlora", "ttlora", "zzz", "ttlora", "vera"]
    assert ordered_methods(trial_methods(frame)) == ["ttlora", "lora", "vera", "zzz"]
    assert methods_text(["lora", "ttlora"]) == "ttlora+lora"
    assert list(trial_methods(pd.DataFrame({"x": [1, 2]}))) == ["ttlora", "ttlora"]


def test_headline_compares_with_the_baseline_trial_the_search_selects() -> None:
    """The baseline is LoRA's selected trial (lowest val loss, as in the method table), not its luckiest
    validation score: lb scores higher but la is what the search picked."""
    frame = table([("la", "lora", 73_728, 0.80, 0.30), ("lb", "lora", 73_728, 0.90, 0.40),
                   ("t", "ttlora", 6_144, 0.795, 0.35)])
    result = headline(frame, "accuracy")
    assert (result.baseline_trial, result.ttlora_trial) == ("la", "t")
    assert result.ratio == pytest.approx(12.0)
