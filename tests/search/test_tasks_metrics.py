"""compute_score against hand-computed values and against scikit-learn/scipy directly."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from search.tasks import TASKS, compute_score, get_task
from vocab.errors import UsageError


def test_binary_f1_and_matthews_by_hand() -> None:
    # TP = 2 (rows 0, 4), FP = 1 (row 1), FN = 1 (row 3), TN = 2
    predictions = np.array([1, 1, 0, 0, 1, 0])
    labels = np.array([1, 0, 0, 1, 1, 0])
    mrpc = compute_score("mrpc", predictions, labels)
    assert mrpc["f1"] == pytest.approx(2 / 3)  # precision 2/3, recall 2/3
    assert mrpc["accuracy"] == pytest.approx(4 / 6)
    assert mrpc["matthews_corrcoef"] == pytest.approx(1 / 3)  # (2*2 - 1*1) / sqrt(3*3*3*3)
    cola = compute_score("cola", predictions, labels)
    assert list(cola) == ["matthews_corrcoef", "accuracy"] and cola["matthews_corrcoef"] == pytest.approx(1 / 3)


def test_cb_macro_f1_by_hand_and_from_logits() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2])
    predictions = np.array([0, 1, 1, 1, 2, 0])
    # per class F1: entailment 0.5, contradiction 0.8, neutral 2/3
    expected = (0.5 + 0.8 + 2 / 3) / 3
    scores = compute_score("cb", predictions, labels)
    assert scores["f1_macro"] == pytest.approx(expected) and scores["accuracy"] == pytest.approx(4 / 6)
    logits = np.eye(3)[predictions] * 2.0 - 1.0  # (6, 3), argmax = predictions
    assert compute_score("cb", logits, labels) == scores


def test_wsc_f1_is_binary_on_label_true() -> None:
    labels = np.array([1, 0, 0, 0])
    always_true = compute_score("wsc", np.ones(4, dtype=int), labels)
    assert always_true["f1"] == pytest.approx(2 * 0.25 * 1.0 / 1.25)  # precision 1/4, recall 1
    always_false = compute_score("wsc", np.zeros(4, dtype=int), labels)
    assert always_false["f1"] == 0.0 and always_false["accuracy"] == 0.75


def test_stsb_spearman_and_pearson_by_hand() -> None:
    predictions = np.array([[1.0], [2.0], [3.0], [4.0]])  # (n, 1) like a regression head
    labels = np.array([1.0, 3.0, 2.0, 4.0])
    scores = compute_score("stsb", predictions, labels)
    assert scores["spearmanr"] == pytest.approx(0.8)  # 1 - 6*2 / (4*15)
    assert scores["pearsonr"] == pytest.approx(0.8)  # covariance 4 / sqrt(5*5)
    constant = compute_score("stsb", np.full(4, 2.5), labels)
    assert constant == {"spearmanr": 0.0, "pearsonr": 0.0}


def test_every_task_agrees_with_sklearn_and_scipy_on_random_outputs() -> None:
    rng = np.random.default_rng(0)
    for task in TASKS.values():
        if task.is_regression:
            gold = rng.uniform(0, 5, 200)
            pred = gold + rng.normal(0, 1.5, 200)
            scores = compute_score(task, pred, gold)
            assert scores["spearmanr"] == pytest.approx(stats.spearmanr(pred, gold)[0])
            assert scores["pearsonr"] == pytest.approx(stats.pearsonr(pred, gold)[0])
            continue
        gold = rng.integers(0, task.num_labels, 200)
        logits = rng.normal(size=(200, task.num_labels))
        pred = logits.argmax(axis=1)
        scores = compute_score(task, logits, gold)
        assert list(scores) == list(task.metric_names)
        reference = {
            "accuracy": skm.accuracy_score(gold, pred),
            "f1": skm.f1_score(gold, pred) if task.num_labels == 2 else math.nan,
            "f1_macro": skm.f1_score(gold, pred, average="macro"),
            "matthews_corrcoef": skm.matthews_corrcoef(gold, pred),
        }
        for name, value in scores.items():
            assert value == pytest.approx(reference[name]), (task.name, name)


@pytest.mark.parametrize("task, outputs, labels, fragment", [
    ("cb", np.zeros((4, 2)), np.zeros(4), "shape (n, 3)"),
    ("mrpc", np.array([0, 1, 2]), np.zeros(3), "0..1"),
    ("mrpc", np.array([0.5, 1.0]), np.zeros(2), "class ids"),
    ("mrpc", np.array([0, 1]), np.zeros(3), "2 predictions vs 3 labels"),
    ("stsb", np.zeros((3, 2)), np.zeros(3), "(n,) or (n, 1)"),
    ("sst2", np.zeros((0, 2)), np.zeros(0), "non-zero"),
])
def test_bad_outputs_are_usage_errors(task: str, outputs: np.ndarray, labels: np.ndarray, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        compute_score(get_task(task), outputs, labels)
    assert fragment in str(info.value)
