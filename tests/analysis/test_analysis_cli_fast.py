"""Fast checks without a search: folders that are not experiments, the browse server's path rules,
best.yaml construction, and the result-file readers."""
from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from analysis.browse import BrowseServer, make_server, resolve_inside
from analysis.export_config import best_space
from analysis.loading import ExperimentStatus, load_experiment
from analysis.report import build_report_html
from analysis.trial_files import read_json_lines, trial_id_from_dirname
from search.space.schema import load_space, parse_space
from search.space.shape_core_pairs import count_configurations
from tests.analysis.analysis_browser import serving
from ttsearch.main import main as ttsearch_main
from vocab.errors import UsageError
from vocab.experiment_folder import EXPERIMENT_META_FILE, ExperimentMeta

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_folder_that_is_not_an_experiment(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UsageError, match=f"not an experiment folder: no {EXPERIMENT_META_FILE}"):
        load_experiment(tmp_path)  # `ttsearch report` of it exits 2, instead of writing an empty page
    with pytest.raises(SystemExit) as exit_info:
        ttsearch_main(["report", str(tmp_path / "missing")])
    assert exit_info.value.code == 2
    assert "no such experiment folder" in capsys.readouterr().err
    ttsearch_main(["ls", str(tmp_path)])
    assert "no experiments under" in capsys.readouterr().out


def write_empty_experiment(folder: Path) -> Path:
    """What ``ttsearch run`` writes before the first trial starts: the meta file."""
    folder.mkdir(parents=True)
    meta = ExperimentMeta(name=folder.name, space_file="spaces/quickstart.yaml", model="m", model_family="bert",
                          task="sst2", score_name="accuracy", num_samples=3, created_unix=time.time())
    (folder / EXPERIMENT_META_FILE).write_text(meta.to_json())
    return folder


@pytest.fixture
def browse_server(tmp_path: Path) -> Iterator[BrowseServer]:
    root = tmp_path / "root"
    write_empty_experiment(root / "store" / "exp1")
    (tmp_path / "outside").mkdir()
    write_empty_experiment(tmp_path / "outside" / "secret")
    (root / "link_out").symlink_to(tmp_path / "outside", target_is_directory=True)
    server = make_server(root, port=0, refresh_seconds=5)
    with serving(server):
        yield server


def get(server: BrowseServer, raw_path: str, method: str = "GET") -> tuple[int, str]:
    """Send ``raw_path`` byte for byte (http.client does not normalise dot segments)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    try:
        connection.request(method, raw_path)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", errors="replace")
    finally:
        connection.close()


def test_browse_serves_index_reports_and_plotly_on_loopback(browse_server: BrowseServer) -> None:
    assert browse_server.server_address[0] == "127.0.0.1"
    status, page = get(browse_server, "/")
    assert status == 200 and "exp1" in page and "store/exp1" in page and "secret" not in page  # symlink not followed
    status, page = get(browse_server, "/report/store/exp1/")
    assert status == 200 and "ttsearch report: exp1" in page and "/_static/plotly.min.js" in page
    assert 'http-equiv="refresh"' not in page  # an empty experiment is not running: no reload
    status, script = get(browse_server, "/_static/plotly.min.js")
    assert status == 200 and "plotly.js v" in script[:400]
    assert get(browse_server, "/report/store/exp1/", method="HEAD")[0] == 200
    assert get(browse_server, "/nothing")[0] == 404
    assert get(browse_server, "/report/store/")[0] == 404  # inside ROOT, not an experiment


@pytest.mark.parametrize("raw_path", [
    "/report/../outside/secret/", "/report/../../../../etc/", "/report/%2e%2e/outside/secret/",
    "/report/store/..%2f..%2foutside%2fsecret/", "/report/link_out/secret/",
])
def test_browse_refuses_paths_outside_root(browse_server: BrowseServer, raw_path: str) -> None:
    status, page = get(browse_server, raw_path)
    assert status == 403 and "outside the browsed folder" in page


def test_browse_refuses_a_foreign_host_header(browse_server: BrowseServer) -> None:
    """DNS rebinding: a page elsewhere that resolves its own name to 127.0.0.1 sends its own Host."""
    connection = http.client.HTTPConnection("127.0.0.1", browse_server.server_address[1], timeout=30)
    try:
        connection.request("GET", "/", headers={"Host": "attacker.example:8470"})
        response = connection.getresponse()
        assert response.status == 403 and "Host" in response.read().decode()
    finally:
        connection.close()
    port = browse_server.server_address[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", "/", headers={"Host": host})
            assert connection.getresponse().status == 200
        finally:
            connection.close()


def test_a_served_report_reads_nothing_outside_the_root(tmp_path: Path) -> None:
    """Symlinked trial folders and files inside a served experiment are left out of its report."""
    root = tmp_path / "root"
    experiment = write_empty_experiment(root / "exp")
    outside = tmp_path / "outside"
    foreign = outside / "trial_aaaaa_00000"
    foreign.mkdir(parents=True)
    (foreign / "params.json").write_text('{"shape": [4, 4], "secret": "TOPSECRET-DIR"}')
    (foreign / "error.txt").write_text("TOPSECRET-DIR\n")
    (experiment / "trial_aaaaa_00000").symlink_to(foreign, target_is_directory=True)
    own = experiment / "trial_bbbbb_00001"
    own.mkdir()
    (outside / "result.json").write_text('{"epoch": 1, "val_loss": 0.5, "score": 0.9, "secret": "TOPSECRET-FILE"}\n')
    (own / "result.json").symlink_to(outside / "result.json")
    (own / "error.txt").write_text("ordinary failure\n")
    server = make_server(root, port=0, refresh_seconds=5)
    with serving(server):
        status, page = get(server, "/report/exp/")
    assert status == 200 and "TOPSECRET" not in page
    assert "outside the browsed folder" in page  # the report says what it left out
    unconfined = load_experiment(experiment)  # `ttsearch report` of one's own folder still follows links
    assert len(unconfined.trials) == 2


def test_resolve_inside_rules(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    assert resolve_inside(root, "a/b") == root / "a" / "b"
    assert resolve_inside(root, ".") == root
    assert resolve_inside(root, "a/../..") is None
    assert resolve_inside(root, "/etc") is None


def test_browse_refuses_a_busy_port_and_a_missing_root(browse_server: BrowseServer, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot listen on 127.0.0.1"):
        make_server(browse_server.root, port=browse_server.server_address[1])
    with pytest.raises(UsageError, match="no such folder"):
        make_server(tmp_path / "missing", port=0)


def test_empty_experiment_status_and_report(tmp_path: Path) -> None:
    exp = load_experiment(write_empty_experiment(tmp_path / "fresh"))
    assert exp.status == ExperimentStatus.EMPTY and exp.trials_total == 3 and exp.trials_done == 0
    assert "no trial folders yet" in build_report_html(exp, plotlyjs=False)


def test_best_space_is_a_valid_single_run(tmp_path: Path) -> None:
    space = load_space(REPO_ROOT / "spaces" / "quickstart.yaml").to_plain()
    params = {"shape": "auto", "cores": 4, "rank": [1, 4, 6, 4, 1], "alpha": 16.0, "learning_rate": 0.0031}
    best = best_space(yaml.safe_load(yaml.safe_dump(space)), params, "qs-best", "one run")
    parsed = parse_space(best, source="best.yaml")
    assert parsed.num_samples == 1 and parsed.scheduler.type == "none" and parsed.name == "qs-best"
    assert count_configurations(parsed) == 1
    sampled = {key: spec.values[0] for key, spec in parsed.searched_params().items()}
    # the list-valued rank survives as one candidate, not a choice among ranks; rows not in params
    # (any later searched parameter) keep the quickstart's fixed value
    assert {key: sampled[key] for key in params} == params
    assert parsed.train == load_space(REPO_ROOT / "spaces" / "quickstart.yaml").train
    explicit = best_space(space, {**params, "shape": [16, 24, 24, 16], "rank": 8}, "x", "")
    assert parse_space(explicit, source="x").searched_params()["shape"].values == ([16, 24, 24, 16],)


def test_json_lines_reader_flags_truncation_only_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text('{"epoch": 1}\n{"epoch": 2, "val_lo')
    warnings: list[str] = []
    assert read_json_lines(path, "t", warnings) == [{"epoch": 1}]
    assert warnings == ["t: result.json line 2 is not valid JSON (truncated: the file may still be being written); skipped"]
    path.write_text('{"epoch": 1\n{"epoch": 2}\n\n')
    warnings = []
    assert read_json_lines(path, "t", warnings) == [{"epoch": 2}]
    assert warnings == ["t: result.json line 1 is not valid JSON; skipped"]
    assert read_json_lines(tmp_path / "absent.json", "t", warnings) == [] and "cannot read" in warnings[-1]


def test_trial_ids_from_tune_folder_names() -> None:
    assert trial_id_from_dirname("trial_9f79d_00002") == "9f79d_00002"
    assert trial_id_from_dirname("trainable_68ce4_00000_0_alpha=2.0000_2026-11-30_00-10-13") == "68ce4_00000"
    assert trial_id_from_dirname("something_else") == "something_else"
