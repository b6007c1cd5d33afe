"""A first rung that waits for a signal (``scheduler.grace_until_signal``; docs/ARCHITECTURE.md, "The
first rung").

On small classification splits every trial can still predict the majority class after epoch 1: the
val losses at ASHA's first rung then differ by noise, and the rung cuts trials by a coin toss. This
wrapper holds the ASHA scheduler's cuts until some trial's validation predictions take more than one
class (``MetricKey.VAL_CLASSES_PREDICTED``): until then every result is withheld from the scheduler
(the trial continues and nothing is recorded at a rung); the first result that shows the signal, at
epoch E, moves the first rung to max(grace_period, E) (the scheduler is rebuilt with that grace period
and the live trials re-added to it, before any rung holds a record), and from then on every result
goes to the scheduler. One signal for the whole search, kept across ``--resume`` (this object is part
of the state ``RememberingScheduler`` saves). A report without the key (an older recording) or of a
regression task (no classes) counts as a signal: the first rung is then ``grace_period``. A result at
``max_t`` always reaches the scheduler, which stops the trial there as it would without the wait.

For the ASHA schedulers only (``asha``, ``banded``, ``mo_asha``): HyperBand needs every result to keep
its brackets' budgets, and ``none`` cuts nothing.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from search.strategies.wrapped_scheduler import WrappedScheduler
from vocab.experiment_folder import MetricKey

CLASSES_KEY = MetricKey.VAL_CLASSES_PREDICTED.value
EPOCH_KEY = MetricKey.EPOCH.value


def shows_signal(result: dict[str, Any]) -> bool:
    """False only for a report whose validation predictions took a single class."""
    classes = result.get(CLASSES_KEY)
    if classes is None or (isinstance(classes, float) and math.isnan(classes)):
        return True
    return int(classes) != 1


class SignalGraceScheduler(WrappedScheduler):
    """Withholds results from ``build(grace_period)`` until the first signal; see the module docstring.

    ``build`` makes the wrapped scheduler for a grace period; it is pickled with the state (cloudpickle)."""

    def __init__(self, build: Callable[[int], TrialScheduler], grace_period: int, max_t: int) -> None:
        super().__init__(build(grace_period))
        self.build, self.grace_period, self.max_t = build, grace_period, max_t
        self.signal_epoch: int | None = None  # the epoch of the first report that showed the signal
        self.live: dict[str, Trial] = {}  # added and not ended: re-added when the scheduler is rebuilt
        self._search_properties: tuple[str | None, str | None, dict[str, Any]] | None = None

    @property
    def first_rung(self) -> int | None:
        """The epoch of the first rung, once a signal fixed it (None: still waiting)."""
        return None if self.signal_epoch is None else max(self.grace_period, self.signal_epoch)

    def _withheld(self, tune_controller: Any, result: dict[str, Any]) -> bool:
        """Whether this result is kept from the scheduler (and the search's signal, when it is one)."""
        if self.signal_epoch is not None:
            return False
        if not shows_signal(result):
            return int(result.get(EPOCH_KEY, 0)) < self.max_t  # at max_t the scheduler stops it, recording nothing
        self._signal(tune_controller, result)
        return False

    def _signal(self, tune_controller: Any, result: dict[str, Any]) -> None:
        self.signal_epoch = int(result.get(EPOCH_KEY, self.grace_period))
        if self.signal_epoch <= self.grace_period:
            return
        self.inner = self.build(self.signal_epoch)  # nothing was recorded yet: a fresh scheduler loses nothing
        if self._search_properties is not None:
            metric, mode, spec = self._search_properties
            self.inner.set_search_properties(metric, mode, **spec)
        for trial in self.live.values():
            self.inner.on_trial_add(tune_controller, trial)

    # -- the TrialScheduler interface (metric and buffering: WrappedScheduler) -------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        accepted = super().set_search_properties(metric, mode, **spec)
        if accepted:
            self._search_properties = (metric, mode, spec)
        return accepted

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        self.live[trial.trial_id] = trial
        self.inner.on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        if self._withheld(tune_controller, result):
            return TrialScheduler.CONTINUE  # no rung sees a one-class score before the signal
        return self.inner.on_trial_result(tune_controller, trial, result)

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> None:
        self.live.pop(trial.trial_id, None)
        if not result or self._withheld(tune_controller, result):
            self.inner.on_trial_remove(tune_controller, trial)  # its one-class scores set no cutoff
        else:
            self.inner.on_trial_complete(tune_controller, trial, result)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        self.live.pop(trial.trial_id, None)
        self.inner.on_trial_error(tune_controller, trial)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        self.live.pop(trial.trial_id, None)
        self.inner.on_trial_remove(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        return self.inner.choose_trial_to_run(tune_controller)

    def debug_string(self) -> str:
        if self.signal_epoch is None:
            waiting = "waiting for a trial to leave the majority class"
        else:
            waiting = f"first rung at epoch {self.first_rung}"
        return f"{super().debug_string()} ({waiting})"


__all__ = ["SignalGraceScheduler", "shows_signal"]
