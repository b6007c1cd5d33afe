"""Read one Tune trial folder (params.json, result.json, progress.csv, error.txt, checkpoints).

Every reader is tolerant: a missing file, a truncated JSON line (a file still being written, or a
copy cut short) or an unreadable checkpoint becomes a warning on the record, never an exception,
so a report can always show what is there.
"""
from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vocab.experiment_folder import (
    BEST_ADAPTER_DIR,
    CHECKPOINT_PREFIX,
    HELDOUT_TEST_FILE,
    RAY_LOG_DIR,
    TUNE_ERROR_FILE,
    TUNE_PARAMS_FILE,
    TUNE_PROGRESS_FILE,
    TUNE_RESULT_FILE,
    HeldoutScore,
    MetricKey,
)

# Tune's own keys in result.json (not ours to define; used only to recover ids and times).
TUNE_TRIAL_ID_KEY = "trial_id"
TUNE_CONFIG_KEY = "config"
TUNE_TIMESTAMP_KEY = "timestamp"
TUNE_TIME_THIS_ITER_KEY = "time_this_iter_s"
TUNE_ITERATION_KEY = "training_iteration"

# Tune 2.x trial folder names: <trainable>_<5 hex>_<5 digits>_<index>_<tag>_<date>.
_TRIAL_ID_IN_DIRNAME = re.compile(r"_([0-9a-f]{5}_\d{5})(?:_|$)")
_TRIAL_FILES = (TUNE_PARAMS_FILE, TUNE_RESULT_FILE, TUNE_PROGRESS_FILE, TUNE_ERROR_FILE)
# ttlora_core's adapter format (ttlora_core.adapter_io; read as JSON here so analysis needs no torch):
# {"modules": {module name: {"shape": [...], "ranks": [...], ...}}, ...}
ADAPTER_CONFIG_FILE = "adapter_config.json"


@dataclass
class TrialRecord:
    """Everything read from one trial folder; ``rows`` are the per-epoch reports in epoch order."""

    trial_id: str
    trial_dir: Path
    params: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    error_text: str = ""  # last line of error.txt ("" when there is none)
    error_after_last_report: bool = False  # error.txt is newer than the last report (not recovered)
    best_adapter_dir: Path | None = None
    resolved_shapes: dict[str, list[int]] = field(default_factory=dict)  # module -> shape, from the adapter
    newest_mtime: float = 0.0
    warnings: list[str] = field(default_factory=list)
    heldout: HeldoutScore | None = None  # scored after the search (a trial a scheduler stopped)


def is_trial_dir(path: Path) -> bool:
    """A folder Tune made for a trial: it holds at least one of Tune's per-trial files."""
    return path.is_dir() and any((path / name).exists() for name in _TRIAL_FILES)


def trial_id_from_dirname(name: str) -> str:
    match = _TRIAL_ID_IN_DIRNAME.search(name)
    return match.group(1) if match else name


def read_json_lines(path: Path, label: str, warnings: list[str]) -> list[dict[str, Any]]:
    """Parse a JSON-lines file, skipping (with a warning) lines that are not JSON objects."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        warnings.append(f"{label}: cannot read {path.name}: {exc}")
        return []
    rows: list[dict[str, Any]] = []
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            is_last = all(not rest.strip() for rest in lines[number:])
            hint = " (truncated: the file may still be being written)" if is_last else ""
            warnings.append(f"{label}: {path.name} line {number} is not valid JSON{hint}; skipped")
            continue
        if not isinstance(value, dict):
            warnings.append(f"{label}: {path.name} line {number} is a {type(value).__name__}, not an object; skipped")
            continue
        rows.append(value)
    return rows


def _csv_value(text: str) -> Any:
    """progress.csv stores every value as text: recover numbers and booleans."""
    if text == "":
        return math.nan
    if text in ("True", "False"):
        return text == "True"
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


def read_progress_csv(path: Path, label: str, warnings: list[str]) -> list[dict[str, Any]]:
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.DictReader(handle)
            rows = []
            for number, raw in enumerate(reader, start=2):
                if None in raw or any(v is None for v in raw.values()):
                    warnings.append(f"{label}: {path.name} line {number} has the wrong number of fields; skipped")
                    continue
                rows.append({k: _csv_value(v) for k, v in raw.items()})
            return rows
    except (OSError, csv.Error) as exc:
        warnings.append(f"{label}: cannot read {path.name}: {exc}")
        return []


def _dedupe_by_epoch(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the last report of each epoch (a trial restored from an older checkpoint repeats
    epochs), in epoch order. Rows without an epoch fall back to Tune's iteration counter."""
    by_epoch: dict[float, dict[str, Any]] = {}
    for index, row in enumerate(rows):
        epoch = row.get(MetricKey.EPOCH.value, row.get(TUNE_ITERATION_KEY))
        key = float(epoch) if isinstance(epoch, (int, float)) and not isinstance(epoch, bool) else float(index + 1)
        by_epoch[key] = row
    return [by_epoch[k] for k in sorted(by_epoch)]


def _latest_best_adapter(trial_dir: Path) -> Path | None:
    """The best_adapter/ folder of the newest checkpoint that has one."""
    checkpoints = sorted(
        (p for p in trial_dir.glob(f"{CHECKPOINT_PREFIX}*") if p.is_dir()),
        key=lambda p: p.name, reverse=True,
    )
    for checkpoint in checkpoints:
        candidate = checkpoint / BEST_ADAPTER_DIR
        if candidate.is_dir():
            return candidate
    return None


def read_resolved_shapes(adapter_dir: Path) -> dict[str, list[int]]:
    """module name -> tensor shape the adapter really used (resolves shape "auto"); {} if unreadable."""
    try:
        config = json.loads((adapter_dir / ADAPTER_CONFIG_FILE).read_text(encoding="utf-8"))
        modules = config["modules"]
        return {str(name): [int(k) for k in spec["shape"]] for name, spec in modules.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _newest_mtime(trial_dir: Path) -> float:
    newest = 0.0
    for name in _TRIAL_FILES:
        try:
            newest = max(newest, (trial_dir / name).stat().st_mtime)
        except OSError:
            continue
    return newest


def read_trial(trial_dir: Path) -> TrialRecord:
    """Read one trial folder into a ``TrialRecord`` (never raises on bad content)."""
    label = f"trial {trial_dir.name}"
    record = TrialRecord(trial_id=trial_id_from_dirname(trial_dir.name), trial_dir=trial_dir)
    warnings = record.warnings

    params_path = trial_dir / TUNE_PARAMS_FILE
    if params_path.is_file():
        try:
            loaded = json.loads(params_path.read_text(encoding="utf-8", errors="replace"))
            if isinstance(loaded, dict):
                record.params = loaded
            else:
                warnings.append(f"{label}: {TUNE_PARAMS_FILE} is a {type(loaded).__name__}, not an object")
        except (OSError, json.JSONDecodeError) as exc:
            warnings.append(f"{label}: {TUNE_PARAMS_FILE} is not valid JSON ({exc}); using the config in its results")

    result_path = trial_dir / TUNE_RESULT_FILE
    progress_path = trial_dir / TUNE_PROGRESS_FILE
    rows: list[dict[str, Any]] = []
    if result_path.is_file():
        rows = read_json_lines(result_path, label, warnings)
    if not rows and progress_path.is_file():
        why = "has no usable line" if result_path.is_file() else "is missing"
        warnings.append(f"{label}: {TUNE_RESULT_FILE} {why}; read {TUNE_PROGRESS_FILE} instead")
        rows = read_progress_csv(progress_path, label, warnings)
    if not rows and not (trial_dir / TUNE_ERROR_FILE).is_file():
        missing = [n for n in (TUNE_RESULT_FILE, TUNE_PROGRESS_FILE) if not (trial_dir / n).is_file()]
        what = f"missing {' and '.join(missing)}" if missing else "no results in its result files"
        warnings.append(f"{label}: {what}; the trial has not reported an epoch yet or its files were lost")
    record.rows = _dedupe_by_epoch(rows)

    if not record.params:
        for row in reversed(rows):
            if isinstance(row.get(TUNE_CONFIG_KEY), dict):
                record.params = row[TUNE_CONFIG_KEY]
                break
    for row in rows:
        if isinstance(row.get(TUNE_TRIAL_ID_KEY), str):
            record.trial_id = row[TUNE_TRIAL_ID_KEY]
            break

    error_path = trial_dir / TUNE_ERROR_FILE
    if error_path.is_file():
        try:
            lines = [ln.strip() for ln in error_path.read_text(encoding="utf-8", errors="replace").splitlines()]
            record.error_text = next((ln for ln in reversed(lines) if ln), "error (empty error.txt)")
        except OSError as exc:
            record.error_text = f"error (cannot read {TUNE_ERROR_FILE}: {exc})"

        record.error_after_last_report = not record.rows or _mtime(error_path) >= max(
            _mtime(result_path), _mtime(progress_path))

    record.best_adapter_dir = _latest_best_adapter(trial_dir)
    if record.best_adapter_dir is not None:
        record.resolved_shapes = read_resolved_shapes(record.best_adapter_dir)
    record.heldout = read_heldout(trial_dir, label, warnings)
    record.newest_mtime = _newest_mtime(trial_dir)
    return record


def read_heldout(trial_dir: Path, label: str, warnings: list[str]) -> HeldoutScore | None:
    """The held-out score the pass after the search wrote (None when there is none or it is damaged)."""
    path = trial_dir / HELDOUT_TEST_FILE
    if not path.is_file():
        return None
    try:
        return HeldoutScore.from_json(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.append(f"{label}: {HELDOUT_TEST_FILE} is not readable ({exc}); its test score is left out")
        return None


def find_trial_dirs(folder: Path) -> list[Path]:
    """The trial folders directly under an experiment folder, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.name != RAY_LOG_DIR and is_trial_dir(p))


def inside(path: Path, root: Path) -> bool:
    """``path``, resolved (symlinks followed), is ``root`` or below it."""
    resolved = path.resolve()
    return resolved == root or root in resolved.parents


def confined_trial_dirs(folder: Path, root: Path | None, warnings: list[str]) -> list[Path]:
    """The trial folders of ``folder``; with ``root``, only those whose every file and folder resolves
    inside ``root`` (a symlinked trial folder or file pointing elsewhere is left out, with a warning)."""
    dirs = find_trial_dirs(folder)
    if root is None:
        return dirs
    kept = []
    for trial_dir in dirs:
        if inside(trial_dir, root) and all(inside(p, root) for p in trial_dir.rglob("*")):
            kept.append(trial_dir)
        else:
            warnings.append(f"trial {trial_dir.name}: left out, it links outside the browsed folder")
    return kept
