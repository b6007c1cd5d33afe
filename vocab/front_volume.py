"""The front as one number: the hypervolume of the (log10 adapter parameters, score) front.

Both ``search`` (replay) and ``analysis`` (reports, ``ttsearch ls``) compute it, so it lives here,
standard library only. Parameters are minimised on a log axis (an adapter ten times smaller counts the
same at every size), the score is maximised. The area is measured against a fixed reference point,
stated here and printed with every figure (docs/ARCHITECTURE.md, "Front-filling search"):

* parameters: full fine-tuning of the target matrices (``ExperimentMeta.full_params``). An adapter at
  least that large buys nothing over training the matrices themselves.
* score: ``SCORE_FLOORS`` by metric name: 0.5 for accuracy and F1 (a coin flip on a binary task),
  0.0 for correlations (Matthews, Spearman, Pearson: no better than chance); anything else 0.0.

Points at or beyond the reference on either axis add nothing; NaN points are ignored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

SCORE_FLOORS: dict[str, float] = {"accuracy": 0.5, "f1": 0.5}
DEFAULT_SCORE_FLOOR = 0.0


@dataclass(frozen=True)
class ReferencePoint:
    """The worst corner of the area: ``params`` (as a count, not its log) and ``score``."""

    params: float
    score: float

    def describe(self) -> str:
        return f"reference point: {self.params:,.0f} params (log10 {math.log10(self.params):.3f}), score {self.score:g}"


def reference_point(score_name: str, full_params: float) -> ReferencePoint:
    """The reference for a task metric and the full fine-tuning count of the targets."""
    if not full_params or full_params <= 1:
        raise ValueError(f"full_params must be above 1 to put a reference point on a log axis (got {full_params!r})")
    return ReferencePoint(float(full_params), SCORE_FLOORS.get(score_name, DEFAULT_SCORE_FLOOR))


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def hypervolume(points: Iterable[tuple[float, float]], ref: ReferencePoint) -> float:
    """Area dominated by ``points`` = (params, score) pairs, in (log10 params) x score units.

    Sweep by parameters ascending: between one point's log size and the next, the area's height is the
    best score of any point so far (a smaller adapter's score also covers every larger size)."""
    kept = sorted((math.log10(p), s) for p, s in points
                  if _finite(p) and _finite(s) and 0 < p < ref.params and s > ref.score)
    if not kept:
        return 0.0
    x_ref = math.log10(ref.params)
    area, best = 0.0, ref.score
    for i, (x, score) in enumerate(kept):
        best = max(best, score)
        x_next = kept[i + 1][0] if i + 1 < len(kept) else x_ref
        area += (x_next - x) * (best - ref.score)
    return area


def anytime_hypervolume(events: Iterable[tuple[str, float, float]], ref: ReferencePoint) -> list[float]:
    """Hypervolume after each trial-epoch. ``events``: (trial id, params, score of the trial's selected
    epoch so far) in the order they were reported; a later event of a trial replaces its earlier one."""
    current: dict[str, tuple[float, float]] = {}
    curve = []
    for trial_id, params, score in events:
        current[trial_id] = (params, score)
        curve.append(hypervolume(current.values(), ref))
    return curve


def epochs_to_reach(curve: list[float], target: float) -> int | None:
    """Trial-epochs (1-based) after which ``curve`` first reaches ``target``; None if it never does."""
    for i, value in enumerate(curve):
        if value >= target - 1e-12:
            return i + 1
    return None


def value_at(curve: list[float], epochs: int) -> float:
    """The curve's value after ``epochs`` trial-epochs (its last value when it spent fewer)."""
    if not curve or epochs <= 0:
        return 0.0
    return curve[min(epochs, len(curve)) - 1]


__all__ = ["ReferencePoint", "reference_point", "hypervolume", "anytime_hypervolume", "epochs_to_reach",
           "value_at", "SCORE_FLOORS"]
