"""The one place a Ray Tune ``Tuner`` is built or restored, for searches (``search/run/driver.py``) and
replays (``search/replay/replay_search.py``) alike, so both run under the same rules:

* a trial that stopped itself (early stop, max epochs) ends with that report
  (``stop={DONE_BY_TRAINABLE: True}``); without it HyperBand may pause the trial at that milestone and
  wait for a report that never comes;
* one checkpoint kept per trial (its latest; the best adapter is saved beside it);
* actors reused between trials (the frozen model stays loaded: ``search/trial/model_cache.py``);
* a scheduler that remembers its rungs saves them with Tune's experiment state (``SchedulerMemory``);
* Tune's own console output off (``verbose=0``): ``search/run/progress.py`` prints instead;
* a fit that Ctrl-C stopped is told from a finished one (``fit_tuner``).
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from ray import tune
from ray.tune import Callback

from search.strategies.scheduler_memory import RememberingScheduler, SchedulerMemory
from vocab.experiment_folder import MetricKey


@dataclass(frozen=True)
class TunerSettings:
    """What differs between a search's Tuner and a replay's."""

    name: str
    storage_path: str
    metric: str
    mode: str  # "min" or "max"
    num_samples: int
    callbacks: list[Callback] = field(default_factory=list)
    max_concurrent_trials: int | None = None
    trial_dirname_creator: Callable[[Any], str] | None = None
    max_failures: int = 0


def build_tuner(trainable: Any, param_space: dict[str, Any], scheduler: Any, search_alg: Any,
                settings: TunerSettings) -> tune.Tuner:
    callbacks = list(settings.callbacks)
    if isinstance(scheduler, RememberingScheduler):
        callbacks.append(SchedulerMemory(scheduler))
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=settings.metric, mode=settings.mode, scheduler=scheduler, search_alg=search_alg,
            num_samples=settings.num_samples, max_concurrent_trials=settings.max_concurrent_trials,
            reuse_actors=True, trial_dirname_creator=settings.trial_dirname_creator,
        ),
        run_config=tune.RunConfig(
            name=settings.name, storage_path=settings.storage_path, verbose=0, callbacks=callbacks,
            stop={MetricKey.DONE_BY_TRAINABLE.value: True},
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            failure_config=tune.FailureConfig(max_failures=settings.max_failures),
        ),
    )


def trainable_with(function: Any, resources: dict[str, float], **shared: Any) -> Any:
    """``function`` as Tune takes it: ``shared`` objects stored once in Ray's object store and handed to
    every trial (not copied into each config), each trial asking for ``resources``."""
    return tune.with_resources(tune.with_parameters(function, **shared), resources)


def can_restore(experiment_dir: str) -> bool:
    """Whether ``experiment_dir`` holds a Tune experiment (its ``tuner.pkl``) to resume."""
    return tune.Tuner.can_restore(experiment_dir)


def restore_tuner(experiment_dir: str, trainable: Any) -> tune.Tuner:
    """An interrupted experiment, resumed: unfinished and errored trials go on from their checkpoints
    (errored ones resumed, not restarted from scratch); the scheduler and searcher come back with it."""
    return tune.Tuner.restore(experiment_dir, trainable=trainable, resume_unfinished=True, resume_errored=True,
                              restart_errored=False)


# What ray/tune/tune.py logs (logger "ray.tune.tune") when the first SIGINT or a SIGUSR1 ended the run.
TUNE_INTERRUPTED_LOG = "has been interrupted, but the most recent state was"  # "... saved" follows
_TUNE_SIGNALS = (signal.SIGINT, signal.SIGUSR1)  # the signals Tune catches during a fit


class _InterruptionWatch(logging.Handler):
    """Notes Tune's "interrupted" warning while a fit runs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = False

    def emit(self, record: logging.LogRecord) -> None:
        self.seen = self.seen or TUNE_INTERRUPTED_LOG in record.getMessage()


def _ctrl_c(signum: int, frame: Any) -> None:
    """Python's own SIGINT behaviour, as a handler of our own that Tune saves as the one to restore."""
    raise KeyboardInterrupt


def _tune_catches_signals() -> bool:
    """Whether Tune installs its handlers in this fit (ray/tune/tune.py, ``_setup_signal_catching``)."""
    return (threading.current_thread() is threading.main_thread()
            and not int(os.environ.get("TUNE_DISABLE_SIGINT_HANDLER", "0")))


def fit_tuner(tuner: tune.Tuner) -> tuple[Any, bool]:
    """``tuner.fit()`` and whether it was interrupted. Tune catches the first Ctrl-C (SIGINT) and SIGUSR1,
    saves its state and returns as if the run had ended, so a caller that took the grid for finished
    would mark the experiment done and go on (held-out pass, confirmation). Interrupted when any of:
    Tune's handler ran (it puts back the SIGINT handler it found, here ``_ctrl_c``), Tune logged so (where
    logging lets the warning through), or a trial is neither terminated nor errored. The handlers found
    are put back afterwards: Tune leaves its own installed after a fit that ended by itself, which would
    swallow the next Ctrl-C (during the held-out pass, say)."""
    catches = _tune_catches_signals()
    found = {sig: signal.getsignal(sig) for sig in _TUNE_SIGNALS} if catches else {}
    watch, tune_logger = _InterruptionWatch(), logging.getLogger("ray.tune.tune")
    tune_logger.addHandler(watch)
    if catches:
        signal.signal(signal.SIGINT, _ctrl_c)
    try:
        grid = tuner.fit()
        handled = catches and signal.getsignal(signal.SIGINT) is _ctrl_c
    finally:
        tune_logger.removeHandler(watch)
        for sig, handler in found.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    unfinished = len(grid) - grid.num_terminated - grid.num_errors
    return grid, handled or watch.seen or unfinished > 0


__all__ = ["TunerSettings", "build_tuner", "restore_tuner", "trainable_with", "can_restore", "fit_tuner",
           "TUNE_INTERRUPTED_LOG"]
