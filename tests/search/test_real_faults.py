"""Real faults on real searches: a trial's worker process killed with SIGKILL mid-epoch (as the kernel's
OOM killer would) is retried from its last checkpoint and trains what an uninterrupted run trains."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.search.helpers import ONE_TRIAL_THREE_EPOCHS, REPO_ROOT, cli_env, results, run_cli, trial_dirs
from vocab.experiment_folder import MetricKey

pytestmark = pytest.mark.slow
TUNE_PID_KEY = "pid"  # Tune adds the reporting process's pid to every result


def test_a_sigkilled_trial_worker_resumes_from_its_checkpoint(tmp_path: Path, shared_data_dir: Path,
                                                              uninterrupted_trial: Path) -> None:
    args = ["run", "spaces/quickstart.yaml", "--data-dir", str(shared_data_dir), *ONE_TRIAL_THREE_EPOCHS]
    clean_trial = uninterrupted_trial

    experiment = tmp_path / "killed" / "quickstart"
    driver = subprocess.Popen([sys.executable, "-m", "ttsearch", *args, "--storage", str(tmp_path / "killed")],
                              cwd=REPO_ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        deadline, worker = time.monotonic() + 300, None
        while time.monotonic() < deadline and worker is None:
            time.sleep(0.2)
            rows = [r for t in (trial_dirs(experiment) if experiment.is_dir() else []) for r in results(t)]
            worker = rows[0][TUNE_PID_KEY] if rows else None
        assert worker is not None, "the trial reported no epoch within 300 s"
        os.kill(worker, signal.SIGKILL)  # during epoch 2: the worker had just reported epoch 1
        out, err = driver.communicate(timeout=400)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    assert driver.returncode == 0, err[-3000:]
    assert "[retry]" in out and "1 trials: 1 finished, 0 failed." in out
    (trial,) = trial_dirs(experiment)
    killed_rows = results(trial)
    assert [r[MetricKey.EPOCH.value] for r in killed_rows] == [1, 2, 3]  # epoch 1 restored, not trained again
    assert killed_rows[-1][TUNE_PID_KEY] != worker  # a new worker process finished it
    losses = [r[MetricKey.VAL_LOSS.value] for r in killed_rows]
    assert losses == pytest.approx([r[MetricKey.VAL_LOSS.value] for r in results(clean_trial)], rel=0, abs=1e-6)


def test_a_checkpoint_that_cannot_be_written_ends_the_trial_once(tmp_path: Path, shared_data_dir: Path) -> None:
    """A full disk at epoch 2's checkpoint (a real RLIMIT_FSIZE on the worker while it writes): the trial
    ends at once as storage_failed, with no retry, and keeps epoch 1's checkpoint as its best."""
    from analysis.loading import load_experiment
    from vocab.experiment_folder import TRIAL_STATE_FILE

    proc = run_cli(["run", "spaces/quickstart.yaml", "--data-dir", str(shared_data_dir), *ONE_TRIAL_THREE_EPOCHS,
                    "--storage", str(tmp_path), "--set", "train.max_failures=2"], TTSEARCH_DISK_FULL_AT_EPOCH="2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[retry]" not in proc.stdout and "1 trials: 1 finished, 0 failed." in proc.stdout
    (trial,) = trial_dirs(tmp_path / "quickstart")
    rows = results(trial)
    assert [r[MetricKey.EPOCH.value] for r in rows] == [1, 2]
    assert rows[-1][MetricKey.STOP_REASON.value] == "storage_failed"
    assert "could not write the checkpoint of epoch 2" in rows[-1][MetricKey.END_MESSAGE.value]
    assert "File too large" in rows[-1][MetricKey.END_MESSAGE.value]
    (checkpoint,) = sorted(trial.glob("checkpoint_*"))
    import json

    assert json.loads((checkpoint / TRIAL_STATE_FILE).read_text())["epoch"] == 1  # what was saved is kept
    row = load_experiment(tmp_path / "quickstart").trials.iloc[0]
    assert row["stop_reason"] == "storage_failed" and row["best_epoch"] == 1 and row["best_adapter_path"]
    assert "storage_failed: could not write" in row["error"]
