"""Confirmed figures: what the confirmation stage measured (``<experiment>/confirm``), as the report,
``ls`` and ``export`` use it when it exists (docs/ARCHITECTURE.md, "Confirmation over seeds").

One row per finalist: its search trial id, method, adapter parameters, and the mean, sd and 95 %
half-interval of its validation and held-out test scores over the seeds. The confirmed headline
compares means: the best baseline finalist is the one with the highest mean validation score; the
TT-LoRA finalist it names is the smallest whose mean validation score is within 1 point of it (else
TT-LoRA's best), and the words come from the paired test difference seed by seed (``verdict``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis import columns as col
from analysis.confirmation import (
    SeedSummary,
    best_baseline,
    confirmation_finished,
    confirmation_trials,
    mean_val_score,
    summarise_seeds,
    verdict,
)
from vocab.methods import TTLORA, method_label

ONE_POINT = 0.01
VAL_MEAN, VAL_SD, VAL_HALF = "val_mean", "val_sd", "val_half95"
TEST_MEAN, TEST_SD, TEST_HALF = "test_mean", "test_sd", "test_half95"
SEEDS = "seeds"


def confirmed_summaries(exp_path: str | Path) -> list[SeedSummary]:
    """The confirmation's finalists over their seeds (empty when no confirmation ran)."""
    trials = confirmation_trials(exp_path)
    return summarise_seeds(trials) if len(trials) else []


def confirmed_table(summaries: list[SeedSummary]) -> pd.DataFrame:
    """One row per finalist (``trial_id`` = the search trial it re-trains), highest mean val first."""
    rows = []
    for s in summaries:
        val, test = SeedSummary.spread(s.val_scores), SeedSummary.spread(s.test_scores)
        rows.append({col.TRIAL_ID: s.finalist, col.METHOD: s.method, col.ADAPTER_PARAMS: s.adapter_params,
                     VAL_MEAN: val[0], VAL_SD: val[1], VAL_HALF: val[2],
                     TEST_MEAN: test[0], TEST_SD: test[1], TEST_HALF: test[2], SEEDS: len(s.seeds)})
    table = pd.DataFrame(rows)
    return table.sort_values([VAL_MEAN, col.ADAPTER_PARAMS], ascending=[False, True], kind="stable") if rows else table


@dataclass(frozen=True)
class ConfirmedChoice:
    """The finalist with the highest mean validation score (of one method, or of all)."""

    trial_id: str
    method: str
    val_mean: float
    test_mean: float
    seeds: int


def confirmed_best(exp_path: str | Path, among: set[str] | None = None) -> ConfirmedChoice | None:
    """The finalist ``export`` and ``ls`` use: highest mean val score (ties: fewer parameters); ``among``:
    only finalists re-training these search trial ids (one method's, for ``export --method``). None until
    the confirmation has finished: a partial one compares finalists over different seeds."""
    if not confirmation_finished(exp_path):
        return None
    table = confirmed_table(confirmed_summaries(exp_path))
    if len(table) and among is not None:
        table = table[table[col.TRIAL_ID].isin(among)]
    table = table[table[VAL_MEAN].notna()] if len(table) else table
    if not len(table):
        return None
    top = table.iloc[0]
    return ConfirmedChoice(str(top[col.TRIAL_ID]), str(top[col.METHOD]), float(top[VAL_MEAN]), float(top[TEST_MEAN]),
                           int(top[SEEDS]))


def confirmed_headline(summaries: list[SeedSummary], score_name: str) -> str:
    """The headline on confirmed means, with the paired verdict in words ("" when nothing to compare)."""
    tt = [s for s in summaries if s.method == TTLORA]
    best = best_baseline(summaries)
    if not tt or best is None:
        return ""
    within = [s for s in tt if mean_val_score(s) >= mean_val_score(best) - ONE_POINT - 1e-9]
    pick = (min(within, key=lambda s: (s.adapter_params, -mean_val_score(s))) if within
            else max(tt, key=mean_val_score))
    seeds = len(pick.seeds)
    which = ("the smallest TT-LoRA finalist within 1 point of the best baseline on mean val "
             f"{score_name}" if within else f"no TT-LoRA finalist is within 1 point on mean val {score_name}; "
             "its best")
    ratio = best.adapter_params / pick.adapter_params if pick.adapter_params else math.nan
    return (f"Confirmed over {seeds} seeds: {which} is trial {pick.finalist} ({pick.adapter_params:,.0f} params, "
            f"{ratio:.1f}x fewer than {method_label(best.method)} {best.finalist}, "
            f"mean val {mean_val_score(pick):.4f} vs {mean_val_score(best):.4f}). {verdict(pick, best)}.")


__all__ = ["confirmed_summaries", "confirmed_table", "confirmed_best", "confirmed_headline", "ConfirmedChoice",
           "VAL_MEAN", "VAL_SD", "VAL_HALF", "TEST_MEAN", "TEST_SD", "TEST_HALF", "SEEDS"]
