"""Pareto front over (fewer parameters, better metric), and the choice of a single best trial.

A trial is on the front when no other trial has at most its parameters and at least its metric with
one of the two strictly better. Ties: trials with identical (parameters, metric) are all on the front
(neither dominates the other); a trial with the same parameters but a worse metric, or the same metric
but more parameters, is not. Trials with a NaN cost or metric (no result yet, failed before reporting)
and errored trials are never on the front and never chosen as best.

The default cost is ``adapter_params`` (``columns.DEFAULT_COST``): every method's own trainable
parameters, the task head not counted, so one front spans TT-LoRA and the baselines.
"""
from __future__ import annotations

import math

import pandas as pd

from analysis import columns as col
from vocab.errors import UsageError
from vocab.experiment_folder import MetricKey, StopReason


def _check_columns(trials: pd.DataFrame, cost_col: str, metric_col: str) -> None:
    for name, allowed in ((cost_col, col.COST_COLUMNS), (metric_col, tuple(col.METRIC_DIRECTIONS))):
        if name not in trials.columns:
            raise UsageError(f"unknown column {name!r}", where="pareto", expected=f"one of {', '.join(allowed)}")


def eligible_mask(trials: pd.DataFrame, cost_col: str, metric_col: str) -> pd.Series:
    """Trials that can be ranked: a finite, positive cost (a baseline's ``ttlora_params`` is 0: not on a
    TT-parameter front), a finite metric, and not errored."""
    cost = pd.to_numeric(trials[cost_col], errors="coerce")
    metric = pd.to_numeric(trials[metric_col], errors="coerce")
    finite = cost.apply(_finite) & (cost > 0) & metric.apply(_finite)
    not_failed = trials[col.STOP_REASON] != StopReason.ERROR.value if col.STOP_REASON in trials else True
    return finite & not_failed


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def pareto_mask(trials: pd.DataFrame, cost_col: str = col.DEFAULT_COST, metric_col: str = col.BEST_SCORE,
                maximize: bool | None = None) -> pd.Series:
    """Boolean Series (index of ``trials``): True for trials on the front.

    ``maximize`` defaults to the metric's direction in ``columns.METRIC_DIRECTIONS``."""
    _check_columns(trials, cost_col, metric_col)
    if maximize is None:
        maximize = col.METRIC_DIRECTIONS[metric_col]
    mask = pd.Series(False, index=trials.index)
    eligible = trials[eligible_mask(trials, cost_col, metric_col)]
    if eligible.empty:
        return mask
    cost = pd.to_numeric(eligible[cost_col])
    value = pd.to_numeric(eligible[metric_col]) * (1.0 if maximize else -1.0)  # higher is better now
    best_cheaper = -math.inf  # best value among strictly cheaper trials
    for _, group_index in value.groupby(cost).groups.items():  # groups in ascending cost
        group = value.loc[group_index]
        group_best = group.max()
        if group_best > best_cheaper:
            mask.loc[group.index[group == group_best]] = True
        best_cheaper = max(best_cheaper, group_best)
    return mask


def pareto_front(trials: pd.DataFrame, cost_col: str = col.DEFAULT_COST, metric_col: str = col.BEST_SCORE,
                 maximize: bool | None = None) -> pd.DataFrame:
    """The front's trials, sorted by cost (ascending) then trial id."""
    front = trials[pareto_mask(trials, cost_col, metric_col, maximize)]
    sort_cols = [cost_col] + ([col.TRIAL_ID] if col.TRIAL_ID in front else [])
    return front.sort_values(sort_cols, kind="stable")


def mark_front(trials: pd.DataFrame, cost_col: str = col.DEFAULT_COST, metric_col: str = col.BEST_SCORE) -> pd.DataFrame:
    """A copy of ``trials`` with the boolean ``on_front`` column."""
    marked = trials.copy()
    marked[col.ON_FRONT] = pareto_mask(trials, cost_col, metric_col)
    return marked


def metric_column_for(search_metric: str) -> str:
    """The trial column that ranks trials by the metric a search optimised (``ExperimentMeta.metric``)."""
    mapping = {MetricKey.VAL_LOSS.value: col.BEST_VAL_LOSS, MetricKey.SCORE.value: col.BEST_SCORE}
    if search_metric in mapping:
        return mapping[search_metric]
    if search_metric in col.METRIC_DIRECTIONS:
        return search_metric
    raise UsageError(f"unknown metric {search_metric!r}", where="metric",
                     expected=f"one of {', '.join([*mapping, *col.METRIC_DIRECTIONS])}")


def best_trial(trials: pd.DataFrame, metric_col: str = col.BEST_VAL_LOSS, maximize: bool | None = None,
               cost_col: str = col.DEFAULT_COST) -> pd.Series | None:
    """The best eligible trial by ``metric_col``; ties go to fewer parameters, then the lower trial id.
    None when no trial has a result."""
    if metric_col not in trials.columns:
        raise UsageError(f"unknown column {metric_col!r}", where="best_trial",
                         expected=f"one of {', '.join(col.METRIC_DIRECTIONS)}")
    if maximize is None:
        maximize = col.METRIC_DIRECTIONS[metric_col]
    metric = pd.to_numeric(trials[metric_col], errors="coerce")
    ok = metric.apply(_finite)
    if col.STOP_REASON in trials:
        ok &= trials[col.STOP_REASON] != StopReason.ERROR.value
    candidates = trials[ok].copy()
    if candidates.empty:
        return None
    return ranked_trials(candidates, metric_col, maximize, cost_col).iloc[0]


def ranked_trials(trials: pd.DataFrame, metric_col: str, maximize: bool, cost_col: str = col.DEFAULT_COST) -> pd.DataFrame:
    """``trials`` best first by ``metric_col``, ties to fewer parameters (``cost_col``; missing: last),
    then the lower trial id: the order ``best_trial`` picks from and ``top`` finalists are taken in."""
    metric = pd.to_numeric(trials[metric_col], errors="coerce")
    cost = trials[cost_col] if cost_col in trials else pd.Series(math.nan, index=trials.index)
    order = trials.assign(_rank_metric=-metric if maximize else metric,
                          _rank_cost=pd.to_numeric(cost, errors="coerce").fillna(math.inf))
    ordered = order.sort_values(["_rank_metric", "_rank_cost", col.TRIAL_ID], kind="stable")
    return ordered.drop(columns=["_rank_metric", "_rank_cost"])


def best_under_budget(trials: pd.DataFrame, max_params: float, cost_col: str = col.DEFAULT_COST,
                      metric_col: str = col.BEST_SCORE) -> pd.Series | None:
    """The front trial with the best metric among those with at most ``max_params`` parameters."""
    if not max_params > 0:
        raise UsageError(f"--max-params must be positive, got {max_params}", where="--max-params")
    front = pareto_front(trials, cost_col, metric_col)
    within = front[pd.to_numeric(front[cost_col]) <= max_params]
    if within.empty:
        return None
    return best_trial(within, metric_col, cost_col=cost_col)
