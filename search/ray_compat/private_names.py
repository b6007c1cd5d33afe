"""Every private Ray name ttsearch uses, each behind one accessor with a comment saying why.

Ray Tune's schedulers keep their rungs and brackets in private attributes, and some of our schedulers
extend them (``search/strategies/mo_asha.py``, ``banded_asha.py``) or restore them across ``--resume``
(``scheduler_memory.py``). Nothing else in ttsearch may name a private Ray attribute;
``tests/search/test_ray_private_names.py`` exercises every accessor on real Ray objects, and
``pyproject.toml`` bounds ``ray`` at the newest version that test has passed on (2.60).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# ASHA's bracket: multi-objective ASHA subclasses it to record (loss, size) in its rungs.
from ray.tune.schedulers.async_hyperband import _Bracket as AshaBracket


@dataclass(frozen=True)
class AshaSettings:
    """What an ``AsyncHyperBandScheduler`` was configured with (Tune sets metric and mode late)."""

    time_attr: str
    metric: str
    metric_op: float  # 1.0 when maximising, -1.0 when minimising
    max_t: int
    stop_last_trials: bool


def asha_settings(scheduler: Any) -> AshaSettings:
    # ASHA keeps its settings in private fields only; no getters exist.
    return AshaSettings(scheduler._time_attr, scheduler._metric, scheduler._metric_op,  # noqa: SLF001
                        scheduler._max_t, scheduler._stop_last_trials)  # noqa: SLF001


def set_asha_brackets(scheduler: Any, brackets: list[Any]) -> None:
    # ASHA builds its own brackets in __init__; multi-objective ASHA replaces them with its own kind.
    scheduler._brackets = brackets  # noqa: SLF001


def asha_trial_brackets(scheduler: Any) -> dict[str, Any]:
    # trial id -> the bracket the trial was added to (ASHA's ``_trial_info``): banded ASHA asks whether a
    # band knows a trial, multi-objective ASHA routes results to the trial's bracket.
    return scheduler._trial_info  # noqa: SLF001


def count_asha_stop(scheduler: Any) -> None:
    # ASHA's count of stopped trials, shown in its debug string; kept true for our overriding on_trial_result.
    scheduler._num_stopped += 1  # noqa: SLF001


def asha_bracket_rungs(bracket: Any) -> list[tuple[int, dict[str, Any]]]:
    # (milestone, trial id -> recorded value) per rung of an ASHA bracket, highest milestone first.
    return bracket._rungs  # noqa: SLF001


def hyperband_brackets(scheduler: Any) -> list[Any]:
    # Every bracket of every band of a HyperBandScheduler (``_hyperbands``: a list of bands of brackets).
    return [bracket for band in scheduler._hyperbands for bracket in band if bracket is not None]  # noqa: SLF001


def hyperband_waiting_trials(bracket: Any) -> list[Any]:
    # Trials of a HyperBand bracket that reached its current rung and wait for the others (``_live_trials``
    # with their last result, ``_get_result_time`` and the rung's cumulative budget ``_cumul_r``).
    return [trial for trial, result in bracket._live_trials.items()  # noqa: SLF001
            if result is not None and bracket._get_result_time(result) >= bracket._cumul_r]  # noqa: SLF001


def set_trial_status(tune_controller: Any, trial: Any, status: str) -> None:
    # The controller's status setter; Tune's own HyperBand calls it, and schedulers are its intended users.
    tune_controller._set_trial_status(trial, status)  # noqa: SLF001


def tune_random_state(seed: int) -> Any:
    # The seeded generator ``BasicVariantGenerator(random_state=seed)`` draws from: replay re-draws the
    # driver's random search with it, so the same seed proposes the same configurations.
    from ray.tune.search.sample import _BackwardsCompatibleNumpyRng

    return _BackwardsCompatibleNumpyRng(seed)


def ray_session_dir() -> Path:
    # The running Ray session's folder (its logs are linked into the experiment folder); no public getter.
    import ray._private.worker

    return Path(ray._private.worker._global_node.get_session_dir_path())  # noqa: SLF001


# The names above and where each is used (printed by the test, and in docs/ARCHITECTURE.md).
PRIVATE_RAY_NAMES: dict[str, str] = {
    "ray.tune.schedulers.async_hyperband._Bracket": "search/strategies/mo_asha.py (subclassed)",
    "AsyncHyperBandScheduler._time_attr/_metric/_metric_op/_max_t/_stop_last_trials": "search/strategies/mo_asha.py",
    "AsyncHyperBandScheduler._brackets": "search/strategies/mo_asha.py",
    "AsyncHyperBandScheduler._trial_info": "search/strategies/mo_asha.py, search/strategies/banded_asha.py",
    "AsyncHyperBandScheduler._num_stopped": "search/strategies/mo_asha.py",
    "async_hyperband._Bracket._rungs": "search/strategies/mo_asha.py",
    "HyperBandScheduler._hyperbands": "search/strategies/scheduler_memory.py",
    "hyperband._Bracket._live_trials/_get_result_time/_cumul_r": "search/strategies/scheduler_memory.py",
    "TuneController._set_trial_status": "search/strategies/scheduler_memory.py",
    "ray.tune.search.sample._BackwardsCompatibleNumpyRng": "search/replay/replay_search.py",
    "ray._private.worker._global_node": "search/run/driver.py",
}

__all__ = ["AshaBracket", "AshaSettings", "asha_settings", "set_asha_brackets", "asha_trial_brackets",
           "count_asha_stop", "asha_bracket_rungs", "hyperband_brackets", "hyperband_waiting_trials",
           "set_trial_status", "tune_random_state", "ray_session_dir", "PRIVATE_RAY_NAMES"]
