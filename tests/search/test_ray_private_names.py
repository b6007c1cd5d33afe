"""Every private Ray name ttsearch uses, exercised on real Ray objects of the installed version: a Ray
upgrade that renames or removes one fails here, loudly, naming it (search/ray_compat/private_names.py)."""
from __future__ import annotations

import ast
from pathlib import Path

import ray
from ray.tune.experiment import Trial
from ray.tune.schedulers import AsyncHyperBandScheduler, HyperBandScheduler

from search.ray_compat import private_names as compat
from search.space.strategy_sections import SCHEDULERS
from search.strategies.factory import SCHEDULER_FACTORIES
from search.strategies.mo_asha import MultiObjectiveASHAScheduler

REPO = Path(__file__).resolve().parents[2]
NEWEST_TESTED_RAY = (2, 60)


def stub_trial(trial_id: str) -> Trial:
    return Trial("replay", trial_id=trial_id, stub=True)


def test_asha_accessors_on_a_real_scheduler() -> None:
    scheduler = AsyncHyperBandScheduler(time_attr="epoch", metric="val_loss", mode="min", max_t=9, grace_period=1,
                                         reduction_factor=3)
    settings = compat.asha_settings(scheduler)
    assert settings == compat.AshaSettings("epoch", "val_loss", -1.0, 9, True)
    trial = stub_trial("t1")
    scheduler.on_trial_add(None, trial)
    (bracket,) = set(compat.asha_trial_brackets(scheduler).values())
    assert isinstance(bracket, compat.AshaBracket)
    assert [milestone for milestone, _ in compat.asha_bracket_rungs(bracket)] == [9, 3, 1]
    scheduler.on_trial_result(None, trial, {"epoch": 1, "val_loss": 0.5})
    assert dict(compat.asha_bracket_rungs(bracket))[1] == {"t1": -0.5}  # metric_op applied: maximised internally
    compat.count_asha_stop(scheduler)
    assert scheduler._num_stopped == 1  # noqa: SLF001


def test_multi_objective_asha_replaces_its_brackets() -> None:
    scheduler = MultiObjectiveASHAScheduler("epoch", max_t=3, metric="val_loss", mode="min")
    trial = stub_trial("t1")
    scheduler.on_trial_add(None, trial)
    assert type(compat.asha_trial_brackets(scheduler)["t1"]).__name__ == "_MultiObjectiveBracket"
    assert scheduler.on_trial_result(None, trial, {"epoch": 1, "val_loss": 0.5, "adapter_params": 10}) == "CONTINUE"


def test_hyperband_accessors_on_a_real_scheduler() -> None:
    scheduler = HyperBandScheduler(time_attr="epoch", metric="val_loss", mode="min", max_t=3, reduction_factor=3)
    trials = [stub_trial(f"t{i}") for i in range(3)]
    for trial in trials:
        scheduler.on_trial_add(None, trial)
    brackets = compat.hyperband_brackets(scheduler)
    assert brackets and all(hasattr(b, "trials_to_unpause") for b in brackets)
    assert all(compat.hyperband_waiting_trials(b) == [] for b in brackets)  # no results yet: nobody waits


def test_the_controller_setter_and_the_session_getter_exist() -> None:
    from ray.tune.execution.tune_controller import TuneController

    assert callable(getattr(TuneController, "_set_trial_status", None)), "TuneController._set_trial_status is gone"
    import ray._private.worker

    assert hasattr(ray._private.worker, "_global_node"), "ray._private.worker._global_node is gone"  # noqa: SLF001
    assert compat.tune_random_state(7).uniform() == compat.tune_random_state(7).uniform()  # seeded


def test_ray_is_within_the_tested_versions() -> None:
    """``pyproject.toml`` bounds ray below the next minor version; this is the version last tested."""
    major, minor = (int(part) for part in ray.__version__.split(".")[:2])
    assert (major, minor) <= NEWEST_TESTED_RAY, f"ray {ray.__version__} is newer than the tested {NEWEST_TESTED_RAY}"
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'"ray[tune,default]>=2.40,<{NEWEST_TESTED_RAY[0]}.{NEWEST_TESTED_RAY[1] + 1}"' in pyproject


def test_no_private_ray_name_outside_the_compat_room() -> None:
    problems = []
    for path in sorted((REPO / "search").rglob("*.py")):
        if "ray_compat" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        if "SLF001" in text or "._private" in text:
            problems.append(f"{path.relative_to(REPO)}: a private name (noqa SLF001 or ._private)")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ray"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private or any(part.startswith("_") for part in (node.module or "").split(".")):
                    problems.append(f"{path.relative_to(REPO)}:{node.lineno} imports {node.module} {private}")
    assert not problems, "\n".join(problems)


def test_every_scheduler_name_has_a_factory() -> None:
    assert set(SCHEDULER_FACTORIES) == set(SCHEDULERS)


def test_tunes_interrupted_warning_is_the_one_fit_tuner_watches_for() -> None:
    """``fit_tuner`` tells a Ctrl-C'd fit by Tune's warning (and by unfinished trials); a Ray that rewords
    it fails here rather than weakening the check silently."""
    import inspect

    import ray.tune.tune as tune_run

    from search.strategies.tuner import TUNE_INTERRUPTED_LOG

    source = inspect.getsource(tune_run)
    assert TUNE_INTERRUPTED_LOG in source and 'logging.getLogger(__name__)' in source
    assert "num_terminated" in dir(ray.tune.ResultGrid) and "num_errors" in dir(ray.tune.ResultGrid)
