"""The confirmation stage on a real search (real Ray, MiniLM, SST-2): a search stopped by Ctrl-C is not
taken for finished (no confirmation of part of it) and resumes; finalists re-trained with new seeds, the
same seeds for every method, resumed after SIGKILL without re-training finished seeds (a partial
confirmation decides nothing in ``ls``/``export``), skipped when done, and summarised over seeds with a
paired verdict."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.search.helpers import (REPO_ROOT, SMALL_QUICKSTART, cli_env, results, run_cli, trial_dirs,
                                 wait_until_quiet)
from vocab.experiment_folder import CONFIRM_DIR, MetricKey

pytestmark = pytest.mark.slow
SEARCH = [*SMALL_QUICKSTART, "--set", "num_samples=1", "--set", "train.max_epochs=2", "--set", "scheduler.max_t=2",
          "--set", "scheduler.type=none", "--set", "search.algorithm=random", "--set", "baselines.lora={rank: 4}"]


def _done(trial: Path) -> bool:
    rows = results(trial)
    return bool(rows) and bool(rows[-1].get(MetricKey.DONE_BY_TRAINABLE.value))


def _confirm(experiment: Path) -> list[str]:
    return [sys.executable, "-m", "ttsearch", "confirm", str(experiment), "--seeds", "2", "--no-live"]


def test_finalists_are_confirmed_over_paired_seeds_and_resume_after_sigkill(tmp_path: Path,
                                                                             shared_data_dir: Path) -> None:
    from analysis.confirmation import confirmation_trials, summarise_seeds
    from analysis.loading import ExperimentStatus, load_experiment

    experiment = tmp_path / "quickstart"
    _search_interrupted_by_ctrl_c(experiment, shared_data_dir)
    confirm = experiment / CONFIRM_DIR
    # resume finishes the search and goes on to its confirmation stage (confirm.seeds: 2), killed there
    resume = [sys.executable, "-m", "ttsearch", "resume", str(experiment), "--no-live"]
    killed = subprocess.Popen(resume, cwd=REPO_ROOT, env=cli_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not (confirm.is_dir() and any(_done(t) for t in trial_dirs(confirm))):
            time.sleep(0.5)
        finished = {t.name: results(t) for t in trial_dirs(confirm) if _done(t)} if confirm.is_dir() else {}
        assert finished, "no confirmation trial finished within 300 s"
        wait_until_quiet(confirm)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    finished = {t.name: results(t) for t in trial_dirs(confirm) if _done(t)}  # as the resume will find them
    assert 0 < len(finished) < 4  # killed half-way: the resume has seeds left to train
    assert load_experiment(experiment).status == ExperimentStatus.FINISHED  # the search was, before the stage
    _a_partial_confirmation_decides_nothing(experiment)
    resumed = subprocess.run(_confirm(experiment), cwd=REPO_ROOT, env=cli_env(), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    for name, before in finished.items():
        assert results(confirm / name) == before  # a finished seed is not trained again
    trials = confirmation_trials(experiment)
    assert len(trials) == 4 and all(_done(t) for t in trial_dirs(confirm))  # 2 finalists x 2 seeds
    summaries = summarise_seeds(trials)
    assert sorted(s.method for s in summaries) == ["lora", "ttlora"]
    assert all(s.seeds == [1, 2] for s in summaries)  # the same new seeds for every finalist: paired
    tt_losses = trials[trials["finalist"] == next(s.finalist for s in summaries if s.method == "ttlora")]
    assert tt_losses["best_val_loss"].nunique() == 2  # each seed trained its own model (scores may tie)
    assert "±" in resumed.stdout and "TT-LoRA" in resumed.stdout and "vs LoRA" in resumed.stdout
    again = subprocess.run(_confirm(experiment), cwd=REPO_ROOT, env=cli_env(), capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0 and "already confirmed" in again.stdout, again.stderr[-2000:]
    other = subprocess.run([*_confirm(experiment)[:-2], "3", "--no-live"], cwd=REPO_ROOT, env=cli_env(),
                           capture_output=True, text=True, timeout=300)
    assert other.returncode == 2 and "holds another confirmation" in other.stderr, other.stderr[-2000:]
    _report_ls_and_export_use_the_confirmed_figures(experiment, tmp_path)


def _search_interrupted_by_ctrl_c(experiment: Path, shared_data_dir: Path) -> None:
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) while a trial holds at epoch 1, so the
    search provably has work left: exit 130 naming ``ttsearch resume``, not marked finished, neither the
    held-out pass nor the confirmation stage (``confirm.seeds`` 2) started, ``confirm`` refused."""
    from analysis.loading import ExperimentStatus, load_experiment
    from search.trial.fault_injection import HELD_MARKER

    command = [sys.executable, "-m", "ttsearch", "run", "spaces/quickstart.yaml", "--data-dir", str(shared_data_dir),
               *SEARCH, "--set", "confirm.seeds=2", "--storage", str(experiment.parent), "--no-live"]
    held = subprocess.Popen(command, cwd=REPO_ROOT, env=cli_env(TTSEARCH_HOLD_AT_EPOCH="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not list(experiment.glob(f"*/{HELD_MARKER}")):
            time.sleep(0.5)
        assert list(experiment.glob(f"*/{HELD_MARKER}")), "no trial reached its hold within 300 s"
        os.killpg(held.pid, signal.SIGINT)
        _, stderr = held.communicate(timeout=180)
    finally:
        if held.poll() is None:
            os.killpg(held.pid, signal.SIGKILL)
            held.wait()
    assert held.returncode == 130, stderr[-3000:]
    assert "was interrupted" in stderr and f"ttsearch resume {experiment}" in stderr, stderr[-3000:]
    assert load_experiment(experiment).status != ExperimentStatus.FINISHED and not (experiment / CONFIRM_DIR).exists()
    refused = run_cli(["confirm", str(experiment), "--seeds", "2"])
    assert refused.returncode == 2 and "has not finished" in refused.stderr, refused.stderr[-2000:]


def _a_partial_confirmation_decides_nothing(experiment: Path) -> None:
    """A killed confirmation: ``ls`` and ``export`` keep the search's figures; the confirmation folder
    is not a search to confirm; ``--top`` without ``--finalists top`` is refused (exit 2, no training)."""
    from analysis.confirmed import confirmed_best

    assert confirmed_best(experiment) is None
    inner = run_cli(["confirm", str(experiment / CONFIRM_DIR)])
    assert inner.returncode == 2 and "is a confirmation folder" in inner.stderr, inner.stderr[-2000:]
    top = run_cli(["confirm", str(experiment), "--top", "2"])
    assert top.returncode == 2 and "--finalists top" in top.stderr, top.stderr[-2000:]


def _report_ls_and_export_use_the_confirmed_figures(experiment: Path, tmp_path: Path) -> None:
    """The report shows the finalists over seeds (table, headline, error bars in the Figure-5 view); ls
    shows the confirmed best's means; export picks the finalist with the highest mean val score."""
    import json

    from analysis.confirmed import confirmed_best
    from analysis.export_config import choose_trial
    from analysis.listing import summarise
    from analysis.loading import load_experiment
    from analysis.report import CONFIRMED_HEADLINE_ID, CONFIRMED_TABLE_ID, build_report_html

    exp = load_experiment(experiment)
    best = confirmed_best(experiment)
    assert best is not None and best.seeds == 2
    page = build_report_html(exp, plotlyjs=False)
    assert f'id="{CONFIRMED_TABLE_ID}"' in page and f'id="{CONFIRMED_HEADLINE_ID}"' in page
    assert "Confirmed over 2 seeds" in page and '"meta":"confirmed"' in page and '"error_y"' in page
    summary = summarise(exp, tmp_path)
    assert summary.confirmed_seeds == 2 and summary.best_score == best.val_mean
    assert str(choose_trial(exp)["trial_id"]) == best.trial_id
    listed = run_cli(["ls", str(tmp_path), "--json"])
    assert json.loads(listed.stdout.splitlines()[0])["confirmed_seeds"] == 2, listed.stderr[-2000:]
    exported = run_cli(["export", str(experiment), "--out", str(tmp_path / "best")])
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert f"trial {best.trial_id}" in exported.stdout and "chosen by the confirmation" in exported.stdout
