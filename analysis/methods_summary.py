"""Across methods: each method's best trial, and how small a TT-LoRA adapter gets while within one
point of the best baseline (the report's "best score of each method" table and its headline).

Pure functions of a trials DataFrame (``analysis.loading``), no I/O, so they are tested on tables made
by hand. Selection follows the search: a method's best trial is its lowest validation loss (or the
metric the search optimised); the headline compares validation scores (``best_score``), and the
held-out test score is only shown beside them, never used to choose.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from analysis import columns as col
from analysis.config_display import format_number
from analysis.pareto import best_trial, eligible_mask
from vocab.experiment_folder import StopReason
from vocab.methods import METHODS, TTLORA, method_label

ONE_POINT = 0.01  # one point on the 0..1 score scale (the paper's tables print percent)
_TOLERANCE = 1e-9  # a score exactly one point below still counts as within one point

# Columns of method_bests' DataFrame besides those it copies from the chosen trial.
LABEL = "label"
TRIALS_RUN = "trials"
TOP_SCORE = "top_score"  # the method's highest validation score over its trials


def method_name(value: object) -> str:
    """A method cell as a name; missing or empty (a table from before methods): ``"ttlora"``."""
    return value if isinstance(value, str) and value else TTLORA


def trial_methods(trials: pd.DataFrame) -> pd.Series:
    """Each trial's method name (``method_name`` of its cell; no ``method`` column: all TT-LoRA)."""
    if col.METHOD not in trials.columns:
        return pd.Series(TTLORA, index=trials.index, dtype=object)
    return trials[col.METHOD].apply(method_name).astype(object)


def ordered_methods(names: object) -> list[str]:
    """Distinct method names in ``vocab.methods`` order (TT-LoRA first), unknown names after, sorted."""
    distinct = {str(n) for n in names}  # type: ignore[union-attr]
    known = [name for name in METHODS if name in distinct]
    return known + sorted(distinct - set(known))


def methods_text(names: object) -> str:
    """``"ttlora+lora"``: the methods an experiment holds, in table order."""
    return "+".join(ordered_methods(names))


def method_bests(trials: pd.DataFrame, select_col: str = col.BEST_VAL_LOSS,
                 cost_col: str = col.DEFAULT_COST) -> pd.DataFrame:
    """One row per method present: ``method``, ``label``, ``trials`` (run), the chosen trial's
    ``trial_id``, ``best_val_loss``, ``best_score``, ``best_test_score`` and ``cost_col``, and
    ``top_score`` (the method's highest validation score). The chosen trial is the method's best by
    ``select_col`` (ties: fewer parameters, then lower id); a method without a rankable trial has NaN
    there and an empty id."""
    methods = trial_methods(trials)
    rows = []
    for name in ordered_methods(methods.unique()):
        own = trials[methods == name]
        best = best_trial(own, select_col, cost_col=cost_col) if len(own) else None
        ok = own[col.STOP_REASON] != StopReason.ERROR.value if col.STOP_REASON in own else True
        scores = pd.to_numeric(own[ok][col.BEST_SCORE], errors="coerce")
        row = {col.METHOD: name, LABEL: method_label(name), TRIALS_RUN: len(own),
               TOP_SCORE: float(scores.max()) if scores.notna().any() else math.nan}
        for key in (col.TRIAL_ID, col.BEST_VAL_LOSS, col.BEST_SCORE, col.BEST_TEST_SCORE, cost_col):
            if key == col.TRIAL_ID:
                row[key] = "" if best is None else str(best[key])
            else:
                row[key] = math.nan if best is None or key not in best else _float(best[key])
        rows.append(row)
    columns = [col.METHOD, LABEL, TRIALS_RUN, col.TRIAL_ID, col.BEST_VAL_LOSS, col.BEST_SCORE,
               col.BEST_TEST_SCORE, cost_col, TOP_SCORE]
    return pd.DataFrame(rows, columns=list(dict.fromkeys(columns)))


@dataclass(frozen=True)
class Headline:
    """The comparison of the smallest TT-LoRA trial within one point of the best baseline trial.
    ``text`` is the sentence; the fields are None / NaN where there is nothing to compare."""

    text: str
    ttlora_trial: str | None = None
    ttlora_params: float = math.nan
    ttlora_score: float = math.nan
    ttlora_test_score: float = math.nan
    baseline_method: str | None = None
    baseline_trial: str | None = None
    baseline_params: float = math.nan
    baseline_score: float = math.nan
    baseline_test_score: float = math.nan

    @property
    def ratio(self) -> float:
        """Baseline parameters / TT-LoRA parameters (> 1: TT-LoRA is smaller)."""
        return self.baseline_params / self.ttlora_params if self.ttlora_trial else math.nan


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _rankable(trials: pd.DataFrame, cost_col: str) -> pd.DataFrame:
    """Trials with a finite validation score and a positive finite parameter count, not errored."""
    if trials.empty:
        return trials
    return trials[eligible_mask(trials, cost_col, col.BEST_SCORE)]


def _sorted(trials: pd.DataFrame, cost_col: str, by_score_first: bool) -> pd.DataFrame:
    """Best score then fewest parameters (``by_score_first``), or fewest parameters then best score;
    the lower trial id last."""
    ranked = trials.assign(_score=-pd.to_numeric(trials[col.BEST_SCORE]), _cost=pd.to_numeric(trials[cost_col]))
    keys = ["_score", "_cost"] if by_score_first else ["_cost", "_score"]
    return ranked.sort_values([*keys, col.TRIAL_ID], kind="stable").drop(columns=["_score", "_cost"])


def _score_text(score: float, test: float) -> str:
    return format_number(score) + ("" if math.isnan(test) else f" (test {format_number(test)})")


def headline(trials: pd.DataFrame, score_name: str = "score", cost_col: str = col.DEFAULT_COST) -> Headline:
    """"smallest TT-LoRA within 1 point of the best baseline: N params, X× fewer than <baseline> (M
    params)". Each baseline's trial is the one the search selects (``method_bests``: lowest validation
    loss), the same the method table shows; the best baseline is the selected trial with the highest
    validation score (ties: fewer parameters). "Within 1 point": a TT-LoRA trial's validation score at
    least that score - 0.01. The sentence says how many trials each side had."""
    if trials.empty:
        return Headline("no trial has a result yet: nothing to compare")
    methods = trial_methods(trials)
    ranked = _rankable(trials.assign(**{col.METHOD: methods}), cost_col)
    ttlora = ranked[ranked[col.METHOD] == TTLORA]
    baselines = ranked[ranked[col.METHOD] != TTLORA]
    if not (methods != TTLORA).any():
        return Headline("no baseline in this experiment: nothing to compare TT-LoRA with "
                        "(add a baselines: section to the space)")
    if baselines.empty:
        return Headline(f"no baseline trial has a validation {score_name} and a parameter count yet")
    if not (methods == TTLORA).any():
        return Headline("no TT-LoRA trial in this experiment: only baselines to compare")
    selected = set(method_bests(trials.assign(**{col.METHOD: methods}), cost_col=cost_col)[col.TRIAL_ID])
    chosen = baselines[baselines[col.TRIAL_ID].astype(str).isin(selected)]
    base = _sorted(chosen if len(chosen) else baselines, cost_col, by_score_first=True).iloc[0]
    counts = (f" ({int((methods == TTLORA).sum())} TT-LoRA trials, "
              f"{int((methods == str(base[col.METHOD])).sum())} {method_label(str(base[col.METHOD]))} trials)")
    base_label = method_label(str(base[col.METHOD]))
    fields = dict(baseline_method=str(base[col.METHOD]), baseline_trial=str(base[col.TRIAL_ID]),
                  baseline_params=_float(base[cost_col]), baseline_score=_float(base[col.BEST_SCORE]),
                  baseline_test_score=_float(base.get(col.BEST_TEST_SCORE)))
    base_text = (f"{base_label} trial {base[col.TRIAL_ID]}, val {score_name} "
                 f"{_score_text(fields['baseline_score'], fields['baseline_test_score'])} with "
                 f"{format_number(fields['baseline_params'], 'int')} params")
    if ttlora.empty:
        return Headline(f"no TT-LoRA trial has a validation {score_name} and a parameter count yet "
                        f"(best baseline: {base_text})", **fields)
    within = ttlora[pd.to_numeric(ttlora[col.BEST_SCORE]) >= fields["baseline_score"] - ONE_POINT - _TOLERANCE]
    if within.empty:
        top = _sorted(ttlora, cost_col, by_score_first=True).iloc[0]
        return Headline(f"no TT-LoRA trial is within 1 point of the best baseline ({base_text}); the best "
                        f"TT-LoRA trial {top[col.TRIAL_ID]} reaches val {score_name} "
                        f"{format_number(top[col.BEST_SCORE])} with {format_number(top[cost_col], 'int')} params",
                        **fields)
    small = _sorted(within, cost_col, by_score_first=False).iloc[0]
    tt = dict(ttlora_trial=str(small[col.TRIAL_ID]), ttlora_params=_float(small[cost_col]),
              ttlora_score=_float(small[col.BEST_SCORE]), ttlora_test_score=_float(small.get(col.BEST_TEST_SCORE)))
    ratio = fields["baseline_params"] / tt["ttlora_params"]
    fewer = f"{ratio:,.1f}× fewer than" if ratio >= 1 else f"{1 / ratio:,.1f}× more than"
    text = (f"smallest TT-LoRA within 1 point of the best baseline: {format_number(tt['ttlora_params'], 'int')} "
            f"params, {fewer} {base_label} ({format_number(fields['baseline_params'], 'int')} params); "
            f"val {score_name} {_score_text(tt['ttlora_score'], tt['ttlora_test_score'])}, trial "
            f"{small[col.TRIAL_ID]}, vs {_score_text(fields['baseline_score'], fields['baseline_test_score'])}, "
            f"trial {base[col.TRIAL_ID]}{counts}")
    return Headline(text, **tt, **fields)
