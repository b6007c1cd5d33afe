"""Host memory of a trial worker: what it holds, and handing back what trials freed.

With ``reuse_actors`` one worker process runs trial after trial, each in a new thread (Tune's function
runner). glibc's malloc gives each new thread an arena of its own and keeps freed chunks mapped, so a
worker's resident memory grew by about 0.5 GB per MiniLM trial on MRPC (one worker reached 11 GB after
10 trials and Ray's OOM killer ended the search; docs/ARCHITECTURE.md, "Trials that fail").
``release_freed_memory`` at each trial's start (after the previous trial's objects are gone) hands that
memory back: the same worker then stayed at 0.75-0.85 GB over 5 trials.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
from typing import Any


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None (musl, macOS: nothing to call)."""
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


def release_freed_memory() -> None:
    """Collect cycles, then return free heap pages of every malloc arena to the system."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def resident_bytes() -> int:
    """This process's resident set size (0 where /proc is missing)."""
    try:
        with open(f"/proc/{os.getpid()}/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


__all__ = ["release_freed_memory", "resident_bytes"]
