"""Where a search's time went: trial seconds by phase, and the real-token fraction of the batches.

Read from each trial's reports (``vocab.experiment_folder.MetricKey``: setup, train, validation,
test and checkpoint seconds; real tokens and token positions of the training and evaluation
batches) and the held-out pass after the search (``heldout_test.json``). Folders from before these
keys have no budget (every figure NaN); the report then says so instead of guessing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from analysis import columns as col

# (column, label) of each phase, in the order a trial spends them
PHASES: tuple[tuple[str, str], ...] = (
    (col.SETUP_SECONDS, "trial set-up (model load or reuse)"),
    (col.TRAIN_SECONDS, "training steps"),
    (col.VAL_SECONDS, "validation"),
    (col.TEST_SECONDS, "held-out test (once per trial that ended by itself)"),
    (col.HELDOUT_SECONDS, "held-out test after the search (trials a scheduler stopped)"),
    (col.CHECKPOINT_SECONDS, "writing checkpoints"),
)


@dataclass
class TimeBudget:
    """Summed over every trial of an experiment."""

    seconds: dict[str, float]  # phase column -> seconds (NaN: not reported)
    train_real_fraction: float  # real tokens / token positions of the training batches
    eval_real_fraction: float  # the same for validation and test batches

    @property
    def total_seconds(self) -> float:
        known = [v for v in self.seconds.values() if not math.isnan(v)]
        return float(sum(known)) if known else math.nan

    def share(self, column: str) -> float:
        """The phase's share of the summed trial seconds (NaN when nothing was reported)."""
        total, value = self.total_seconds, self.seconds.get(column, math.nan)
        return value / total if total and not math.isnan(value) and total > 0 else math.nan

    @property
    def eval_share(self) -> float:
        parts = [self.share(c) for c in (col.VAL_SECONDS, col.TEST_SECONDS, col.HELDOUT_SECONDS)]
        known = [p for p in parts if not math.isnan(p)]
        return float(sum(known)) if known else math.nan


def _total(trials: pd.DataFrame, column: str) -> float:
    if column not in trials or not len(trials):
        return math.nan
    return float(pd.to_numeric(trials[column], errors="coerce").sum(min_count=1))


def _fraction(trials: pd.DataFrame, real: str, positions: str) -> float:
    tokens, total = _total(trials, real), _total(trials, positions)
    return tokens / total if total and not math.isnan(total) and total > 0 else math.nan


def time_budget(trials: pd.DataFrame) -> TimeBudget:
    """The experiment's time budget from its per-trial DataFrame (``analysis.loading``)."""
    return TimeBudget(
        seconds={column: _total(trials, column) for column, _ in PHASES},
        train_real_fraction=_fraction(trials, col.TRAIN_TOKENS, col.TRAIN_TOKEN_POSITIONS),
        eval_real_fraction=_fraction(trials, col.EVAL_TOKENS, col.EVAL_TOKEN_POSITIONS),
    )


def budget_rows(budget: TimeBudget) -> list[tuple[str, str]]:
    """(label, value) rows for the report's cost table."""
    if math.isnan(budget.seconds[col.TRAIN_SECONDS]):
        return [("time by phase", "not reported (a folder from before the time budget)")]
    rows = []
    for column, label in PHASES:
        seconds = budget.seconds[column]
        if not math.isnan(seconds):
            rows.append((f"seconds: {label}", f"{seconds:,.1f} ({100 * budget.share(column):.0f}%)"))
    rows.append(("real tokens / token positions, training batches", _percent(budget.train_real_fraction)))
    rows.append(("real tokens / token positions, evaluation batches", _percent(budget.eval_real_fraction)))
    return rows


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.0f}%"


__all__ = ["PHASES", "TimeBudget", "time_budget", "budget_rows"]
