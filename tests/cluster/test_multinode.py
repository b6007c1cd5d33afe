"""A real two-node Ray cluster on this machine, with token auth: submit, follow, stop and resume a search.

Two ``ray start`` nodes (head + one worker, 1 CPU each) on 127.0.0.1. The quickstart space is cut
down to 2 trials x 3 epochs on 512 SST-2 examples; each trial asks for 1 CPU and the driver (a Ray
job on the head) for none, so the two trials must run one per node. Both nodes share 127.0.0.1 and
one hostname, so the node a trial ran on is found from its ``pid`` (in result.json) in Ray's actor
table. Everything the test starts is stopped by process session at the end (never ``ray stop``).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
from local_ray_cluster import LocalRayCluster, actor_nodes_by_pid, alive_node_ids, running_cluster

from cluster.storage import SHARED_FS_TYPES, StorageKind, check_storage_for_cluster, filesystem_type, read_mount_table
from ttsearch.main import main
from vocab.errors import UsageError

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # a node start may be retried

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "spaces" / "quickstart.yaml"
TTSEARCH = str(Path(sys.executable).with_name("ttsearch"))
EPOCHS = 3


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRayCluster]:
    with running_cluster("ttr") as started:
        yield started


def ttsearch(cluster: LocalRayCluster, *args: str, timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
    """Run the real `ttsearch` console script with the cluster's client environment."""
    full_env = {**cluster.env, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **env}
    return subprocess.run([TTSEARCH, *args], env=full_env, capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)


def search_overrides(shared_data_dir: Path) -> list[str]:
    sets = ["num_samples=2", f"train.max_epochs={EPOCHS}", "scheduler.type=none", f"scheduler.max_t={EPOCHS}",
            "train.patience=5", "data.limit_train=512", "data.limit_val=64", "train.eval_batch_size=64",
            "resources.cpu=1", "storage.shared=true", f"data.dir={shared_data_dir}"]
    return [arg for item in sets for arg in ("--set", item)]


def reported_epochs(experiment: Path) -> dict[str, list[int]]:
    """trial folder -> epochs in its result.json, in order."""
    epochs: dict[str, list[int]] = {}
    for result in sorted(experiment.glob("trial_*/result.json")):
        lines = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
        epochs[result.parent.name] = [int(line["epoch"]) for line in lines]
    return epochs


def trial_pids(experiment: Path) -> dict[str, set[int]]:
    return {result.parent.name: {json.loads(line)["pid"] for line in result.read_text().splitlines() if line.strip()}
            for result in experiment.glob("trial_*/result.json")}


def cli(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """Run the ttsearch CLI in this process (the same `main` as the console script)."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_jobs_api_requires_the_token_and_finds_it_where_ray_does(
        cluster: LocalRayCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    token = (Path(cluster.env["HOME"]) / ".ray" / "auth_token").read_text().strip()
    for name in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"):
        monkeypatch.delenv(name, raising=False)
    jobs = ["jobs", "--all", "--address", cluster.dashboard_url]
    monkeypatch.setenv("HOME", cluster.env["HOME"])  # the token at ~/.ray/auth_token
    assert cli(jobs, capsys)[0] == 0
    empty_home = tmp_path / "empty-home"
    empty_home.mkdir()
    monkeypatch.setenv("HOME", str(empty_home))
    code, _, err = cli(jobs, capsys)
    assert code == 2 and "requires a token (sent no token)" in err and "RAY_AUTH_TOKEN_PATH" in err
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-the-token")
    code, _, err = cli([*jobs, "--token-file", str(wrong)], capsys)
    assert code == 2 and f"rejected (sent the token from --token-file {wrong})" in err
    right = tmp_path / "right.token"
    right.write_text(token + "\n")
    assert cli([*jobs, "--token-file", str(right)], capsys)[0] == 0
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(right))
    assert cli(jobs, capsys)[0] == 0
    monkeypatch.setenv("RAY_AUTH_TOKEN", token)  # wins over the (now wrong) path
    right.write_text("stale")
    assert cli(jobs, capsys)[0] == 0
    for command in ("logs", "stop"):
        code, _, err = cli([command, "raysubmit_nope", "--address", cluster.dashboard_url], capsys)
        assert code == 2 and "no job 'raysubmit_nope' on this cluster" in err, err


def test_node_local_storage_is_refused_for_this_two_node_cluster(cluster: LocalRayCluster, tmp_path: Path,
                                                                shared_data_dir: Path) -> None:
    node_count = len(alive_node_ids(cluster))
    assert node_count == 2
    if filesystem_type(tmp_path, read_mount_table()) in SHARED_FS_TYPES:
        pytest.skip(f"{tmp_path} is on a network file system here")
    with pytest.raises(UsageError, match="the Ray cluster has 2 nodes but"):
        check_storage_for_cluster(str(tmp_path), node_count, where="--storage")
    # Both nodes of this cluster are on one machine, so the user may declare the path shared.
    assert check_storage_for_cluster(str(tmp_path), node_count, declared_shared=True) is StorageKind.DECLARED_SHARED
    # The driver makes the same check once connected: a search job given a node-local path fails.
    result = ttsearch(cluster, "submit", str(QUICKSTART), "--address", cluster.dashboard_url,
                      "--storage", str(tmp_path / "exp"), *search_overrides(shared_data_dir),
                      "--set", "storage.shared=false", "--wait")
    assert result.returncode == 1, result.stderr
    assert "the Ray cluster has 2 nodes but" in result.stdout
    assert not (tmp_path / "exp" / "quickstart" / "ttsearch_experiment.json").exists()  # nothing written


def test_wait_exits_nonzero_when_the_job_fails(cluster: LocalRayCluster, tmp_path: Path) -> None:
    # A data folder that the cluster lacks: the space is valid here, `ttsearch run` on the cluster fails.
    # (A space that is not valid, say scheduler.max_t above train.max_epochs, is exit 2 before submitting.)
    refused = ttsearch(cluster, "submit", str(QUICKSTART), "--address", cluster.dashboard_url,
                       "--storage", str(tmp_path / "exp"), "--set", "train.max_epochs=1")
    assert refused.returncode == 2 and "exceeds train.max_epochs" in refused.stderr, refused.stderr
    missing = tmp_path / "no-data-on-the-cluster"
    missing.mkdir()
    result = ttsearch(cluster, "submit", str(QUICKSTART), "--address", cluster.dashboard_url,
                      "--storage", str(tmp_path / "exp"), "--set", f"data.dir={missing}", "--wait")
    assert result.returncode == 1, result.stderr
    job_id = result.stdout.splitlines()[0]
    assert job_id.startswith("raysubmit_") and str(missing) in result.stdout
    assert f"job {job_id} FAILED" in result.stderr
    listed = ttsearch(cluster, "jobs", "--address", cluster.dashboard_url)
    assert job_id in listed.stdout and "FAILED" in listed.stdout


def test_search_runs_on_both_nodes_is_stopped_and_resumed(cluster: LocalRayCluster, tmp_path_factory: pytest.TempPathFactory,
                                                         shared_data_dir: Path) -> None:
    storage = tmp_path_factory.mktemp("storage")
    experiment = storage / "two-nodes"
    overrides = search_overrides(shared_data_dir)
    t0 = time.monotonic()
    submitted = ttsearch(cluster, "submit", str(QUICKSTART), "--address", cluster.dashboard_url,
                         "--storage", str(storage), "--name", "two-nodes", *overrides)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()

    # Both trials report their first epoch (each on its own node), then the job is stopped.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        epochs = reported_epochs(experiment)
        if len(epochs) == 2 and all(epochs.values()):
            break
        time.sleep(0.5)
    else:
        logs = ttsearch(cluster, "logs", job_id, "--address", cluster.dashboard_url)
        pytest.fail(f"trials did not report within 180 s: {reported_epochs(experiment)}\n{logs.stdout[-3000:]}")
    print(f"[{time.monotonic() - t0:.0f}s] first epochs: {epochs}", flush=True)
    stopped = ttsearch(cluster, "stop", job_id, "--address", cluster.dashboard_url)
    assert stopped.returncode == 0 and f"job {job_id} STOPPED" in stopped.stdout, stopped.stdout + stopped.stderr
    at_stop = reported_epochs(experiment)
    assert any(len(e) < EPOCHS for e in at_stop.values()), f"search finished before the stop: {at_stop}"
    stopped_log = ttsearch(cluster, "logs", job_id, "--address", cluster.dashboard_url)
    assert stopped_log.returncode == 0 and "[epoch]" in stopped_log.stdout

    # The pids that ran the trials belong to actors on two different nodes.
    nodes_by_pid = actor_nodes_by_pid(cluster)
    trial_nodes = {trial: {nodes_by_pid[pid] for pid in pids} for trial, pids in trial_pids(experiment).items()}
    assert len(set().union(*trial_nodes.values())) == 2, trial_nodes

    print(f"[{time.monotonic() - t0:.0f}s] stopped at {at_stop}", flush=True)
    # Resume through the Jobs API and follow it to the end.
    resumed = ttsearch(cluster, "submit", str(QUICKSTART), "--address", cluster.dashboard_url,
                       "--storage", str(storage), "--name", "two-nodes", "--resume", "--wait", *overrides)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-2000:]
    assert "SUCCEEDED" in resumed.stderr
    final = reported_epochs(experiment)
    print(f"[{time.monotonic() - t0:.0f}s] resumed to {final}", flush=True)
    # Every trial has each epoch once: interrupted trials went on from their checkpoints.
    assert final == {trial: list(range(1, EPOCHS + 1)) for trial in at_stop}, (at_stop, final)
    assert (experiment / "ttsearch_experiment.json").is_file()
    assert all(sorted((experiment / trial).glob("checkpoint_*")) for trial in final)
    assert "2 trials: 2 finished, 0 failed" in resumed.stdout  # --wait printed the job's log


def test_a_space_that_extends_another_is_submitted_without_its_parent(cluster: LocalRayCluster, tmp_path: Path,
                                                                       shared_data_dir: Path) -> None:
    """Every paper space extends a model file; submit sends the resolved space, not the child alone."""
    child = tmp_path / "elsewhere" / "child.yaml"
    child.parent.mkdir()
    child.write_text(f"extends: {QUICKSTART}\nname: child\nnum_samples: 1\n")
    sets = ["train.max_epochs=1", "scheduler.max_t=1", "scheduler.type=none", "data.limit_train=64",
            "data.limit_val=32", "data.limit_test=32", "resources.cpu=1", "storage.shared=true",
            f"data.dir={shared_data_dir}"]
    result = ttsearch(cluster, "submit", str(child), "--address", cluster.dashboard_url, "--storage",
                      str(tmp_path / "exp"), *[arg for item in sets for arg in ("--set", item)], "--wait")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 trials: 1 finished, 0 failed" in result.stdout
    assert reported_epochs(tmp_path / "exp" / "child") != {}
