"""One search per experiment folder (search/run/experiment_lock.py): real processes, real fcntl locks, a real
SIGKILL, and the lease on a file:// storage URI."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from search.run.experiment_lock import LEASE_STALE_SECONDS, lock_local, lock_uri
from tests.search.helpers import REPO_ROOT
from tests.search.test_bad_input import QUICKSTART, run_main
from vocab.errors import UsageError
from vocab.experiment_folder import LOCK_FILE

HOLD = "import sys, time; from search.run.experiment_lock import lock_local; held = lock_local(sys.argv[1]); print('held', flush=True); time.sleep(600)"


def _holder(folder: Path) -> subprocess.Popen:
    """Another process that takes the folder's lock and keeps it."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_folder_is_refused_and_a_dead_holders_lock_is_taken_over(tmp_path: Path) -> None:
    folder = tmp_path / "exp"
    holder = _holder(folder)
    try:
        with pytest.raises(UsageError, match=rf"another search is running in {folder} \(pid {holder.pid} on "):
            lock_local(str(folder))
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # no clean-up runs: the lock file stays, naming the dead holder
        holder.wait()
    assert str(holder.pid) in (folder / LOCK_FILE).read_text()
    with lock_local(str(folder)) as lock:
        assert lock.took_over is not None and lock.took_over.pid == holder.pid
        assert str(os.getpid()) in (folder / LOCK_FILE).read_text()
    with lock_local(str(folder)) as again:  # released: free, nothing to take over
        assert again.took_over is None


def test_run_into_a_locked_folder_exits_2_before_ray(tmp_path: Path, shared_data_dir: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    storage = tmp_path / "results"
    holder = _holder(storage / "quickstart")
    try:
        code = run_main(["run", str(QUICKSTART), "--storage", str(storage), "--data-dir", str(shared_data_dir)])
        err = capsys.readouterr().err
        assert code == 2 and f"another search is running in {storage / 'quickstart'} (pid {holder.pid}" in err, err
        assert sorted(p.name for p in (storage / "quickstart").iterdir()) == [LOCK_FILE]  # nothing else written
    finally:
        holder.kill()
        holder.wait()


def test_a_lease_on_a_storage_uri(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/exp"
    first = lock_uri(uri)
    try:
        with pytest.raises(UsageError, match="another search is running"):
            lock_uri(uri)
        later = time.time() + LEASE_STALE_SECONDS + 1  # the holder stopped renewing it long ago
        taken = lock_uri(uri, now=lambda: later)
        assert taken.took_over is not None and taken.took_over.pid == os.getpid()
        taken.release()
    finally:
        first.release()
    assert not (tmp_path / "exp" / LOCK_FILE).exists()
