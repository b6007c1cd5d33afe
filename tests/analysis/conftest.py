"""Real experiment folders for the analysis tests: one small real search (real Ray, the offline
MiniLM, SST-2 from ../shared/data), made once per session and read while it runs.

The search: ASHA over a grid of 2 tensor shapes x 2 learning rates, 2 epochs, 64 training examples.
The learning rate 1e30 makes the loss non-finite in the first epoch, so those 2 trials end as
``diverged`` (no error.txt, no retry, no best epoch); the other 2 finish (max_epochs) or are stopped
by ASHA after epoch 1.
(ASHA rather than HyperBand: with HyperBand this search stalled in Tune, see the report to the lead.)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = "spaces/quickstart.yaml"
EXPERIMENT_NAME = "main"
SEARCH_ARGS = [
    "--set", "num_samples=1", "--set", "train.max_epochs=2", "--set", "scheduler.max_t=2",
    "--set", "scheduler.type=asha", "--set", "scheduler.reduction_factor=2",
    "--set", "scheduler.grace_period=1",  # a rung after epoch 1 (the default, 2, is max_t here: no cut)
    "--set", "data.limit_train=64", "--set", "data.limit_val=32", "--set", "data.limit_test=32",
    "--set", "train.max_length=32",
    "--set", "search.shape={grid: [[16, 24, 24, 16], auto]}", "--set", "search.cores=4",
    "--set", "search.learning_rate={grid: [0.005, 1.0e+30]}", "--set", "search.rank=4",
    "--set", "search.alpha=[4.0, 16.0]", "--set", "train.max_failures=0",
]
SEARCH_TIMEOUT_S = 600
GOOD_TRIALS = 2
DIVERGED_TRIALS = 2


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1",
               TOKENIZERS_PARALLELISM="false")
    env.update(extra)
    return env


def ttsearch_command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "ttsearch", *args]


def run_ttsearch(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``ttsearch ARGS`` in a fresh process (its own embedded Ray), from the repo root."""
    return subprocess.run(ttsearch_command(args), cwd=REPO_ROOT, env=cli_env(), capture_output=True, text=True,
                          timeout=timeout)


@dataclass
class RealExperiments:
    """The session's real experiment folders and what was seen while the search ran."""

    storage: Path
    main: Path
    run_output: str
    live_statuses: list[tuple[str, int]] = field(default_factory=list)  # (status, trials) per poll
    live_errors: list[str] = field(default_factory=list)  # tracebacks raised while reading a live folder


def _poll_while_running(process: subprocess.Popen[str], folder: Path, experiments: RealExperiments) -> None:
    """Read the folder and build its report every second while the search writes to it."""
    from analysis.loading import load_experiment
    from analysis.report import build_report_html

    deadline = time.monotonic() + SEARCH_TIMEOUT_S
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the fixture search ran over {SEARCH_TIMEOUT_S} s (a stalled Tune run?)")
        time.sleep(1.0)
        if not folder.is_dir():
            continue
        try:
            exp = load_experiment(folder)
            build_report_html(exp, plotlyjs=False)
            experiments.live_statuses.append((exp.status, len(exp.trials)))
        except Exception:  # recorded, asserted on by a test: reading a live folder must never raise
            experiments.live_errors.append(traceback.format_exc())


@pytest.fixture(scope="session")
def real_experiments(tmp_path_factory: pytest.TempPathFactory, shared_data_dir: Path) -> RealExperiments:
    storage = tmp_path_factory.mktemp("experiments")
    args = ["run", QUICKSTART, "--storage", str(storage), "--name", EXPERIMENT_NAME, "--data-dir", str(shared_data_dir),
            "--no-live", *SEARCH_ARGS]
    experiments = RealExperiments(storage=storage, main=storage / EXPERIMENT_NAME, run_output="")
    log_path = storage.parent / "ttsearch_run.log"  # a file, not a pipe: a full pipe would block the run
    with log_path.open("w") as log, subprocess.Popen(ttsearch_command(args), cwd=REPO_ROOT, env=cli_env(), stdout=log,
                                                     stderr=subprocess.STDOUT, text=True) as process:
        try:
            _poll_while_running(process, experiments.main, experiments)
            process.wait(timeout=60)
        except BaseException:
            process.kill()
            raise
    experiments.run_output = log_path.read_text()
    if process.returncode != 0:
        pytest.fail(f"ttsearch run failed ({process.returncode}):\n{experiments.run_output[-4000:]}")
    return experiments


@pytest.fixture
def experiment_copy(real_experiments: RealExperiments, tmp_path: Path) -> Path:
    """A private copy of the real experiment (timestamps kept) that a test may damage."""
    target = tmp_path / EXPERIMENT_NAME
    shutil.copytree(real_experiments.main, target, symlinks=True)
    return target
