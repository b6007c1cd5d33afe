"""A real multi-node Ray cluster on this machine, for tests: ``ray start --head`` + ``ray start --address``.

Every node is started in its own session (``setsid``), and Ray's daemons and workers inherit that
session id, so the cluster is stopped by signalling exactly the processes in those sessions, never
by ``ray stop`` (which would also kill Ray clusters other people run on the same machine).
All traffic stays on 127.0.0.1; ports are picked free; each node has its own temp dir.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

RAY_BIN = str(Path(sys.executable).with_name("ray"))


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def session_pids(session_id: int) -> list[int]:
    """Live (not zombie) process ids whose session id (field 6 of /proc/PID/stat) is ``session_id``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields_after_name = stat.rsplit(")", 1)[1].split()  # state ppid pgrp session ...
        if int(fields_after_name[3]) == session_id and fields_after_name[0] != "Z":
            pids.append(int(entry))
    return pids


def signal_session(session_id: int, sig: int) -> int:
    """Send ``sig`` to every live process of the session; returns how many were signalled."""
    count = 0
    for pid in session_pids(session_id):
        try:
            os.kill(pid, sig)
            count += 1
        except ProcessLookupError:
            pass
    return count


@dataclass
class LocalRayCluster:
    """Addresses and environment of a running local cluster, and the sessions to stop."""

    gcs_address: str
    dashboard_url: str
    env: dict[str, str]  # environment for clients: RAY_AUTH_MODE, token location, HOME
    temp_root: Path
    node_logs: list[Path] = field(default_factory=list)
    sessions: list[int] = field(default_factory=list)  # one per node, head first
    abandoned_sessions: list[int] = field(default_factory=list)  # nodes whose ``ray start`` failed (killed)

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM every process of the cluster's sessions, then SIGKILL what is left."""
        for sid in self.every_session:
            signal_session(sid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self.alive_pids():
            time.sleep(0.2)
        kill_sessions(self.every_session, grace_s)

    @property
    def every_session(self) -> list[int]:
        return self.sessions + self.abandoned_sessions

    def alive_pids(self) -> list[int]:
        return [pid for sid in self.every_session for pid in session_pids(sid)]


def kill_sessions(session_ids: list[int], grace_s: float = 5.0) -> None:
    """SIGKILL every process of the sessions, again each round until none is left (a process forked while
    the last round was signalled is killed too) or ``grace_s`` has passed."""
    deadline = time.monotonic() + grace_s
    while True:
        for sid in session_ids:
            signal_session(sid, signal.SIGKILL)
        if time.monotonic() >= deadline or not any(session_pids(sid) for sid in session_ids):
            return
        time.sleep(0.2)


NODE_START_ATTEMPTS = 3  # tries in all


def _start_node(args: list[str], env: dict[str, str], log: Path) -> int:
    """Run ``ray start ...`` in a new session; returns the session id (the ``ray start`` pid).

    On failure every process of the session is killed and ``NodeStartError`` carries the session id."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([RAY_BIN, "start", *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=90)  # ray start gives up ~30 s after its raylet starts without registering
        except subprocess.TimeoutExpired:
            rc = -1
    if rc != 0:
        kill_sessions([proc.pid])
        raise NodeStartError(proc.pid, f"ray start {' '.join(args)} failed ({rc}):\n{log.read_text()[-3000:]}")
    return proc.pid


class NodeStartError(RuntimeError):
    """``ray start`` exited non-zero (or hung); its session has been killed."""

    def __init__(self, session_id: int, message: str) -> None:
        super().__init__(message)
        self.session_id = session_id


def _node_args(cluster: LocalRayCluster, index: int, cpus: int) -> list[str]:
    """``ray start`` arguments for node ``index`` (0 is the head), on ports free right now."""
    agent_port, metrics_port, client_port, gcs_port, dashboard_port = free_ports(5)  # one call: all distinct
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus), "--num-gpus", "0",
              "--temp-dir", str(cluster.temp_root / f"n{index}"), "--disable-usage-stats",
              "--dashboard-agent-listen-port", str(agent_port), "--metrics-export-port", str(metrics_port)]
    if index > 0:
        return ["--address", cluster.gcs_address, *common]
    cluster.gcs_address = f"127.0.0.1:{gcs_port}"
    cluster.dashboard_url = f"http://127.0.0.1:{dashboard_port}"
    return ["--head", "--port", str(gcs_port), "--dashboard-host", "127.0.0.1", "--dashboard-port",
            str(dashboard_port), "--include-dashboard", "true", "--ray-client-server-port", str(client_port), *common]


def _raylet_log_tail(cluster: LocalRayCluster, index: int) -> str:
    """The end of node ``index``'s raylet log (why it did not register), or '' when there is none."""
    logs = sorted((cluster.temp_root / f"n{index}").glob("session_*/logs/raylet.out"), key=os.path.getmtime)
    return logs[-1].read_text(errors="replace")[-1500:] if logs else ""


def _start_node_with_retries(cluster: LocalRayCluster, index: int, cpus: int) -> None:
    """Start node ``index``, trying again on fresh ports when ``ray start`` fails.

    ``ray start`` gives a raylet a fixed 30 s to register with the GCS (ray/_private/node.py); on a busy
    2-core CI machine a worker node has missed it. A node that failed is killed, and before the next try
    the GCS must count it dead, so the cluster never holds a dying node that tests would schedule on."""
    for attempt in range(1, NODE_START_ATTEMPTS + 1):
        log = cluster.temp_root / f"ray-start-{index}-{attempt}.log"
        cluster.node_logs.append(log)
        try:
            cluster.sessions.append(_start_node(_node_args(cluster, index, cpus), cluster.env, log))
            if index == 0:  # the head's dashboard up before a worker competes with it for the CPUs
                wait_for_alive_nodes(cluster, 1)
            return
        except NodeStartError as exc:
            cluster.abandoned_sessions.append(exc.session_id)
            if attempt == NODE_START_ATTEMPTS:
                raise RuntimeError(f"{exc}\nraylet log:\n{_raylet_log_tail(cluster, index)}") from exc
            if index > 0:
                wait_for_alive_nodes(cluster, index, exact=True)


def start_local_cluster(temp_root: Path, node_cpus: tuple[int, ...] = (1, 1), token_auth: bool = True,
                        extra_env: dict[str, str] | None = None) -> LocalRayCluster:
    """Start ``len(node_cpus)`` Ray nodes on 127.0.0.1 (the first is the head) with token auth.

    The token is written to ``temp_root/home/.ray/auth_token`` and HOME points there, so Ray
    finds it at its default place and the user's real ``~/.ray`` is never touched.
    ``RAY_AUTH_MODE=token`` is set on every node, as Ray's docs require.
    """
    temp_root.mkdir(parents=True, exist_ok=True)
    home = temp_root / "home"
    (home / ".ray").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH",
                                                            "RAY_AUTH_MODE", "RAY_ADDRESS")}
    env["HOME"] = str(home)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    if token_auth:
        (home / ".ray" / "auth_token").write_text(secrets.token_hex(32))
        env["RAY_AUTH_MODE"] = "token"
    else:
        env["RAY_AUTH_MODE"] = "disabled"
    env.update(extra_env or {})
    cluster = LocalRayCluster("", "", env, temp_root)  # addresses set when the head starts
    try:
        for index, cpus in enumerate(node_cpus):
            _start_node_with_retries(cluster, index, cpus)
        wait_for_alive_nodes(cluster, len(node_cpus), exact=True)
    except BaseException:
        cluster.stop()
        raise
    return cluster


@contextlib.contextmanager
def running_cluster(prefix: str, node_cpus: tuple[int, ...] = (1, 1)) -> Iterator[LocalRayCluster]:
    """A token-auth cluster for the length of a ``with`` (a test fixture's body), stopped by session at the
    end; fails if any of its processes is left running. The root is short: Ray's unix socket paths are
    limited to 107 bytes."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    started = start_local_cluster(root, node_cpus=node_cpus, token_auth=True)
    try:
        yield started
    finally:
        started.stop()
        leftover = started.alive_pids()
        shutil.rmtree(root, ignore_errors=True)
        assert not leftover, f"Ray processes left running: {leftover}"


def alive_node_ids(cluster: LocalRayCluster) -> list[str]:
    """Node ids of alive nodes, asked from the dashboard's state API with the cluster's token."""
    from ray.util.state import StateApiClient
    from ray.util.state.common import ListApiOptions, StateResource

    from cluster.auth import auth_headers, resolve_auth_token

    headers = auth_headers(resolve_auth_token(home=cluster.env["HOME"], environ={}))
    client = StateApiClient(cluster.dashboard_url, headers=headers)
    nodes = client.list(StateResource.NODES, options=ListApiOptions(detail=False), raise_on_missing_output=False)
    return [n.node_id for n in nodes if n.state == "ALIVE"]


def wait_for_alive_nodes(cluster: LocalRayCluster, count: int, timeout_s: float = 90.0, exact: bool = False) -> None:
    """Wait until the GCS counts ``count`` alive nodes (at least, or exactly with ``exact``)."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    alive = -1
    while time.monotonic() < deadline:
        try:
            alive = len(alive_node_ids(cluster))
            if alive == count or (alive > count and not exact):
                return
        except Exception as exc:  # dashboard still starting
            last_error = exc
        time.sleep(1.0)
    raise TimeoutError(f"{count} Ray nodes not alive after {timeout_s:.0f} s ({alive} are; last error: {last_error})")


def actor_nodes_by_pid(cluster: LocalRayCluster) -> dict[int, str]:
    """pid -> node id for every actor the cluster has run, dead or alive (Tune trials are actors).

    Both nodes share 127.0.0.1 and one hostname, so Tune's ``node_ip``/``hostname`` cannot tell
    them apart; a trial's ``pid`` (also in result.json) looked up in Ray's actor table can.
    """
    from ray.util.state import StateApiClient
    from ray.util.state.common import ListApiOptions, StateResource

    from cluster.auth import auth_headers, resolve_auth_token

    headers = auth_headers(resolve_auth_token(home=cluster.env["HOME"], environ={}))
    client = StateApiClient(cluster.dashboard_url, headers=headers)
    actors = client.list(StateResource.ACTORS, options=ListApiOptions(detail=True, limit=10_000),
                         raise_on_missing_output=False)
    return {int(a.pid): a.node_id for a in actors if a.pid}
