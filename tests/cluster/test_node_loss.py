"""A real node lost mid-search: the worker node of a two-node cluster is killed (SIGKILL of every process of
its ``ray start`` session: raylet, agents and the trial's worker), and the search completes on the head.

Four trials of 3 epochs, 1 CPU each, on a head and a worker node of 1 CPU each (so two train at once, one
per node). Once a trial has finished and another is training on the worker node (it has reported an epoch),
the worker node is killed. The trial that ran there is retried once from its checkpoint on the head
(``train.max_failures`` is 1 by default); no trial that had finished is lost or trained again.
This test has its own cluster: the module cluster of ``test_multinode.py`` must keep its two nodes.
"""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
from local_ray_cluster import LocalRayCluster, actor_nodes_by_pid, running_cluster, signal_session
from test_multinode import QUICKSTART, TTSEARCH, reported_epochs, search_overrides, trial_pids

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a node start may be retried
EPOCHS = 3
TRIALS = 4


@pytest.fixture()
def cluster() -> Iterator[LocalRayCluster]:
    with running_cluster("ttn") as started:
        yield started


def worker_node_id(cluster: LocalRayCluster) -> str:
    """The id of the one alive node that is not the head."""
    from ray.util.state import StateApiClient
    from ray.util.state.common import ListApiOptions, StateResource

    from cluster.auth import auth_headers, resolve_auth_token

    headers = auth_headers(resolve_auth_token(home=cluster.env["HOME"], environ={}))
    nodes = StateApiClient(cluster.dashboard_url, headers=headers).list(
        StateResource.NODES, options=ListApiOptions(detail=True), raise_on_missing_output=False)
    (worker,) = [n.node_id for n in nodes if n.state == "ALIVE" and not n.is_head_node]
    return worker


def training_on_worker(cluster: LocalRayCluster, experiment: Path, worker: str) -> str | None:
    """A trial that has reported exactly one epoch, from a process on the worker node, while another trial has
    finished all of them; None until both are so. One epoch, not two: two more epochs and the test scoring are
    left for the kill to land in, where a trial one epoch from its end could finish before the kill."""
    epochs = reported_epochs(experiment)
    if not any(len(e) == EPOCHS for e in epochs.values()):
        return None
    running = [trial for trial, e in epochs.items() if len(e) == 1]
    if not running:
        return None
    nodes_by_pid = actor_nodes_by_pid(cluster)
    pids = trial_pids(experiment)
    on_worker = [trial for trial in running if any(nodes_by_pid.get(pid) == worker for pid in pids[trial])]
    return on_worker[0] if on_worker else None


def test_the_search_completes_on_the_head_when_the_worker_node_dies(cluster: LocalRayCluster, tmp_path: Path,
                                                                    shared_data_dir: Path) -> None:
    experiment = tmp_path / "node-loss"
    sets = [f"num_samples={TRIALS}", f"train.max_epochs={EPOCHS}", f"scheduler.max_t={EPOCHS}",
            "data.limit_train=160", "data.limit_val=32", "train.max_length=32"]
    overrides = [*search_overrides(shared_data_dir), *[arg for item in sets for arg in ("--set", item)]]
    driver = subprocess.Popen([TTSEARCH, "submit", str(QUICKSTART), "--address", cluster.dashboard_url,
                               "--storage", str(tmp_path), "--name", "node-loss", "--wait", *overrides],
                              env={**cluster.env, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    try:
        worker = worker_node_id(cluster)
        deadline, victim = time.monotonic() + 300, None
        while victim is None and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.5)
            victim = training_on_worker(cluster, experiment, worker) if experiment.is_dir() else None
        assert victim is not None, f"no trial trained on the worker after one finished: {reported_epochs(experiment)}"
        at_kill = reported_epochs(experiment)
        finished_at_kill = {trial: epochs for trial, epochs in at_kill.items() if len(epochs) == EPOCHS}
        assert signal_session(cluster.sessions[1], signal.SIGKILL) > 0  # the worker node, all of it
        print(f"[{time.monotonic() - t0:.0f}s] killed the worker node; epochs then: {at_kill}", flush=True)
        out, err = driver.communicate(timeout=420)
        print(f"[{time.monotonic() - t0:.0f}s] the search ended ({driver.returncode})", flush=True)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert driver.returncode == 0, out[-3000:] + err[-2000:]
    assert f"{TRIALS} trials: {TRIALS} finished, 0 failed" in out, out[-3000:]
    final = reported_epochs(experiment)
    # Every trial has each epoch once: the victim went on from its checkpoint, nothing finished was redone.
    assert final == {trial: list(range(1, EPOCHS + 1)) for trial in final} and len(final) == TRIALS, (at_kill, final)
    assert {trial: final[trial] for trial in finished_at_kill} == finished_at_kill
    assert "[retry]" in out, out[-3000:]
    victim_pids = trial_pids(experiment)[victim]
    assert len(victim_pids) == 2, victim_pids  # one process on the lost worker, one on the head after it
    assert all(sorted((experiment / trial).glob("checkpoint_*")) for trial in final)
