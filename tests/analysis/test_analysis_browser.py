"""A real headless Chromium opens the generated report, from disk and through ``ttsearch browse``:
the plot renders (one SVG point per plotted trial), the console shows no error, a screenshot is kept
under artifacts/."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from analysis import columns as col
from analysis.browse import BrowseServer, make_server
from analysis.figures import REPORTED_META, TRIALS_META, plottable
from analysis.loading import load_experiment
from analysis.report import CURVES_FIGURE_ID, PARETO_FIGURE_ID
from tests.analysis.analysis_browser import Chromium, PageResult, artifacts_dir, find_chromium, overlaps, serving
from tests.analysis.conftest import GOOD_TRIALS, RealExperiments
from ttsearch.main import main as ttsearch_main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    binary = find_chromium()
    if binary is None:
        pytest.fail("headless Chromium not found: install the Debian package `chromium` (.ci/run does)")
    with Chromium(binary) as browser:
        yield browser


@pytest.fixture
def served(real_experiments: RealExperiments) -> Iterator[BrowseServer]:
    server = make_server(real_experiments.storage, port=0, refresh_seconds=30)
    with serving(server):
        yield server


def expected_points(real_experiments: RealExperiments) -> int:
    trials = load_experiment(real_experiments.main).trials
    count = len(plottable(trials, col.TTLORA_PARAMS, col.BEST_SCORE))
    assert count == GOOD_TRIALS  # the failed trials have no result to plot
    return count


def test_report_from_disk_renders_every_trial(chromium: Chromium, real_experiments: RealExperiments, tmp_path: Path,
                                              capsys) -> None:
    out = tmp_path / "report.html"
    ttsearch_main(["report", str(real_experiments.main), "--out", str(out)])
    capsys.readouterr()
    shot = artifacts_dir() / "analysis_report_from_disk.png"
    page = chromium.open(out.as_uri(), screenshot=shot, wait_for_figure=PARETO_FIGURE_ID)
    assert page.console_errors == []
    assert page.title == "ttsearch: main"
    assert page.points(PARETO_FIGURE_ID, TRIALS_META) == expected_points(real_experiments)
    assert page.points(PARETO_FIGURE_ID, REPORTED_META) == 0  # no paper numbers for MiniLM / SST-2
    assert page.figures[CURVES_FIGURE_ID]["svg"] > 0
    assert shot.stat().st_size > 10_000
    assert_layout_fits(page)


def assert_layout_fits(page: PageResult) -> None:
    """At 1400 px: the method legend clear of the alpha colour bar, nothing wider than the page, the
    Pareto table inside the page's width."""
    layout = page.layout
    figure = layout["figures"][PARETO_FIGURE_ID]
    assert figure["legend"] and figure["colorbars"], figure  # both drawn: TT-LoRA trials colour by alpha
    assert not any(overlaps(legend, bar) for legend in figure["legend"] for bar in figure["colorbars"]), figure
    assert layout["page_width"] <= layout["window_width"], layout
    assert layout["tables"]["pareto-table"]["box"][2] <= layout["window_width"], layout["tables"]


def test_report_through_browse_renders_and_index_compares(chromium: Chromium, served: BrowseServer,
                                                          real_experiments: RealExperiments) -> None:
    shot = artifacts_dir() / "analysis_report_via_browse.png"
    page = chromium.open(served.url + "report/main/", screenshot=shot, wait_for_figure=PARETO_FIGURE_ID)
    assert page.console_errors == []
    assert page.points(PARETO_FIGURE_ID, TRIALS_META) == expected_points(real_experiments)
    index = chromium.open(served.url, screenshot=artifacts_dir() / "analysis_browse_index.png",
                          wait_for_figure="comparison-figure")
    assert index.console_errors == []
    assert index.points("comparison-figure", TRIALS_META) == expected_points(real_experiments)


def test_browse_rebuilds_a_report_only_when_results_change(experiment_copy: Path) -> None:
    root = experiment_copy.parent
    server = make_server(root, port=0)
    try:
        first = server.cache.report(experiment_copy)
        assert server.cache.report(experiment_copy) == first and server.cache.builds == 1
        result = next(p for p in sorted(experiment_copy.glob("trial_*/result.json")) if p.read_text().strip())
        lines = result.read_text().splitlines()
        result.write_text("\n".join(lines[:-1]) + "\n" if len(lines) > 1 else "")  # the folder changes
        stat = result.stat()
        os.utime(result, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        server.cache.report(experiment_copy)
        assert server.cache.builds == 2
    finally:
        server.server_close()
    shutil.rmtree(experiment_copy)
