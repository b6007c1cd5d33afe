"""Pareto front and best-trial choice against small tables checked by hand (ties, NaN, failures)."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis import columns as col
from analysis.pareto import best_trial, best_under_budget, mark_front, metric_column_for, pareto_front, pareto_mask
from vocab.errors import UsageError
from vocab.experiment_folder import StopReason

DONE = StopReason.MAX_EPOCHS.value
ERR = StopReason.ERROR.value


def table(rows: list[tuple[str, float, float, float, str]]) -> pd.DataFrame:
    """rows: (trial id, adapter params, best score, best val loss, stop reason); TT params the same."""
    frame = pd.DataFrame(rows, columns=[col.TRIAL_ID, col.ADAPTER_PARAMS, col.BEST_SCORE, col.BEST_VAL_LOSS, col.STOP_REASON])
    return frame.assign(**{col.TTLORA_PARAMS: frame[col.ADAPTER_PARAMS]})


# Checked by hand: k, a, c, d, f are on the front (score maximised).
#  b: same params as a, lower score -> dominated;  e: same score as c/d, more params -> dominated
#  c and d: identical (params, score) -> both on the front;  j: more params and lower score than f
#  g: NaN score, h: NaN params -> not rankable;  i: errored (would dominate everything) -> excluded
HAND_TABLE = table([
    ("a", 100, 0.70, 0.50, DONE), ("b", 100, 0.65, 0.55, DONE), ("c", 200, 0.80, 0.40, DONE),
    ("d", 200, 0.80, 0.45, DONE), ("e", 300, 0.80, 0.30, DONE), ("f", 400, 0.90, 0.35, DONE),
    ("g", 150, math.nan, math.nan, DONE), ("h", math.nan, 0.95, 0.20, DONE), ("i", 50, 0.99, 0.10, ERR),
    ("j", 500, 0.85, 0.33, DONE), ("k", 50, 0.60, 0.60, DONE),
])


def test_front_by_score_matches_hand_check() -> None:
    front = pareto_front(HAND_TABLE)
    assert list(front[col.TRIAL_ID]) == ["k", "a", "c", "d", "f"]
    mask = pareto_mask(HAND_TABLE)
    assert mask.index.equals(HAND_TABLE.index)
    assert set(HAND_TABLE[mask][col.TRIAL_ID]) == {"k", "a", "c", "d", "f"}


def test_front_by_val_loss_minimises() -> None:
    # val loss, lower is better. By cost: k(50,.60) a(100,.50) c(200,.40) e(300,.30); d .45 > c .40 at the
    # same cost; f .35 > e .30 with more params; j .33 > .30; i errored; h NaN params; g NaN loss.
    front = pareto_front(HAND_TABLE, metric_col=col.BEST_VAL_LOSS)
    assert list(front[col.TRIAL_ID]) == ["k", "a", "c", "e"]


def test_front_cost_column_is_selectable() -> None:
    frame = HAND_TABLE.assign(**{col.TRAINABLE_PARAMS: HAND_TABLE[col.TTLORA_PARAMS] + 1000})
    assert list(pareto_front(frame, cost_col=col.TRAINABLE_PARAMS)[col.TRIAL_ID]) == ["k", "a", "c", "d", "f"]
    assert list(pareto_front(frame, cost_col=col.TTLORA_PARAMS)[col.TRIAL_ID]) == ["k", "a", "c", "d", "f"]


def test_single_trial_and_all_tied() -> None:
    one = table([("x", 10, 0.5, 0.7, DONE)])
    assert list(pareto_front(one)[col.TRIAL_ID]) == ["x"]
    tied = table([("x", 10, 0.5, 0.7, DONE), ("y", 10, 0.5, 0.7, DONE), ("z", 10, 0.5, 0.7, DONE)])
    assert list(pareto_front(tied)[col.TRIAL_ID]) == ["x", "y", "z"]


def test_no_rankable_trials_gives_empty_front() -> None:
    nan_only = table([("x", math.nan, 0.5, 0.7, DONE), ("y", 10, math.nan, math.nan, DONE), ("z", 5, 0.9, 0.1, ERR)])
    assert pareto_front(nan_only).empty
    assert not pareto_mask(nan_only).any()
    assert pareto_front(HAND_TABLE.iloc[0:0]).empty
    # best by val loss needs no parameter count: x qualifies; z errored, y has no loss
    assert best_trial(nan_only)[col.TRIAL_ID] == "x"
    assert best_trial(nan_only.iloc[1:]) is None


def test_mark_front_adds_column_without_touching_input() -> None:
    marked = mark_front(HAND_TABLE)
    assert col.ON_FRONT not in HAND_TABLE.columns
    assert list(marked[marked[col.ON_FRONT]][col.TRIAL_ID]) == ["a", "c", "d", "f", "k"]


def test_best_trial_ties_go_to_fewer_params_then_lower_id() -> None:
    frame = table([("t2", 300, 0.7, 0.40, DONE), ("t1", 200, 0.6, 0.40, DONE), ("t0", 200, 0.5, 0.40, DONE),
                   ("t3", 100, 0.9, 0.41, DONE), ("t4", 10, 0.99, 0.05, ERR)])
    assert best_trial(frame, col.BEST_VAL_LOSS)[col.TRIAL_ID] == "t0"  # t4 errored; .40 tie -> 200 params -> t0 < t1
    assert best_trial(frame, col.BEST_SCORE)[col.TRIAL_ID] == "t3"


def test_best_under_budget_picks_best_front_trial_within_budget() -> None:
    assert best_under_budget(HAND_TABLE, 250)[col.TRIAL_ID] == "c"  # c and d tie on (200, .80): lower id
    assert best_under_budget(HAND_TABLE, 99)[col.TRIAL_ID] == "k"
    assert best_under_budget(HAND_TABLE, 10_000)[col.TRIAL_ID] == "f"  # j has more params and a lower score
    assert best_under_budget(HAND_TABLE, 40) is None
    with pytest.raises(UsageError, match="max-params"):
        best_under_budget(HAND_TABLE, 0)


def test_unknown_columns_and_metrics_are_clear_errors() -> None:
    with pytest.raises(UsageError, match="unknown column 'accuracy'.*best_score"):
        pareto_front(HAND_TABLE, metric_col="accuracy")
    with pytest.raises(UsageError, match="unknown metric 'f1'"):
        metric_column_for("f1")
    assert metric_column_for("val_loss") == col.BEST_VAL_LOSS
    assert metric_column_for("score") == col.BEST_SCORE
