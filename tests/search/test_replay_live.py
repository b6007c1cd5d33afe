"""Replays and resumes against real searches (slow: real training, about five minutes together).

A replay decides as the live search did: record a small search with no scheduler, run the same space
live with ASHA (same seed, one trial at a time) and replay ASHA on the recording: every trial stops at
the same epoch. A real search killed with SIGKILL and resumed decides as one never interrupted."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.search.helpers import SMALL_QUICKSTART, run_cli

pytestmark = pytest.mark.slow
QUICKSTART = "spaces/quickstart.yaml"
COMMON = [*SMALL_QUICKSTART, "--set", "num_samples=4", "--set", "train.max_epochs=3", "--set", "scheduler.max_t=3",
          "--set", "train.patience=3", "--set", "resources.max_concurrent_trials=1", "--set", "scheduler.reduction_factor=2",
          "--set", "search.algorithm=random",  # the quickstart's own is optuna_mo; the replay below is of random search
          "--set", "resources.cpu=2"]  # one trial at a time: it may use both cores


def _epochs_by_config(experiment: Path) -> dict[str, int]:
    out = {}
    for result_file in experiment.glob("trial_*/result.json"):
        rows = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
        config = {k: v for k, v in rows[0]["config"].items() if not k.startswith("_")}
        out[json.dumps(config, sort_keys=True)] = len(rows)
    return out


def test_replay_makes_the_live_searches_stop_decisions(tmp_path: Path, shared_data_dir: Path) -> None:
    import ray

    from analysis.recording import recording_from_experiment
    from search.replay.replay_search import replay, start_replay_ray

    def run(name: str, scheduler: str) -> Path:
        proc = run_cli(["run", QUICKSTART, "--storage", str(tmp_path), "--data-dir", str(shared_data_dir), *COMMON,
                        "--set", f"name={name}", "--set", f"scheduler.type={scheduler}"])
        assert proc.returncode == 0, proc.stderr[-3000:]
        return tmp_path / name

    recorded = run("recorded", "none")
    live = {"asha": _epochs_by_config(run("live_asha", "asha"))}
    recording, skipped = recording_from_experiment(recorded)
    assert not skipped and len(recording.trials) == 4
    keys = [json.dumps({**t.config, "method": "ttlora"}, sort_keys=True) for t in recording.trials]
    start_replay_ray(1)
    try:
        for scheduler, live_epochs in live.items():
            replayed = replay(recording, scheduler, "random", seed=0)  # the live searches' seed
            assert {keys[i]: n for i, n in replayed.epochs_by_record.items()} == live_epochs, scheduler
        assert sum(live["asha"].values()) < recording.trial_epochs  # ASHA did cut something here
    finally:
        ray.shutdown()


def test_killed_mo_asha_optuna_search_resumes_with_the_same_decisions(tmp_path: Path, shared_data_dir: Path) -> None:
    """A real search (multi-objective ASHA + Optuna TPE on val loss and size), killed with SIGKILL once a
    trial has finished and resumed with --resume, trains the same configurations and stops each at the
    same epoch as the same search run without interruption; the finished trials are not trained again."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.search.helpers import REPO_ROOT, cli_env, results, trial_dirs

    args = ["run", QUICKSTART, "--data-dir", str(shared_data_dir), *COMMON, "--set", "scheduler.type=mo_asha",
            "--set", "search.algorithm=optuna_mo", "--set", "num_samples=5"]
    whole = run_cli([*args, "--storage", str(tmp_path / "whole")])
    assert whole.returncode == 0, whole.stderr[-3000:]
    expected = _epochs_by_config(tmp_path / "whole" / "quickstart")

    storage = tmp_path / "killed"
    experiment = storage / "quickstart"
    driver = subprocess.Popen([sys.executable, "-m", "ttsearch", *args, "--storage", str(storage)], cwd=REPO_ROOT,
                              env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    def done(trial: Path) -> bool:
        rows = results(trial)
        return bool(rows) and bool(rows[-1].get("done_by_trainable"))

    reported, any_done = 0, False
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and (reported < 4 or not any_done):  # a third of the epochs, a trial done
            time.sleep(0.5)
            trials = trial_dirs(experiment) if experiment.is_dir() else []
            reported, any_done = sum(len(results(t)) for t in trials), any(done(t) for t in trials)
        assert reported >= 4 and any_done, "the search to kill had not reported 4 epochs and ended a trial in 300 s"
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    finished = {t.name: results(t) for t in trial_dirs(experiment) if done(t)}
    assert finished  # the check below must see a finished trial
    assert sum(len(results(t)) for t in trial_dirs(experiment)) < sum(expected.values())  # killed half-way
    resumed = run_cli([*args, "--storage", str(storage), "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _epochs_by_config(experiment) == expected
    for name, before in finished.items():
        assert results(experiment / name) == before  # kept as they were, not trained again
