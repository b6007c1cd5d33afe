"""Helpers for the end-to-end search tests: run the real CLI in a subprocess, read experiment folders."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from vocab.experiment_folder import CHECKPOINT_PREFIX, TUNE_PARAMS_FILE, TUNE_RESULT_FILE

REPO_ROOT = Path(__file__).resolve().parents[2]

# Small settings for CI: a real search on real data, minutes not tens of minutes. Batches of 16: with
# 192 rows that makes 3 length groups of 3 batches (search/tasks/encoding.mega_batch_size), where 32
# gave groups of one batch, no grouping, and 60 % padding; an epoch trains in 0.7 of the time.
SMALL_QUICKSTART = [
    "--set", "data.limit_train=192", "--set", "data.limit_val=96", "--set", "data.limit_test=96",
    "--set", "train.max_length=32",
    "--set", "train.batch_size=16",
]


# One trial, three epochs, no scheduler: the reference run of the fault tests. A trial alone may use both
# cores (resources.cpu=2: torch then runs 2 threads), as nothing else would run beside it.
ONE_TRIAL_THREE_EPOCHS = [*SMALL_QUICKSTART, "--set", "num_samples=1", "--set", "scheduler.type=none",
                          "--set", "train.max_epochs=3", "--set", "scheduler.max_t=3", "--set", "search.algorithm=random",
                          "--set", "resources.cpu=2"]


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def run_cli(args: list[str], timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    """``ttsearch ARGS`` in a fresh process (its own embedded Ray), from the repo root."""
    return subprocess.run([sys.executable, "-m", "ttsearch", *args], cwd=REPO_ROOT, env=cli_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def trial_dirs(experiment: Path) -> list[Path]:
    return sorted(p for p in experiment.iterdir() if p.is_dir() and (p / TUNE_PARAMS_FILE).exists())


def results(trial: Path) -> list[dict]:
    path = trial / TUNE_RESULT_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def latest_checkpoint(trial: Path) -> Path | None:
    checkpoints = sorted(trial.glob(f"{CHECKPOINT_PREFIX}*"))
    return checkpoints[-1] if checkpoints else None


def _folder_listing(folder: Path) -> list[tuple[str, int, int]]:
    """(path, size, mtime) of every file under ``folder``; files that vanish while listed are left out."""
    listing = []
    for path in folder.rglob("*"):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if path.is_file():
            listing.append((str(path), stat.st_size, stat.st_mtime_ns))
    return sorted(listing)


def wait_until_quiet(folder: Path, quiet_s: float = 0.5, timeout_s: float = 20.0) -> None:
    """Wait until no file under ``folder`` has changed for ``quiet_s``; fails the test after ``timeout_s``.

    Tune copies its snapshot of an experiment (state files, every trial's result.json) to storage file by
    file. The tests that SIGKILL a search to test resume mean a kill between two snapshots, so they wait
    for a quiet folder: a kill inside a copy (a few ms) leaves a mixed snapshot, another fault."""
    deadline = time.monotonic() + timeout_s
    listing, quiet_since = _folder_listing(folder), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = _folder_listing(folder)
        if now != listing:
            listing, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
    raise AssertionError(f"{folder} never went {quiet_s} s without a file changing in {timeout_s:.0f} s")
