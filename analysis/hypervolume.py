"""Hypervolume of an experiment's front, and its anytime curve (hypervolume against trial-epochs).

The number itself and the reference point are ``vocab.front_volume``'s (shared with replay). Here:
which trials count (those with a positive adapter size and a finite selected score, as for the front)
and in what order their epochs happened. The score is each trial's validation score at its selected
epoch (``best_score``): the held-out test score never decides anything, the front included.
"""
from __future__ import annotations

import math

import pandas as pd

from analysis import columns as col
from analysis.loading import Experiment
from vocab.experiment_folder import MetricKey
from vocab.front_volume import ReferencePoint, anytime_hypervolume, hypervolume, reference_point


def experiment_reference(exp: Experiment) -> ReferencePoint | None:
    """The experiment's reference point; None without target dimensions in its metadata."""
    if exp.meta is None or exp.meta.full_params() <= 1:
        return None
    return reference_point(exp.score_name, exp.meta.full_params())


def front_hypervolume(trials: pd.DataFrame, ref: ReferencePoint, cost_col: str = col.ADAPTER_PARAMS,
                      score_col: str = col.BEST_SCORE) -> float:
    if not len(trials):
        return 0.0
    return hypervolume(zip(trials[cost_col].astype(float), trials[score_col].astype(float)), ref)


def experiment_hypervolume(exp: Experiment) -> float:
    """The experiment's front hypervolume (NaN when it has no reference point)."""
    ref = experiment_reference(exp)
    return math.nan if ref is None else front_hypervolume(exp.trials, ref)


def anytime_curve(exp: Experiment) -> pd.DataFrame:
    """One row per trial-epoch in report order: ``trial_epochs`` spent so far and the ``hypervolume``
    of the front of every trial's selected epoch so far. Empty without a reference point."""
    ref = experiment_reference(exp)
    curves = exp.curves
    if ref is None or not len(curves):
        return pd.DataFrame(columns=["trial_epochs", "hypervolume"])
    sizes = exp.trials.set_index(col.TRIAL_ID)[col.ADAPTER_PARAMS].astype(float).to_dict()
    ordered = curves.sort_values([col.REPORT_UNIX, col.TRIAL_ID, MetricKey.EPOCH.value], kind="stable")
    events = [(tid, sizes.get(tid, math.nan), float(score))
              for tid, score in zip(ordered[col.TRIAL_ID], ordered[col.BEST_SCORE])]
    values = anytime_hypervolume(events, ref)
    return pd.DataFrame({"trial_epochs": range(1, len(values) + 1), "hypervolume": values})


__all__ = ["experiment_reference", "front_hypervolume", "experiment_hypervolume", "anytime_curve"]
