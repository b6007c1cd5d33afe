"""The time budget of a search (analysis/time_budget.py) on hand-made per-trial rows."""
from __future__ import annotations

import math

import pandas as pd

from analysis import columns as col
from analysis.time_budget import budget_rows, time_budget


def test_shares_and_real_token_fractions_are_summed_over_trials() -> None:
    trials = pd.DataFrame([
        {col.SETUP_SECONDS: 2.0, col.TRAIN_SECONDS: 10.0, col.VAL_SECONDS: 3.0, col.TEST_SECONDS: 1.0,
         col.CHECKPOINT_SECONDS: 0.5, col.HELDOUT_SECONDS: math.nan, col.TRAIN_TOKENS: 600,
         col.TRAIN_TOKEN_POSITIONS: 1000, col.EVAL_TOKENS: 90, col.EVAL_TOKEN_POSITIONS: 100},
        {col.SETUP_SECONDS: 1.0, col.TRAIN_SECONDS: 5.0, col.VAL_SECONDS: 1.0, col.TEST_SECONDS: 0.0,
         col.CHECKPOINT_SECONDS: 0.5, col.HELDOUT_SECONDS: 1.0, col.TRAIN_TOKENS: 400,
         col.TRAIN_TOKEN_POSITIONS: 1000, col.EVAL_TOKENS: 80, col.EVAL_TOKEN_POSITIONS: 100},
    ])
    budget = time_budget(trials)
    assert budget.total_seconds == 25.0
    assert budget.share(col.TRAIN_SECONDS) == 15.0 / 25.0
    assert math.isclose(budget.eval_share, (4.0 + 1.0 + 1.0) / 25.0)
    assert budget.train_real_fraction == 0.5 and budget.eval_real_fraction == 0.85
    rows = dict(budget_rows(budget))
    assert rows["seconds: training steps"] == "15.0 (60%)"
    assert rows["real tokens / token positions, training batches"] == "50%"


def test_a_folder_from_before_the_budget_says_so() -> None:
    trials = pd.DataFrame([{col.TRAIN_SECONDS: math.nan}])
    assert budget_rows(time_budget(trials)) == [("time by phase", "not reported (a folder from before the time budget)")]
