"""The scheduler's memory across ``--resume`` (docs/ARCHITECTURE.md, "Front-filling search").

Ray Tune saves the searcher's state with its experiment state but not the scheduler's: on
``Tuner.restore`` the scheduler is the object pickled when the experiment started, with empty rungs
(ray-project/ray issue 30838), so the first trial after a resume is promoted whatever it scores.

Here the scheduler is wrapped in ``RememberingScheduler`` and a Tune callback, ``SchedulerMemory``,
hands its state to Tune's own callback checkpoint (saved in the experiment folder together with the
trial states, so the two always agree). The state is a pickle of the scheduler in which every Tune
``Trial`` is written as its trial id: on restore Tune builds new ``Trial`` objects and announces each
with ``on_trial_add``; the wrapper collects them and rebuilds the scheduler with them before its first
decision. Trials HyperBand had paused at a rung come back from Tune as PENDING; they are put back to
PAUSED, so they wait for their bracket as they did before the interruption.
"""
from __future__ import annotations

import io
import pickle
from typing import Any

from ray.cloudpickle import CloudPickler
from ray.tune import Callback
from ray.tune.experiment import Trial
from ray.tune.schedulers import HyperBandScheduler, TrialScheduler

from search.ray_compat.private_names import hyperband_brackets, hyperband_waiting_trials, set_trial_status
from search.strategies.wrapped_scheduler import WrappedScheduler

_TRIAL_TAG = "ttsearch-trial"


class _TrialIdPickler(CloudPickler):
    """cloudpickle (HyperBand keeps lambdas), with every ``Trial`` written as its id."""

    def __init__(self, handle: io.BytesIO) -> None:
        super().__init__(handle, protocol=pickle.HIGHEST_PROTOCOL)
        self.trial_ids: set[str] = set()

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, Trial):
            self.trial_ids.add(obj.trial_id)
            return (_TRIAL_TAG, obj.trial_id)
        return None


class _TrialIdUnpickler(pickle.Unpickler):
    def __init__(self, handle: io.BytesIO, trials: dict[str, Trial]) -> None:
        super().__init__(handle)
        self.trials = trials

    def persistent_load(self, pid: Any) -> Any:
        tag, trial_id = pid
        if tag != _TRIAL_TAG or trial_id not in self.trials:
            raise pickle.UnpicklingError(f"scheduler state names trial {trial_id!r}, which Tune did not restore")
        return self.trials[trial_id]


def dump_scheduler(scheduler: TrialScheduler) -> dict[str, Any]:
    """The scheduler's state: pickled bytes with trials as ids, and those ids."""
    handle = io.BytesIO()
    pickler = _TrialIdPickler(handle)
    pickler.dump(scheduler)
    return {"scheduler": handle.getvalue(), "trial_ids": sorted(pickler.trial_ids)}


def load_scheduler(state: dict[str, Any], trials: dict[str, Trial]) -> TrialScheduler:
    return _TrialIdUnpickler(io.BytesIO(state["scheduler"]), trials).load()


class RememberingScheduler(WrappedScheduler):
    """Delegates every decision to ``inner``; restores ``inner`` from a saved state on resume."""

    def __init__(self, inner: TrialScheduler) -> None:
        super().__init__(inner)
        self._pending: dict[str, Any] | None = None  # a saved state waiting for its trials
        self._restored: dict[str, Trial] = {}

    # -- state -----------------------------------------------------------------------------------
    def memory(self) -> dict[str, Any]:
        """The state to checkpoint; a restored state not yet rebuilt is passed on as it came."""
        return self._pending if self._pending is not None else dump_scheduler(self.inner)

    def remember(self, state: dict[str, Any]) -> None:
        """Called by ``SchedulerMemory.set_state`` before Tune re-adds the restored trials."""
        self._pending, self._restored = state, {}

    def _materialise(self, tune_controller: Any) -> None:
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        self.inner = load_scheduler(state, self._restored)
        if isinstance(self.inner, HyperBandScheduler) and tune_controller is not None:
            _repause_waiting_trials(self.inner, tune_controller)

    # -- the TrialScheduler interface (metric, buffering, search properties: WrappedScheduler) ----------
    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        if self._pending is not None:
            if trial.trial_id in self._pending["trial_ids"]:
                self._restored[trial.trial_id] = trial  # in the saved state already: not added twice
                return
            if trial.status in (Trial.TERMINATED, Trial.ERROR):
                return  # ended before the checkpoint and already forgotten by the scheduler
            # a trial the saved state never saw: Tune announces every restored trial before new ones
            self._materialise(tune_controller)
        self.inner.on_trial_add(tune_controller, trial)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        self._materialise(tune_controller)
        self.inner.on_trial_error(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        self._materialise(tune_controller)
        return self.inner.on_trial_result(tune_controller, trial, result)

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> None:
        self._materialise(tune_controller)
        self.inner.on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        self._materialise(tune_controller)
        self.inner.on_trial_remove(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        self._materialise(tune_controller)
        return self.inner.choose_trial_to_run(tune_controller)


def _repause_waiting_trials(scheduler: HyperBandScheduler, tune_controller: Any) -> None:
    """Trials that had reached their bracket's rung and were waiting (PAUSED) come back PENDING."""
    for bracket in hyperband_brackets(scheduler):
        if bracket.finished():
            continue
        for trial in hyperband_waiting_trials(bracket):
            if trial.status == Trial.PENDING and trial not in bracket.trials_to_unpause:
                set_trial_status(tune_controller, trial, Trial.PAUSED)


class SchedulerMemory(Callback):
    """Puts the scheduler's state into Tune's callback checkpoint and back (see the module docstring)."""

    def __init__(self, scheduler: RememberingScheduler) -> None:
        self.scheduler = scheduler

    def get_state(self) -> dict[str, Any] | None:
        return self.scheduler.memory()

    def set_state(self, state: dict[str, Any]) -> None:
        self.scheduler.remember(state)


__all__ = ["RememberingScheduler", "SchedulerMemory", "dump_scheduler", "load_scheduler"]
