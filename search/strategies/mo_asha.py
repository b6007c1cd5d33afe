"""Multi-objective ASHA: successive halving on (val loss, adapter parameters) at once (docs/ARCHITECTURE.md,
"Front-filling search").

Tune's ``AsyncHyperBandScheduler`` with its rungs' rule replaced: at each rung a trial continues when it
is among the best ``1/reduction_factor`` of the trials recorded there by non-dominated sorting of
(val loss, adapter parameters), both minimised. The smallest adapter seen at a rung is never dominated,
so the small adapters a compression search is after are not cut for learning slower than large ones,
while a large adapter is cut as soon as smaller ones match its loss. The adapter size is reported with
every result (``MetricKey.ADAPTER_PARAMS``, known before training).
"""
from __future__ import annotations

import math
from typing import Any

from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler

from search.ray_compat.private_names import (
    AshaBracket,
    asha_bracket_rungs,
    asha_settings,
    asha_trial_brackets,
    count_asha_stop,
    set_asha_brackets,
)
from vocab.experiment_folder import MetricKey

SIZE_KEY = MetricKey.ADAPTER_PARAMS.value


def front_ranks(points: list[tuple[float, float]]) -> list[int]:
    """Non-dominated sorting (both minimised): 0 for the first front, 1 for the next, ...; NaN losses
    rank last."""
    ranks = [-1] * len(points)
    remaining = [i for i, (loss, _) in enumerate(points) if not math.isnan(loss)]
    rank = 0
    while remaining:
        front = [i for i in remaining
                 if not any(points[j][0] <= points[i][0] and points[j][1] <= points[i][1] and points[j] != points[i]
                            for j in remaining)]
        for i in front:
            ranks[i] = rank
        remaining = [i for i in remaining if ranks[i] < 0]
        rank += 1
    return [r if r >= 0 else rank for r in ranks]


def continues(points: list[tuple[float, float]], current: int, reduction_factor: float) -> bool:
    """Whether ``points[current]`` is within the best ceil(n / reduction_factor) of ``points`` by front
    rank (a whole front at the boundary continues: no arbitrary tie-break inside a front)."""
    ranks = front_ranks(points)
    keep = max(1, math.ceil(len(points) / reduction_factor))
    better = sum(1 for r in ranks if r < ranks[current])
    return better < keep


class _MultiObjectiveBracket(AshaBracket):
    """ASHA's bracket with rungs recording (loss, size) and the non-dominated rule above."""

    def on_result(self, trial: Any, cur_iter: int, cur_rew: Any) -> str:  # cur_rew: (loss, size)
        action = TrialScheduler.CONTINUE
        for milestone, recorded in asha_bracket_rungs(self):
            if cur_iter < milestone or trial.trial_id in recorded:
                continue
            points = [*recorded.values(), cur_rew]
            if recorded and not continues(points, len(points) - 1, self.rf):
                action = TrialScheduler.STOP
            recorded[trial.trial_id] = cur_rew
            break
        return action


class MultiObjectiveASHAScheduler(AsyncHyperBandScheduler):
    """ASHA whose rungs keep the non-dominated best of (val loss, adapter params); see the module."""

    def __init__(self, time_attr: str, max_t: int, grace_period: int = 1, reduction_factor: float = 3.0,
                 metric: str | None = None, mode: str | None = None) -> None:
        super().__init__(time_attr=time_attr, metric=metric, mode=mode, max_t=max_t, grace_period=grace_period,
                         reduction_factor=reduction_factor, brackets=1)
        set_asha_brackets(self, [_MultiObjectiveBracket(grace_period, max_t, reduction_factor, 0)])

    def _point(self, result: dict[str, Any]) -> tuple[float, float] | None:
        settings = asha_settings(self)
        if settings.time_attr not in result or settings.metric not in result or SIZE_KEY not in result:
            return None
        loss = -settings.metric_op * float(result[settings.metric])  # minimised whatever the mode
        return loss, float(result[SIZE_KEY])

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        point = self._point(result)
        if point is None:
            return TrialScheduler.CONTINUE
        settings = asha_settings(self)
        if result[settings.time_attr] >= settings.max_t and settings.stop_last_trials:
            action = TrialScheduler.STOP
        else:
            action = asha_trial_brackets(self)[trial.trial_id].on_result(trial, result[settings.time_attr], point)
        if action == TrialScheduler.STOP:
            count_asha_stop(self)
        return action

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        point, brackets = self._point(result or {}), asha_trial_brackets(self)
        if point is not None and trial.trial_id in brackets:
            brackets[trial.trial_id].on_result(trial, result[asha_settings(self).time_attr], point)
        brackets.pop(trial.trial_id, None)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        asha_trial_brackets(self).pop(trial.trial_id, None)


__all__ = ["MultiObjectiveASHAScheduler", "front_ranks", "continues"]
