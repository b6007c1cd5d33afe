"""The held-out split scored once per trial, on real searches (real Ray, MiniLM, SST-2).

ASHA with ``max_t`` 1 below ``max_epochs`` 2 stops every trial after its first epoch, so every trial
is one a scheduler stopped, whatever the timing: the pass after the search must score exactly the
front members and the selected trial, the others say "not scored", and the pass resumes.
"""
from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from tests.search.helpers import SMALL_QUICKSTART, results, run_cli, trial_dirs
from vocab.experiment_folder import HELDOUT_TEST_FILE, HeldoutScore, MetricKey

pytestmark = pytest.mark.slow


def _assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\nSTDOUT:\n{proc.stdout[-4000:]}\nSTDERR:\n{proc.stderr[-4000:]}"


def test_scheduler_stopped_trials_that_matter_are_scored_after_the_search(tmp_path: Path,
                                                                           shared_data_dir: Path) -> None:
    from analysis.loading import load_experiment
    from analysis.pareto import best_trial, pareto_front

    proc = run_cli(["run", "spaces/quickstart.yaml", "--storage", str(tmp_path), "--data-dir", str(shared_data_dir),
                    *SMALL_QUICKSTART, "--set", "num_samples=4", "--set", "train.max_epochs=2",
                    "--set", "scheduler.type=asha", "--set", "scheduler.max_t=1", "--set", "search.algorithm=random"])
    _assert_ok(proc)
    experiment = tmp_path / "quickstart"
    for trial in trial_dirs(experiment):  # every trial was cut after epoch 1: none scored the test itself
        (last,) = results(trial)
        assert last[MetricKey.STOP_REASON.value] == "running" and math.isnan(last[MetricKey.BEST_TEST_SCORE.value])
    trials = load_experiment(experiment).trials
    matter = set(pareto_front(trials)["trial_id"]) | {best_trial(trials)["trial_id"]}
    scored = {row["trial_id"] for _, row in trials.iterrows() if (experiment / row["trial_dir"] / HELDOUT_TEST_FILE).exists()}
    assert scored == matter, (scored, matter)
    assert f"scoring the best adapter of {len(matter)} trial(s)" in proc.stdout
    for _, row in trials.iterrows():
        if row["trial_id"] in matter:
            assert 0 < row["best_test_score"] <= 1 and row["test_scored"] == "after the search"
        else:
            assert math.isnan(row["best_test_score"]) and row["test_scored"] == "not scored"
    listing = run_cli(["ls", str(tmp_path), "--json"])
    _assert_ok(listing)
    assert json.loads(listing.stdout.splitlines()[0])["best_test_scored"] == "after the search"
    report = run_cli(["report", str(experiment), "--out", str(tmp_path / "report.html")])
    _assert_ok(report)
    html = (tmp_path / "report.html").read_text()
    assert "not scored" in html or len(matter) == len(trials)
    assert "training steps" in html and "real tokens / token positions, training batches" in html

    # resumable: a score lost (a kill during the pass) is scored again on resume; the others are kept
    first = sorted(scored)[0]
    lost = experiment / trials.set_index("trial_id").loc[first, "trial_dir"] / HELDOUT_TEST_FILE
    kept = {t: (experiment / trials.set_index("trial_id").loc[t, "trial_dir"] / HELDOUT_TEST_FILE).read_text()
            for t in scored if t != first}
    before = HeldoutScore.from_json(lost.read_text())
    lost.unlink()
    resumed = run_cli(["resume", str(experiment)])
    _assert_ok(resumed)
    assert "scoring the best adapter of 1 trial(s)" in resumed.stdout
    again = HeldoutScore.from_json(lost.read_text())
    assert again.best_test_score == pytest.approx(before.best_test_score, abs=1e-6)
    assert all((experiment / trials.set_index("trial_id").loc[t, "trial_dir"] / HELDOUT_TEST_FILE).read_text() == text
               for t, text in kept.items())
