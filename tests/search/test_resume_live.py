"""A real search killed with SIGKILL and resumed decides as one never interrupted (slow: real training)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.search.helpers import run_cli, wait_until_quiet
from tests.search.test_replay_live import COMMON, QUICKSTART, _epochs_by_config

pytestmark = pytest.mark.slow


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
        wait_until_quiet(experiment)
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
