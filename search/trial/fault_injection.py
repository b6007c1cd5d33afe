"""Faults injected by the failure tests, behind one small entry point (``inject_faults``).

The driver reads the environment once (``faults_from_env``) and passes the result to every trial in
``SharedTrialInputs.faults``; the trainable calls ``inject_faults`` after each epoch's training. At the
epoch named a trial crashes once (then restarts from its checkpoint), runs out of memory, has a
non-finite loss, or holds (makes no progress until it is stopped: a search that provably has work
left when a test interrupts it). Empty in normal use: nothing here runs.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from ray import tune

from search.trial.training import DivergedError

FAULT_ENVS = {"fail_once": "TTSEARCH_FAIL_ONCE_AT_EPOCH", "oom": "TTSEARCH_OOM_AT_EPOCH",
              "diverge": "TTSEARCH_DIVERGE_AT_EPOCH", "disk_full": "TTSEARCH_DISK_FULL_AT_EPOCH",
              "hold": "TTSEARCH_HOLD_AT_EPOCH"}
DISK_FULL_BYTES = 1024  # the file-size limit while the injected "full disk" lasts
HELD_MARKER = ".ttsearch_held"  # written in the trial folder when the trial starts holding
HOLD_SECONDS = 600  # a hold nobody ends still ends


def inject_faults(faults: dict[str, int], epoch: int) -> None:
    """Test hooks (``FAULT_ENVS``): a crash once, an out-of-memory error, a non-finite loss, or a hold."""
    if faults.get("fail_once") == epoch:
        _inject_failure_once(epoch)
    if faults.get("oom") == epoch:
        raise torch.cuda.OutOfMemoryError(f"injected out-of-memory error at epoch {epoch} ({FAULT_ENVS['oom']})")
    if faults.get("diverge") == epoch:
        raise DivergedError(f"non-finite training loss (injected, {FAULT_ENVS['diverge']}) at epoch {epoch}")
    if faults.get("hold") == epoch:
        _hold(epoch)


@contextlib.contextmanager
def checkpoint_write_limit(faults: dict[str, int], epoch: int) -> Iterator[None]:
    """A full disk while this epoch's checkpoint is written (``disk_full``): a real file-size limit
    (RLIMIT_FSIZE, 1 KiB) on this process, so every write that would grow a file past it fails with
    EFBIG as a full disk fails with ENOSPC (Python ignores SIGXFSZ). Lifted afterwards, so the trial
    can still report. Nothing happens unless the fault was asked for."""
    if faults.get("disk_full") != epoch:
        yield
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (DISK_FULL_BYTES, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _hold(epoch: int) -> None:
    """Write ``HELD_MARKER`` and wait, before this epoch is reported, until Tune stops the trial (or
    ``HOLD_SECONDS`` pass)."""
    import time

    (Path(tune.get_context().get_trial_dir()) / HELD_MARKER).write_text(f"held at epoch {epoch}\n")
    time.sleep(HOLD_SECONDS)


def _inject_failure_once(epoch: int) -> None:
    """Raise the first time this trial reaches ``epoch`` (a marker in the trial folder survives the
    restart, the checkpoint from before the failure does not know about it)."""
    marker = Path(tune.get_context().get_trial_dir()) / ".ttsearch_injected_failure"
    if not marker.exists():
        marker.write_text(f"failed once at epoch {epoch}\n")
        raise RuntimeError(f"injected failure at epoch {epoch} ({FAULT_ENVS['fail_once']})")


def faults_from_env() -> dict[str, int]:
    """The injected faults the environment asks for (``FAULT_ENVS``); empty in normal use."""
    return {kind: int(os.environ[name]) for kind, name in FAULT_ENVS.items() if os.environ.get(name)}


__all__ = ["FAULT_ENVS", "HELD_MARKER", "faults_from_env", "inject_faults", "checkpoint_write_limit"]
