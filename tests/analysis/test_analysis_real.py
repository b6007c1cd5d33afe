"""Loading, reporting and listing a real experiment folder made by a real search (see conftest)."""
from __future__ import annotations

import json
import math
from html.parser import HTMLParser

import pandas as pd
import pytest

from analysis import columns as col
from analysis.figures import plottable
from analysis.loading import ExperimentStatus, load_experiment
from analysis.pareto import pareto_front
from analysis.report import PARETO_FIGURE_ID, REPORT_FILE, build_report_html
from tests.analysis.conftest import DIVERGED_TRIALS, GOOD_TRIALS, RealExperiments
from ttsearch.main import main as ttsearch_main
from vocab.experiment_folder import EXPERIMENT_META_FILE, ExperimentMeta, MetricKey, StopReason

pytestmark = pytest.mark.slow


class _ResourceFinder(HTMLParser):
    """Collects every URL the page would load (script src, link href, img src, iframe src)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src", "iframe": "src"}.get(tag)
        self.urls += [value or "" for name, value in attrs if name == wanted]


def external_resources(page: str) -> list[str]:
    finder = _ResourceFinder()
    finder.feed(page)
    return finder.urls


def test_real_folder_loads_one_row_per_trial(real_experiments: RealExperiments) -> None:
    exp = load_experiment(real_experiments.main)
    assert exp.warnings == []
    assert exp.status == ExperimentStatus.FINISHED
    assert exp.score_name == "accuracy" and exp.trials_total == GOOD_TRIALS + DIVERGED_TRIALS == exp.trials_done
    trials = exp.trials.set_index(col.TRIAL_ID)
    failed = trials[trials[col.STOP_REASON] == StopReason.DIVERGED.value]
    good = trials[trials[col.STOP_REASON] != StopReason.DIVERGED.value]
    assert len(failed) == DIVERGED_TRIALS and len(good) == GOOD_TRIALS
    assert all("non-finite" in text for text in failed[col.ERROR])
    assert failed[col.BEST_SCORE].isna().all() and (failed[col.EPOCHS] == 0).all()
    assert set(good[col.STOP_REASON]) <= {StopReason.MAX_EPOCHS.value, StopReason.SCHEDULER.value}
    assert (good[col.LEARNING_RATE] == 0.005).all() and (failed[col.LEARNING_RATE] == 1e30).all()
    assert sorted(good[col.SHAPE]) == ["16x24x24x16", "auto:24x16x16x24"]  # "auto" resolved from the adapter
    # compression ratios from the meta's target dims (12 matrices of 384 x 384), checked by hand
    meta = ExperimentMeta.from_json((real_experiments.main / EXPERIMENT_META_FILE).read_text())
    assert meta.full_params() == 12 * 384 * 384 and meta.lora_params(8) == 12 * 8 * (384 + 384)
    for _, row in good.iterrows():
        assert row[col.TTLORA_PARAMS] > 0 and row[col.TRAINABLE_PARAMS] == row[col.TTLORA_PARAMS] + row[col.HEAD_PARAMS]
        assert row[col.METHOD] == "ttlora" and row[col.ADAPTER_PARAMS] == row[col.TTLORA_PARAMS]
        assert row[col.COMPRESSION_VS_FULL] == pytest.approx(12 * 384 * 384 / row[col.TTLORA_PARAMS])
        assert row[col.COMPRESSION_VS_LORA8] == pytest.approx(12 * 8 * 768 / row[col.TTLORA_PARAMS])
        assert row[col.ADAPTER_BYTES_16BIT] == 2 * row[col.TTLORA_PARAMS]
        assert 1 <= row[col.BEST_EPOCH] <= row[col.EPOCHS] <= 2 and row[col.WALL_SECONDS] > 0
        assert row[col.BEST_ADAPTER_PATH].endswith("best_adapter")
        assert json.loads(row[col.CONFIG_JSON])["rank"] == 4
    # [16,24,24,16] rank 4: 16*4 + 4*24*4 + 4*24*4 + 4*16 = 896 per matrix; [24,16,16,24]: 96+256+256+96 = 704
    assert sorted(good[col.TTLORA_PARAMS]) == [704 * 12, 896 * 12]


def test_curves_hold_every_reported_epoch(real_experiments: RealExperiments) -> None:
    exp = load_experiment(real_experiments.main)
    for _, row in exp.trials.iterrows():
        curve = exp.curves[exp.curves[col.TRIAL_ID] == row[col.TRIAL_ID]]
        assert list(curve[MetricKey.EPOCH.value]) == list(range(1, int(row[col.EPOCHS]) + 1))
        if len(curve):
            best = curve.loc[curve[MetricKey.VAL_LOSS.value].idxmin()]
            assert best[MetricKey.VAL_LOSS.value] == pytest.approx(row[col.BEST_VAL_LOSS])
            assert best[MetricKey.SCORE.value] == pytest.approx(row[col.BEST_SCORE])


def test_reading_a_running_search_never_raises(real_experiments: RealExperiments) -> None:
    assert real_experiments.live_errors == []
    assert real_experiments.live_statuses, "the search finished before the first poll"
    seen = {status for status, _ in real_experiments.live_statuses}
    assert seen <= {ExperimentStatus.EMPTY, ExperimentStatus.RUNNING, ExperimentStatus.FINISHED}
    assert ExperimentStatus.RUNNING in seen or ExperimentStatus.EMPTY in seen


def test_report_command_writes_a_self_contained_page(real_experiments: RealExperiments, tmp_path, capsys) -> None:
    out = tmp_path / "r.html"
    ttsearch_main(["report", str(real_experiments.main), "--out", str(out)])
    assert f"report: {out}" in capsys.readouterr().out
    page = out.read_text()
    assert "plotly.js v" in page and external_resources(page) == []  # plotly.js inline: works offline
    exp = load_experiment(real_experiments.main)
    front = pareto_front(exp.trials)
    table_start = page.index('id="pareto-table"')
    assert page.count("<tr>", table_start, page.index("</table>", table_start)) == len(front) + 1
    assert f'data-plotted="{len(plottable(exp.trials, col.TTLORA_PARAMS, col.BEST_SCORE))}"' in page
    assert 'id="best-config"' in page and 'id="cost-summary"' in page and "non-finite" in page
    ttsearch_main(["report", str(real_experiments.main)])  # default location: inside the experiment
    assert (real_experiments.main / REPORT_FILE).is_file()


def test_report_by_val_loss_and_trainable_params(real_experiments: RealExperiments) -> None:
    exp = load_experiment(real_experiments.main)
    page = build_report_html(exp, metric_col=col.BEST_VAL_LOSS, cost_col=col.TRAINABLE_PARAMS, plotlyjs=False)
    assert "best validation loss" in page and "trainable parameters incl. task head" in page
    assert PARETO_FIGURE_ID in page


def test_ls_lists_status_trials_best_metric_and_front(real_experiments: RealExperiments, capsys) -> None:
    ttsearch_main(["ls", str(real_experiments.storage), "--json"])
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines() if text.strip()]
    exp = load_experiment(real_experiments.main)
    scores = pd.to_numeric(exp.trials[col.BEST_SCORE])
    assert line["status"] == "finished" and line["trials_done"] == line["trials_total"] == 4
    assert line["best_score"] == pytest.approx(scores.max()) and line["score_name"] == "accuracy"
    assert line["smallest_front_params"] == pareto_front(exp.trials)[col.TTLORA_PARAMS].min()
    ttsearch_main(["ls", str(real_experiments.storage)])
    table = capsys.readouterr().out
    assert "main" in table and "finished" in table and "4/4" in table
    assert not math.isnan(line["smallest_front_params"])


def test_report_of_several_experiments_compares_them(real_experiments: RealExperiments, experiment_copy,
                                                     tmp_path, capsys) -> None:
    out = tmp_path / "cmp.html"
    ttsearch_main(["report", str(real_experiments.main), str(experiment_copy), "--out", str(out)])
    assert f"report: {out}" in capsys.readouterr().out
    page = out.read_text()
    assert "ttsearch comparison of 2 experiments" in page and external_resources(page) == []
    table_start = page.index('id="comparison-table"')
    assert page.count("<tr>", table_start, page.index("</table>", table_start)) == 3  # header + 2 experiments
    assert 'id="comparison-figure"' in page


def test_front_hypervolume_in_report_and_ls(real_experiments: RealExperiments, capsys) -> None:
    """The front's hypervolume, computed by hand from the trials' (adapter params, val score), is the
    number the report and ls show; the anytime curve has one point per reported epoch and ends there."""
    from analysis.hypervolume import anytime_curve
    from analysis.report import HYPERVOLUME_ID

    exp = load_experiment(real_experiments.main)
    full = exp.meta.full_params()
    x_ref = math.log10(full)
    points = sorted((math.log10(p), s) for p, s in zip(exp.trials[col.ADAPTER_PARAMS], exp.trials[col.BEST_SCORE])
                    if p > 0 and not math.isnan(s) and s > 0.5)  # accuracy: the reference score is 0.5
    by_hand, best = 0.0, 0.5
    for i, (x, score) in enumerate(points):
        best = max(best, score)
        by_hand += ((points[i + 1][0] if i + 1 < len(points) else x_ref) - x) * (best - 0.5)
    page = build_report_html(exp, plotlyjs=False)
    assert f'id="{HYPERVOLUME_ID}" data-hypervolume="{by_hand:.6f}"' in page
    assert f"reference point: {full:,} params" in page
    curve = anytime_curve(exp)
    assert len(curve) == len(exp.curves) and curve["hypervolume"].iloc[-1] == pytest.approx(by_hand)
    ttsearch_main(["ls", str(real_experiments.storage), "--json"])
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines() if text.strip()]
    assert line["hypervolume"] == pytest.approx(by_hand)
