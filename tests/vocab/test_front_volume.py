"""Hypervolume of (log10 params, score) fronts against hand-computed areas."""
from __future__ import annotations

import math

import pytest

from vocab.front_volume import (
    ReferencePoint,
    anytime_hypervolume,
    epochs_to_reach,
    hypervolume,
    reference_point,
    value_at,
)

REF = ReferencePoint(params=10_000, score=0.5)  # log10 = 4


def test_single_point() -> None:
    # from log10(100) = 2 to 4, height 0.8 - 0.5
    assert hypervolume([(100, 0.8)], REF) == pytest.approx(2 * 0.3)


def test_two_point_staircase() -> None:
    # (10, 0.6): 1..4 at 0.1, plus (1000, 0.9): 3..4 at a further 0.3
    assert hypervolume([(1000, 0.9), (10, 0.6)], REF) == pytest.approx(3 * 0.1 + 1 * 0.3)


def test_dominated_points_add_nothing() -> None:
    front = [(10, 0.6), (1000, 0.9)]
    assert hypervolume(front + [(100, 0.55), (5000, 0.7)], REF) == pytest.approx(hypervolume(front, REF))


def test_ties_in_size_and_score() -> None:
    # same size twice: the better score counts; same score twice: the smaller size counts
    assert hypervolume([(100, 0.7), (100, 0.8)], REF) == pytest.approx(2 * 0.3)
    assert hypervolume([(100, 0.8), (1000, 0.8)], REF) == pytest.approx(2 * 0.3)


def test_nan_and_points_beyond_the_reference_are_ignored() -> None:
    points = [(100, math.nan), (math.nan, 0.9), (20_000, 0.95), (100, 0.4), (0, 0.9), (1000, 0.8)]
    assert hypervolume(points, REF) == pytest.approx(1 * 0.3)
    assert hypervolume([], REF) == 0.0


def test_reference_point_by_metric() -> None:
    assert reference_point("accuracy", 1_769_472) == ReferencePoint(1_769_472.0, 0.5)
    assert reference_point("matthews_corrcoef", 100).score == 0.0
    with pytest.raises(ValueError, match="full_params"):
        reference_point("accuracy", 0)


def test_anytime_curve_replaces_a_trials_earlier_epoch() -> None:
    events = [("a", 100, 0.6), ("b", 1000, 0.7), ("a", 100, 0.8)]
    curve = anytime_hypervolume(events, REF)
    assert curve == pytest.approx([2 * 0.1, 2 * 0.1 + 1 * 0.1, 2 * 0.3])
    assert epochs_to_reach(curve, 0.3) == 2 and epochs_to_reach(curve, 0.61) is None
    assert value_at(curve, 2) == pytest.approx(0.3) and value_at(curve, 99) == pytest.approx(0.6)
    assert value_at([], 3) == 0.0
