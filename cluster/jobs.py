"""Submit a search to an existing Ray cluster as a Ray job, and follow, list and stop such jobs.

Why a job and not ``ttsearch run --address`` from a laptop: the search driver then runs *inside*
the cluster (on the head node), so it survives the laptop going to sleep, and only the space file
has to travel. The Ray Jobs API (``ray.job_submission.JobSubmissionClient``, part of
``ray[default]``) talks HTTP to the dashboard port (8265 by default), not to the GCS port (6379).

What travels with the job (its ``runtime_env``):

- default: the space resolved locally (``extends:`` merged, ``--set``, ``--storage`` and ``--name``
  applied, validated: ``ResolvedSpaceFile``) as one self-contained file, in a fresh working directory,
  so a space that extends another (every paper space) reads on the cluster. The cluster must have
  ttsearch installed (same machine, a cluster image, or ``--pip``); the entrypoint is
  ``ttsearch run <space> --address auto``.
- ``--working-dir DIR``: a project checkout uploaded as the job's working directory (Ray adds it to
  ``sys.path``); the space must lie inside DIR, and the entrypoint is
  ``python -m ttsearch run ...`` so the uploaded code is what runs. The cluster still needs the
  dependencies (torch, transformers, ray); ``--pip`` can add packages.

Paths inside the space (data, model folders) are read on the cluster, so they must exist there:
use absolute paths on shared storage, hub ids, or ``--set`` overrides. The storage path must be an
absolute path or a URI for the same reason. The auth token is sent as a header and never put in
the runtime_env (which anyone who can list jobs can read).
"""
from __future__ import annotations

import asyncio
import shlex
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlparse

import yaml

from cluster.auth import WHERE_TOKENS_ARE_LOOKED_FOR, auth_headers, resolve_auth_token
from cluster.storage import uri_scheme
from vocab.errors import UsageError

DEFAULT_DASHBOARD_PORT = 8265
NON_DASHBOARD_PORTS = {6379: "the GCS port", 10001: "the Ray Client port"}
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
WORKING_DIR_EXCLUDES = [".git", ".venv", "venv", "**/__pycache__", "*.egg-info", ".pytest_cache",
                        "ray_results", "experiments"]
JOB_METADATA_TOOL = "ttsearch"


def normalize_dashboard_address(address: str) -> str:
    """``host:8265`` / ``http://host:8265`` -> ``http://host:8265``; reject GCS and client addresses."""
    text = (address or "").strip()
    if not text:
        raise UsageError("no cluster address given", where="--address",
                         expected="the dashboard URL, e.g. http://HEAD:8265 (or set RAY_API_SERVER_ADDRESS)")
    if text.startswith("ray://"):
        raise UsageError(f"{text!r} is a Ray Client address", where="--address",
                         expected=f"the dashboard URL, e.g. http://HEAD:{DEFAULT_DASHBOARD_PORT}")
    if "://" not in text:
        text = "http://" + text
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(f"cannot read {address!r} as a dashboard URL", where="--address",
                         expected=f"http(s)://HOST[:PORT], e.g. http://HEAD:{DEFAULT_DASHBOARD_PORT}")
    try:
        port = parsed.port
    except ValueError:
        raise UsageError(f"the port in {address!r} is not a number", where="--address",
                         expected=f"http://HOST:PORT, e.g. http://HEAD:{DEFAULT_DASHBOARD_PORT}") from None
    if port in NON_DASHBOARD_PORTS:
        raise UsageError(
            f"{address!r} points at {NON_DASHBOARD_PORTS[port]}; jobs are submitted to the dashboard",
            where="--address", expected=f"the dashboard port, {DEFAULT_DASHBOARD_PORT} unless changed")
    return text.rstrip("/")


def connect(address: str, token_file: str | None = None) -> Any:
    """A ``JobSubmissionClient`` for the dashboard at ``address``, sending the resolved token.

    Connection and authentication failures become ``UsageError`` with what to do about them.
    """
    url = normalize_dashboard_address(address)
    token = resolve_auth_token(token_file)
    try:
        from ray.exceptions import AuthenticationError
        from ray.job_submission import JobSubmissionClient
    except ImportError as exc:  # ray[tune] without ray[default]
        raise UsageError(f"the Ray Jobs SDK is not importable ({exc})",
                         expected="ray[default] installed: pip install 'ray[default]'") from None
    try:
        return JobSubmissionClient(url, headers=auth_headers(token))
    except AuthenticationError as exc:
        sent = f"the token from {token.source}" if token else "no token"
        refused = "rejected" if "Forbidden" in str(exc) else "requires a token"
        raise UsageError(f"the cluster at {url} {refused} (sent {sent})", where="--address",
                         expected=f"the cluster's token in {WHERE_TOKENS_ARE_LOOKED_FOR}") from None
    except ConnectionError:
        raise UsageError(f"cannot reach a Ray dashboard at {url}", where="--address",
                         expected="a running cluster's dashboard URL (ray start --head prints it; "
                                  "with a remote cluster forward the port, e.g. `ray dashboard cluster.yaml`)") from None


def _call(action: str, job_id: str, fn: Callable[[], Any]) -> Any:
    """Run a client call, turning "no such job" into a UsageError naming the id."""
    try:
        return fn()
    except RuntimeError as exc:
        if "404" in str(exc) or "does not exist" in str(exc):
            raise UsageError(f"no job {job_id!r} on this cluster", where=action,
                             expected="a submission id from `ttsearch jobs`") from None
        raise


@dataclass
class JobRequest:
    """Everything ``submit`` sends: built (and checked) without talking to the cluster."""

    entrypoint: list[str]
    runtime_env: dict[str, Any]
    metadata: dict[str, str] = field(default_factory=dict)
    staging_dir: Path | None = None  # temporary working dir holding the space; removed after submit

    @property
    def entrypoint_command(self) -> str:
        return shlex.join(self.entrypoint)

    def cleanup(self) -> None:
        """Remove the staging dir (Ray has uploaded it by the time ``submit`` returns)."""
        if self.staging_dir is not None:
            shutil.rmtree(self.staging_dir, ignore_errors=True)


@dataclass(frozen=True)
class ResolvedSpaceFile:
    """A space resolved and validated locally (by ``search.space.schema``; cluster/ does not import it): the
    text of one self-contained file, and the storage path it runs with."""

    text: str
    storage_path: str


def _space_storage(space_file: Path, overrides: list[str]) -> str | None:
    """The storage path the run will use: last ``--set storage.path=`` or the space's own."""
    for item in reversed(overrides):
        key, sep, value = item.partition("=")
        if sep and key.strip() == "storage.path":
            return value.strip()
    try:
        raw = yaml.safe_load(space_file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UsageError(f"not valid YAML: {exc}", where=str(space_file)) from None
    storage = raw.get("storage") if isinstance(raw, dict) else None
    path = storage.get("path") if isinstance(storage, dict) else None
    return str(path) if path is not None else None


def check_storage_for_submit(storage: str | None, where: str) -> None:
    """A submitted job runs in a temporary directory on the head: storage must be absolute or a URI."""
    if storage is None:
        raise UsageError("no storage path set for a submitted search", where=where,
                         expected="--storage with an absolute shared path or a URI (s3://..., gs://...)")
    if uri_scheme(storage) or storage.startswith(("/", "~")):
        return
    raise UsageError(f"storage path {storage!r} is relative; the job runs in a temporary directory "
                     "on the cluster, so the results would be lost with it", where=where,
                     expected="an absolute path on shared storage or a URI (s3://..., gs://...)")


def _job_files(space: Path, working_dir: str | None, resolved: ResolvedSpaceFile | None
               ) -> tuple[dict[str, Any], Path | None, str, list[str]]:
    """(runtime_env, staging dir, the space's path in the job, the program): the space in a fresh
    staging dir (resolved text, or the file as it is), or a checkout uploaded as the working dir."""
    if working_dir is None:
        staging_dir = Path(tempfile.mkdtemp(prefix="ttsearch-submit-"))
        if resolved is not None:  # one self-contained file: its parents are merged into it
            (staging_dir / space.name).write_text(resolved.text, encoding="utf-8")
        else:
            shutil.copy2(space, staging_dir / space.name)
        return {"working_dir": str(staging_dir)}, staging_dir, space.name, ["ttsearch"]
    root = Path(working_dir).expanduser().resolve()
    if not root.is_dir():
        raise UsageError(f"{working_dir!r} is not a directory", where="--working-dir",
                         expected="a project checkout to upload")
    try:
        space_arg = space.resolve().relative_to(root).as_posix()
    except ValueError:
        raise UsageError(f"space file {str(space)!r} is not inside {str(root)!r}", where="--working-dir",
                         expected="a working dir that contains the space file") from None
    return ({"working_dir": str(root), "excludes": list(WORKING_DIR_EXCLUDES)}, None, space_arg,
            ["python", "-m", "ttsearch"])


def parse_env_pairs(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["A=1", "B=x=y"]`` -> ``{"A": "1", "B": "x=y"}``; a pair without a name is an error."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--env {pair!r} is not KEY=VALUE", where="--env",
                             expected="KEY=VALUE, e.g. TTSEARCH_DATA_DIR=/shared/glue")
        env[key.strip()] = value
    return env


def build_job_request(
    space_file: str,
    overrides: list[str] | tuple[str, ...] = (),
    storage: str | None = None,
    name: str | None = None,
    resume: bool = False,
    working_dir: str | None = None,
    pip: list[str] | tuple[str, ...] = (),
    env_vars: dict[str, str] | None = None,
    resolved: ResolvedSpaceFile | None = None,
) -> JobRequest:
    """Entrypoint, runtime_env and metadata for ``ttsearch run`` on the cluster (see module doc).
    With ``resolved``, its storage path is checked and, without ``working_dir``, its text is what
    travels (overrides, storage and name are already in it)."""
    space = Path(space_file).expanduser()
    if not space.is_file():
        raise UsageError(f"space file {space_file!r} does not exist", where="SPACE",
                         expected="a search-space YAML file, e.g. spaces/quickstart.yaml")
    overrides = list(overrides)
    for item in overrides:
        if "=" not in item:
            raise UsageError(f"--set {item!r} has no '='", where="--set", expected="key=value")
    if resolved is not None:
        effective_storage = resolved.storage_path
    else:
        effective_storage = storage if storage is not None else _space_storage(space, overrides)
    check_storage_for_submit(effective_storage, "--storage" if storage is not None else f"{space}: storage.path")

    runtime_env, staging_dir, space_arg, program = _job_files(space, working_dir, resolved)
    if resolved is not None and working_dir is None:  # the staged file already holds them
        overrides, storage, name_arg = [], None, None
    else:
        name_arg = name
    if pip:
        runtime_env["pip"] = list(pip)
    if env_vars:
        runtime_env["env_vars"] = dict(env_vars)

    entrypoint = [*program, "run", space_arg, "--address", "auto"]
    for item in overrides:
        entrypoint += ["--set", item]
    if storage is not None:
        entrypoint += ["--storage", storage]
    if name_arg is not None:
        entrypoint += ["--name", name_arg]
    if resume:
        entrypoint.append("--resume")
    metadata = {"tool": JOB_METADATA_TOOL, "space": space.name}
    if name:
        metadata["name"] = name
    return JobRequest(entrypoint, runtime_env, metadata, staging_dir)


def submit(client: Any, request: JobRequest) -> str:
    """Submit ``request`` (uploading its working dir); returns the submission id."""
    return str(client.submit_job(entrypoint=request.entrypoint_command,
                                 runtime_env=request.runtime_env, metadata=request.metadata))


def job_status(client: Any, job_id: str) -> str:
    """Status name of a job (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED)."""
    return str(_call("JOB", job_id, lambda: client.get_job_status(job_id)).value)


def iter_log_chunks(client: Any, job_id: str) -> Iterator[str]:
    """Yield a job's log as it is written, until the job ends (the Jobs SDK's websocket tail)."""
    _call("JOB", job_id, lambda: client.get_job_status(job_id))
    agen = client.tail_job_logs(job_id)
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.run_until_complete(agen.aclose())
        loop.close()


def wait_for_terminal_status(client: Any, job_id: str, timeout_s: float = 60.0,
                             poll_s: float = 0.5) -> str:
    """Poll until the job reaches a terminal status; returns it (raises TimeoutError otherwise)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = job_status(client, job_id)
        if status in TERMINAL_STATUSES:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {status} after {timeout_s:.0f} s")
        time.sleep(poll_s)


def stop(client: Any, job_id: str) -> bool:
    """Ask a job to stop (SIGTERM to the driver, then SIGKILL). True if it was still running."""
    return bool(_call("JOB", job_id, lambda: client.stop_job(job_id)))


def logs(client: Any, job_id: str) -> str:
    """The job's whole log so far."""
    return str(_call("JOB", job_id, lambda: client.get_job_logs(job_id)))


@dataclass(frozen=True)
class JobRow:
    """One line of ``ttsearch jobs``."""

    submission_id: str
    status: str
    start_time: str
    name: str
    entrypoint: str


def list_jobs(client: Any, only_ttsearch: bool = False) -> list[JobRow]:
    """Submitted jobs, newest first; ``only_ttsearch`` keeps those ``ttsearch submit`` made."""
    rows = []
    for info in client.list_jobs():
        metadata = info.metadata or {}
        if only_ttsearch and metadata.get("tool") != JOB_METADATA_TOOL:
            continue
        started = (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.start_time / 1000))
                   if info.start_time else "")
        rows.append(JobRow(info.submission_id or info.job_id or "", str(info.status.value), started,
                           metadata.get("name", ""), info.entrypoint))
    return sorted(rows, key=lambda row: row.start_time, reverse=True)
