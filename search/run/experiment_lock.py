"""One search per experiment folder: a lock held for the whole run.

Two searches writing into one folder (a second ``ttsearch run`` of the same space, or a ``--resume``
while the first still runs) would interleave Tune's experiment state and trial folders. The driver
takes this lock after the input is validated and before Ray starts, and holds it until the search
returns.

- Local storage: ``<experiment>/.ttsearch.lock`` under an exclusive ``fcntl.flock``, naming the
  holder (pid, host, start time). The kernel drops the lock when the holder dies, however it dies
  (SIGKILL included), so a lock file left behind is stale by construction and is taken over, with a
  message naming the old holder.
- URI storage (s3://, gs://, ...): a lease file with the holder and its start time, renewed every
  ``LEASE_RENEW_SECONDS`` by a thread; a lease not renewed for ``LEASE_STALE_SECONDS`` is stale and
  taken over. Object stores have no atomic create-if-absent here, so the lease is advisory: two
  searches started in the same second can both take it.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from vocab.errors import UsageError
from vocab.experiment_folder import LOCK_FILE

LEASE_RENEW_SECONDS = 60.0
LEASE_STALE_SECONDS = 300.0


@dataclass
class LockHolder:
    """Who holds (or held) an experiment folder."""

    pid: int
    host: str
    started_unix: float
    renewed_unix: float = 0.0

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_unix))
        return f"pid {self.pid} on {self.host}, since {started}"

    @classmethod
    def me(cls) -> "LockHolder":
        now = time.time()
        return cls(os.getpid(), socket.gethostname(), now, now)

    @classmethod
    def parse(cls, text: str) -> "LockHolder | None":
        try:
            raw = json.loads(text)
            return cls(int(raw["pid"]), str(raw["host"]), float(raw["started_unix"]),
                       float(raw.get("renewed_unix", raw["started_unix"])))
        except (ValueError, KeyError, TypeError):
            return None


class ExperimentLock:
    """The held lock; ``release`` (or leaving the ``with`` block) gives it up."""

    def __init__(self, release: Callable[[], None], took_over: LockHolder | None) -> None:
        self._release = release
        self.took_over = took_over  # the stale holder whose lock was taken over, if any

    def release(self) -> None:
        self._release()

    def __enter__(self) -> "ExperimentLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _busy(experiment_dir: str, holder: LockHolder | None) -> UsageError:
    who = holder.describe() if holder else "another process"
    return UsageError(f"another search is running in {experiment_dir} ({who})", where="experiment folder",
                      expected="wait for it to end, or stop it first; one search per experiment folder")


def lock_local(experiment_dir: str) -> ExperimentLock:
    """The fcntl lock of a local experiment folder (created if missing); ``UsageError`` when held."""
    import fcntl

    folder = Path(experiment_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the whole run
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = LockHolder.parse(handle.read())
        handle.close()
        raise _busy(experiment_dir, holder) from None
    handle.seek(0)
    previous = LockHolder.parse(handle.read())  # left by a holder that is gone (the kernel freed its lock)
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(asdict(LockHolder.me())))
    handle.flush()

    def release() -> None:
        if handle.closed:
            return
        handle.seek(0)
        handle.truncate()
        handle.flush()
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()

    return ExperimentLock(release, previous)


def lock_uri(experiment_dir: str, now: Callable[[], float] = time.time) -> ExperimentLock:
    """The advisory lease of an experiment folder on a storage URI (module docstring)."""
    import pyarrow.fs

    filesystem, base = pyarrow.fs.FileSystem.from_uri(experiment_dir)
    path = f"{base.rstrip('/')}/{LOCK_FILE}"
    previous = None
    if filesystem.get_file_info(path).type != pyarrow.fs.FileType.NotFound:
        with filesystem.open_input_stream(path) as stream:
            previous = LockHolder.parse(stream.read().decode("utf-8", errors="replace"))
        if previous is not None and now() - previous.renewed_unix < LEASE_STALE_SECONDS:
            raise _busy(experiment_dir, previous)
    filesystem.create_dir(base, recursive=True)
    me = LockHolder.me()
    stop = threading.Event()

    def write() -> None:
        me.renewed_unix = now()
        with filesystem.open_output_stream(path) as stream:
            stream.write(json.dumps(asdict(me)).encode())

    def renew() -> None:
        while not stop.wait(LEASE_RENEW_SECONDS):
            try:
                write()
            except OSError:
                pass  # the next renewal tries again; a lease not renewed for long is taken over

    write()
    threading.Thread(target=renew, name="ttsearch-lease", daemon=True).start()

    def release() -> None:
        if stop.is_set():
            return
        stop.set()
        try:
            filesystem.delete_file(path)
        except OSError:
            pass

    return ExperimentLock(release, previous)


def lock_experiment(experiment_dir: str) -> ExperimentLock:
    """Take the experiment folder's lock (local) or lease (URI); ``UsageError`` when another search holds it."""
    return lock_uri(experiment_dir) if "://" in experiment_dir else lock_local(experiment_dir)


__all__ = ["ExperimentLock", "LockHolder", "lock_experiment", "lock_local", "lock_uri", "LEASE_STALE_SECONDS"]
