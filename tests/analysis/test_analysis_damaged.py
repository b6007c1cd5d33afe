"""Damaged and partial copies of a real experiment folder: a report of what is there plus a clear
warning, never a traceback. Each test damages its own copy (conftest ``experiment_copy``)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from analysis import columns as col
from analysis.loading import ExperimentStatus, load_experiment
from analysis.trial_files import is_trial_dir
from ttsearch.main import main as ttsearch_main
from vocab.experiment_folder import (
    EXPERIMENT_META_FILE,
    TUNE_PARAMS_FILE,
    TUNE_PROGRESS_FILE,
    TUNE_RESULT_FILE,
    MetricKey,
    StopReason,
)

pytestmark = pytest.mark.slow


def trial_with_epochs(folder: Path, epochs: int) -> Path:
    """A trial folder of the copy whose result.json holds ``epochs`` reports."""
    for trial in sorted(p for p in folder.iterdir() if is_trial_dir(p)):
        result = trial / TUNE_RESULT_FILE
        if result.is_file() and len(result.read_text().splitlines()) == epochs:
            return trial
    pytest.fail(f"no trial with {epochs} epochs in {folder}")


def report_via_cli(folder: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """``ttsearch report`` in-process (a traceback would fail the test); returns (page, stderr)."""
    ttsearch_main(["report", str(folder), "--out", str(out)])
    captured = capsys.readouterr()
    assert f"report: {out}" in captured.out
    return out.read_text(), captured.err


def test_trial_without_result_files_is_reported_and_warned(experiment_copy: Path, tmp_path: Path, capsys) -> None:
    trial = trial_with_epochs(experiment_copy, 2)
    before = load_experiment(experiment_copy)
    (trial / TUNE_RESULT_FILE).unlink()
    (trial / TUNE_PROGRESS_FILE).unlink()
    page, err = report_via_cli(experiment_copy, tmp_path / "r.html", capsys)
    assert f"trial {trial.name}: missing {TUNE_RESULT_FILE} and {TUNE_PROGRESS_FILE}" in err
    assert 'id="warnings"' in page and f"missing {TUNE_RESULT_FILE} and {TUNE_PROGRESS_FILE}" in page
    after = load_experiment(experiment_copy)
    assert len(after.trials) == len(before.trials)  # the trial is still listed, without results
    row = after.trials.set_index(col.TRIAL_DIR).loc[trial.name]
    assert row[col.EPOCHS] == 0 and row[col.BEST_SCORE] != row[col.BEST_SCORE]  # NaN: nothing to show
    assert after.status == ExperimentStatus.FINISHED  # Tune's state says every trial ended
    plotted = int(page.split('data-plotted="')[1].split('"')[0])
    assert plotted == int(before.trials[col.BEST_SCORE].notna().sum()) - 1


def test_missing_result_json_falls_back_to_progress_csv(experiment_copy: Path) -> None:
    trial = trial_with_epochs(experiment_copy, 2)
    before = load_experiment(experiment_copy).trials.set_index(col.TRIAL_DIR).loc[trial.name]
    (trial / TUNE_RESULT_FILE).unlink()
    exp = load_experiment(experiment_copy)
    after = exp.trials.set_index(col.TRIAL_DIR).loc[trial.name]
    assert any(f"{TUNE_RESULT_FILE} is missing; read {TUNE_PROGRESS_FILE}" in w for w in exp.warnings)
    for key in (col.BEST_SCORE, col.BEST_VAL_LOSS, col.TTLORA_PARAMS, col.EPOCHS):
        assert after[key] == pytest.approx(before[key])
    assert after[col.STOP_REASON] == before[col.STOP_REASON]


def test_truncated_last_json_line_keeps_earlier_epochs(experiment_copy: Path, tmp_path: Path, capsys) -> None:
    trial = trial_with_epochs(experiment_copy, 2)
    result = trial / TUNE_RESULT_FILE
    lines = result.read_text().splitlines()
    result.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # a copy cut short mid-line
    page, err = report_via_cli(experiment_copy, tmp_path / "r.html", capsys)
    assert "line 2 is not valid JSON (truncated" in err and "truncated" in page
    exp = load_experiment(experiment_copy)
    row = exp.trials.set_index(col.TRIAL_DIR).loc[trial.name]
    first = json.loads(lines[0])
    assert row[col.EPOCHS] == 1 and row[col.BEST_VAL_LOSS] == pytest.approx(first[MetricKey.BEST_VAL_LOSS.value])
    assert row[col.STOP_REASON] == StopReason.SCHEDULER.value  # finished experiment, last report said "running"


def test_garbage_line_in_the_middle_is_skipped(experiment_copy: Path) -> None:
    trial = trial_with_epochs(experiment_copy, 2)
    result = trial / TUNE_RESULT_FILE
    lines = result.read_text().splitlines()
    result.write_text("\n".join([lines[0], "{not json", "[1, 2]", lines[1]]) + "\n")
    exp = load_experiment(experiment_copy)
    messages = [w for w in exp.warnings if trial.name in w]
    assert any("line 2 is not valid JSON; skipped" in w for w in messages)
    assert any("line 3 is a list, not an object; skipped" in w for w in messages)
    assert exp.trials.set_index(col.TRIAL_DIR).loc[trial.name][col.EPOCHS] == 2


def test_corrupt_params_json_uses_the_config_in_the_results(experiment_copy: Path) -> None:
    trial = trial_with_epochs(experiment_copy, 2)
    (trial / TUNE_PARAMS_FILE).write_text('{"shape": [16, 24')
    exp = load_experiment(experiment_copy)
    assert any(f"{TUNE_PARAMS_FILE} is not valid JSON" in w for w in exp.warnings)
    assert exp.trials.set_index(col.TRIAL_DIR).loc[trial.name][col.LEARNING_RATE] == 0.005


def test_unreadable_meta_gives_a_report_without_compression_ratios(experiment_copy: Path, tmp_path: Path, capsys) -> None:
    (experiment_copy / EXPERIMENT_META_FILE).write_text("{ truncated")
    page, err = report_via_cli(experiment_copy, tmp_path / "r.html", capsys)
    assert f"{EXPERIMENT_META_FILE} cannot be read" in err
    exp = load_experiment(experiment_copy)
    assert exp.trials[col.COMPRESSION_VS_FULL].isna().all() and exp.trials[col.BEST_SCORE].notna().any()
    assert exp.score_name == "accuracy"  # recovered from the reports


def test_empty_experiment_reports_and_refuses_export(experiment_copy: Path, tmp_path: Path, capsys) -> None:
    for trial in [p for p in experiment_copy.iterdir() if is_trial_dir(p)]:
        shutil.rmtree(trial)
    exp = load_experiment(experiment_copy)
    assert exp.status == ExperimentStatus.EMPTY and exp.trials.empty and exp.curves.empty
    assert any("no trial folders yet" in w for w in exp.warnings)
    page, err = report_via_cli(experiment_copy, tmp_path / "r.html", capsys)
    assert "no trial folders yet" in err and "No trial has a result yet" in page
    with pytest.raises(SystemExit) as exit_info:
        ttsearch_main(["export", str(experiment_copy), "--out", str(tmp_path / "best")])
    assert exit_info.value.code == 2
    assert "the experiment has no trials to export" in capsys.readouterr().err
    ttsearch_main(["ls", str(experiment_copy.parent), "--json"])
    (line,) = [json.loads(t) for t in capsys.readouterr().out.splitlines() if t.strip()]
    assert line["status"] == ExperimentStatus.EMPTY and line["trials_done"] == 0 and line["best_score"] is None
