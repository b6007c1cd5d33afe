"""``resources.max_concurrent_trials`` holds on real searches (real Ray, MiniLM, SST-2), checked from the
trials' own epoch start and end times (``epoch_started_unix`` .. ``epoch_ended_unix``), not from
Tune's bookkeeping.

On this 2-CPU machine two 1-CPU trials fit at once, so a limit of 1 that is ignored shows as
overlapping epochs. Random search used to ignore it: Tune applies ``max_concurrent_trials`` to
``Searcher`` objects only, not to its own ``BasicVariantGenerator`` (search/strategies/factory.py).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.search.helpers import SMALL_QUICKSTART, results, run_cli, trial_dirs
from vocab.experiment_folder import MetricKey

pytestmark = pytest.mark.slow


def _assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\nSTDOUT:\n{proc.stdout[-4000:]}\nSTDERR:\n{proc.stderr[-4000:]}"


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals that overlap at one moment (touching ends do not overlap)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                    key=lambda e: (e[0], e[1]))  # at equal times an end comes before a start
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_most_at_once_counts_overlaps() -> None:
    assert most_at_once([(0, 1), (1, 2), (2, 3)]) == 1
    assert most_at_once([(0, 2), (1, 3), (1.5, 1.7)]) == 3
    assert most_at_once([]) == 0


def _epoch_intervals(experiment: Path) -> list[tuple[float, float]]:
    spans = []
    for trial in trial_dirs(experiment):
        for row in results(trial):
            spans.append((row[MetricKey.EPOCH_STARTED_UNIX.value], row[MetricKey.EPOCH_ENDED_UNIX.value]))
    return spans


@pytest.mark.parametrize("strategy", [
    ["--set", "search.algorithm=random", "--set", "scheduler.type=none"],
    ["--set", "search.algorithm=optuna_mo", "--set", "scheduler.type=mo_asha",
     "--set", "scheduler.grace_period=1"],  # a rung below max_t 2, so the scheduler can cut
    ["--set", "search.algorithm=random", "--set", "scheduler.type=hyperband", "--set", "scheduler.reduction_factor=2"],
], ids=["random", "optuna_mo+mo_asha", "random+hyperband"])
def test_no_more_trials_train_at_once_than_the_limit(strategy: list[str], tmp_path: Path,
                                                      shared_data_dir: Path) -> None:
    proc = run_cli(["run", "spaces/quickstart.yaml", "--storage", str(tmp_path), "--data-dir", str(shared_data_dir),
                    *SMALL_QUICKSTART, "--set", "num_samples=4", "--set", "train.max_epochs=2",
                    "--set", "scheduler.max_t=2", "--set", "resources.max_concurrent_trials=1", *strategy],
                   timeout=420)
    _assert_ok(proc)
    assert "4 trials: 4 finished, 0 failed." in proc.stdout
    spans = _epoch_intervals(tmp_path / "quickstart")
    assert len(spans) >= 4 and all(start < end for start, end in spans)
    assert most_at_once(spans) == 1, sorted(spans)
