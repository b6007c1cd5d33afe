"""Task metrics with scikit-learn and scipy (``evaluate`` fetches its scripts from the hub at run time).

``compute_score(task, logits_or_predictions, labels)`` returns every metric in
``task.metric_names`` (``task.score_name`` among them), all "higher is better":

- ``accuracy``; ``f1`` = binary F1 of the positive class (label 1: MRPC equivalent, QQP duplicate,
  WSC/BoolQ True, RTE/QNLI not_entailment); ``f1_macro`` = unweighted mean of per-class F1 over the
  classes present in the labels or the predictions (CB, MNLI; sklearn's default, so a class absent
  from a small validation subset and never predicted does not count as F1 0);
  ``matthews_corrcoef``; ``spearmanr`` / ``pearsonr`` for STS-B.
- Undefined values are reported as 0.0, the no-skill value, so a search never compares NaN:
  F1 with no predicted/true positives (sklearn ``zero_division=0``), and a correlation of a
  constant prediction (scipy returns NaN). Matthews correlation is already 0 there.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy import stats
from sklearn import metrics as skm

from search.tasks.registry import TaskSpec, get_task
from vocab.errors import UsageError

ClassMetric = Callable[[np.ndarray, np.ndarray, int], float]


def _accuracy(pred: np.ndarray, gold: np.ndarray, num_labels: int) -> float:
    return float(skm.accuracy_score(gold, pred))


def _f1_binary(pred: np.ndarray, gold: np.ndarray, num_labels: int) -> float:
    return float(skm.f1_score(gold, pred, average="binary", pos_label=1, labels=[0, 1], zero_division=0))


def _f1_macro(pred: np.ndarray, gold: np.ndarray, num_labels: int) -> float:
    return float(skm.f1_score(gold, pred, average="macro", zero_division=0))


def _matthews(pred: np.ndarray, gold: np.ndarray, num_labels: int) -> float:
    return float(skm.matthews_corrcoef(gold, pred))


def _correlation(function: Callable[[np.ndarray, np.ndarray], object]) -> Callable[[np.ndarray, np.ndarray], float]:
    def compute(pred: np.ndarray, gold: np.ndarray) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant input: scipy warns and returns NaN
            value = float(function(pred, gold)[0])  # type: ignore[index]
        return 0.0 if math.isnan(value) else value

    return compute


CLASSIFICATION_METRICS: dict[str, ClassMetric] = {
    "accuracy": _accuracy,
    "f1": _f1_binary,
    "f1_macro": _f1_macro,
    "matthews_corrcoef": _matthews,
}
REGRESSION_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "spearmanr": _correlation(stats.spearmanr),
    "pearsonr": _correlation(stats.pearsonr),
}


def predictions_from(task: TaskSpec, logits_or_predictions: np.ndarray) -> np.ndarray:
    """Class ids (argmax of ``(n, num_labels)`` logits, or given ids) or float scores for regression."""
    values = np.asarray(logits_or_predictions)
    if task.is_regression:
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]  # (n, 1) -> (n,)
        if values.ndim != 1:
            raise UsageError(f"regression outputs for {task.name!r} must have shape (n,) or (n, 1), "
                             f"got {values.shape}", where="compute_score")
        return values.astype(np.float64)
    if values.ndim == 2:
        if values.shape[1] != task.num_labels:
            raise UsageError(f"logits for {task.name!r} must have shape (n, {task.num_labels}), got "
                             f"{values.shape}", where="compute_score")
        return values.argmax(axis=1)
    if values.ndim != 1:
        raise UsageError(f"predictions for {task.name!r} must be (n,) class ids or (n, {task.num_labels}) "
                         f"logits, got shape {values.shape}", where="compute_score")
    if values.dtype.kind == "f" and not np.all(np.equal(np.mod(values, 1), 0)):
        raise UsageError(f"1-D predictions for {task.name!r} must be class ids, got non-integers",
                         where="compute_score")
    ids = values.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= task.num_labels):
        raise UsageError(f"class ids for {task.name!r} must lie in 0..{task.num_labels - 1}",
                         where="compute_score")
    return ids


def compute_score(task: TaskSpec | str, logits_or_predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Every metric of ``task`` (keys ``task.metric_names``) for these outputs against ``labels``."""
    task = get_task(task) if isinstance(task, str) else task
    predictions = predictions_from(task, logits_or_predictions)
    gold = np.asarray(labels).reshape(-1)
    if gold.shape[0] != predictions.shape[0] or gold.shape[0] == 0:
        raise UsageError(f"{predictions.shape[0]} predictions vs {gold.shape[0]} labels for {task.name!r}",
                         where="compute_score", expected="the same, non-zero number")
    if task.is_regression:
        gold_scores = gold.astype(np.float64)
        return {name: REGRESSION_METRICS[name](predictions, gold_scores) for name in task.metric_names}
    gold_ids = gold.astype(np.int64)
    return {name: CLASSIFICATION_METRICS[name](predictions, gold_ids, task.num_labels)
            for name in task.metric_names}
