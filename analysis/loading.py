"""An experiment folder -> one row per trial plus per-epoch curves, with warnings for what is off.

A trial's config may be flat (old folders, or one method) or nested under ``method`` (several
methods); it is read through ``vocab.methods.flat_trial_config``, so every trial row has a ``method``
(``"ttlora"`` when the folder predates methods) and the parameter columns of every method.
``adapter_params`` comes from the reports (an older folder's are upgraded first: analysis/folder_upgrade.py).

Works on a folder alone (a copy on a laptop is fine) and while the search is still writing to it:
whatever cannot be read becomes a warning in ``Experiment.warnings``; only a path that does not
exist or is not a folder is an error.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import columns as col
from analysis.config_display import core_count, rank_text, resolved_shape_text
from analysis.folder_upgrade import upgrade_reports
from analysis.trial_files import (
    TUNE_TIME_THIS_ITER_KEY,
    TUNE_TIMESTAMP_KEY,
    TrialRecord,
    confined_trial_dirs,
    inside,
    read_trial,
)
from vocab.errors import UsageError
from vocab.experiment_folder import (
    EXPERIMENT_META_FILE,
    LOCK_FILE,
    RESOLVED_SPACE_FILE,
    ExperimentMeta,
    MetricKey,
    StopReason,
)
from vocab.methods import METHOD_KEY, TTLORA, all_param_rows, flat_trial_config
from vocab.searched_params import CORES, SHAPE

# Tune's experiment state (trial statuses; may lag behind the trial folders, so only a hint).
TUNE_EXPERIMENT_STATE_GLOB = "experiment_state-*.json"
TUNE_TERMINAL_STATUSES = ("TERMINATED", "ERROR")
# A search whose newest file is older than this, with trials not finished, is reported as stopped.
STALE_AFTER_SECONDS = 15 * 60
# Field a driver may set on ExperimentMeta when Tuner.fit returns (read if present).
FINISHED_FIELD = "finished_unix"

OWN_STOP_REASONS = (StopReason.EARLY_STOP.value, StopReason.MAX_EPOCHS.value, StopReason.DIVERGED.value,
                    StopReason.OUT_OF_MEMORY.value, StopReason.STORAGE_FAILED.value, StopReason.SINGLE_RUN.value)
ENDED_WITH_MESSAGE = (StopReason.DIVERGED.value, StopReason.OUT_OF_MEMORY.value, StopReason.STORAGE_FAILED.value)


class ExperimentStatus:
    EMPTY = "empty"  # no trial has started
    RUNNING = "running"  # trials unfinished and files changed recently
    FINISHED = "finished"
    STOPPED = "stopped"  # trials unfinished and nothing written for STALE_AFTER_SECONDS


@dataclass
class Experiment:
    """One experiment folder, read."""

    path: Path
    name: str
    meta: ExperimentMeta | None
    trials: pd.DataFrame  # one row per trial, columns in analysis.columns.TRIAL_COLUMNS
    curves: pd.DataFrame  # one row per (trial, epoch)
    status: str
    warnings: list[str] = field(default_factory=list)
    space_text: str | None = None
    newest_mtime: float = 0.0

    @property
    def score_name(self) -> str:
        if self.meta and self.meta.score_name:
            return self.meta.score_name
        names = self.trials[col.SCORE_NAME].dropna() if len(self.trials) else pd.Series(dtype=object)
        names = names[names.astype(str) != ""]
        return str(names.iloc[0]) if len(names) else "score"

    @property
    def trials_total(self) -> int:
        """Trials the search will run (the space's num_samples), at least those seen."""
        planned = self.meta.num_samples if self.meta else 0
        return max(planned, len(self.trials))

    @property
    def trials_done(self) -> int:
        if not len(self.trials):
            return 0
        return int((self.trials[col.STOP_REASON] != StopReason.RUNNING.value).sum())


def read_meta(folder: Path, warnings: list[str]) -> ExperimentMeta | None:
    """The folder's ExperimentMeta, or None (missing or unreadable: said in ``warnings``)."""
    path = folder / EXPERIMENT_META_FILE
    if not path.is_file():
        warnings.append(
            f"{EXPERIMENT_META_FILE} is missing: compression ratios and the task's metric name are unknown"
        )
        return None
    try:
        return ExperimentMeta.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError) as exc:
        warnings.append(f"{EXPERIMENT_META_FILE} cannot be read ({exc}); continuing without it")
        return None


def _read_tune_statuses(folder: Path) -> dict[str, str]:
    """trial_id -> Tune status from the newest experiment_state file (empty when unreadable)."""
    files = sorted(folder.glob(TUNE_EXPERIMENT_STATE_GLOB), key=lambda p: p.stat().st_mtime)
    if not files:
        return {}
    try:
        state = json.loads(files[-1].read_text(encoding="utf-8"))
        statuses = {}
        for trial_json, _runtime in state.get("trial_data", []):
            trial = json.loads(trial_json)
            statuses[str(trial.get("trial_id"))] = str(trial.get("status"))
        return statuses
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def param_columns(params: dict[str, Any], resolved_shapes: dict[str, list[int]]) -> dict[str, Any]:
    """One display value per parameter row of any method (``params``: a flat trial config): the shape
    as text ("auto" resolved from the adapter), the core count of the shape, list-valued rows as text,
    numbers as floats; "" / NaN where the trial's method has no such row."""
    shape = params.get(SHAPE.name)
    columns: dict[str, Any] = {}
    for param in all_param_rows():
        value = params.get(param.name)
        if param.name == SHAPE.name:
            columns[param.name] = resolved_shape_text(shape, resolved_shapes)
        elif param.name == CORES.name:
            columns[param.name] = core_count(shape, value)
        elif param.list_values:
            columns[param.name] = rank_text(value)
        elif param.value == "text":
            columns[param.name] = "" if value is None else str(value)
        else:
            columns[param.name] = _number(value)
    return columns


def _epochs_trained(rows: list[dict[str, Any]]) -> int:
    """Epochs reported (a diverged trial's closing report repeats its last finished epoch)."""
    epochs = [r.get(MetricKey.EPOCH.value) for r in rows]
    numbers = [int(e) for e in epochs if isinstance(e, (int, float)) and not isinstance(e, bool)]
    return max(numbers) if numbers else len(rows)


def _error_text(record: TrialRecord, rows: list[dict[str, Any]], stop_reason: str) -> str:
    if stop_reason == StopReason.ERROR.value:
        return record.error_text
    if stop_reason in ENDED_WITH_MESSAGE:
        messages = [r.get(MetricKey.END_MESSAGE.value) for r in rows if isinstance(r.get(MetricKey.END_MESSAGE.value), str)]
        return f"{stop_reason}: {messages[-1]}" if messages else stop_reason
    return f"recovered after: {record.error_text}" if record.error_text else ""


def _number(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _last_number(rows: list[dict[str, Any]], key: str) -> float:
    for row in reversed(rows):
        value = _number(row.get(key))
        if not math.isnan(value):
            return value
    return math.nan


def _sum_numbers(rows: list[dict[str, Any]], key: str) -> float:
    values = [_number(r.get(key)) for r in rows]
    values = [v for v in values if not math.isnan(v)]
    return float(sum(values)) if values else math.nan


def _best_from_curve(rows: list[dict[str, Any]]) -> tuple[float, float, float]:
    """(best val loss, score at that epoch, that epoch) recomputed from the reports."""
    best: tuple[float, float, float] = (math.nan, math.nan, math.nan)
    for row in rows:
        loss = _number(row.get(MetricKey.VAL_LOSS.value))
        if not math.isnan(loss) and (math.isnan(best[0]) or loss < best[0]):
            best = (loss, _number(row.get(MetricKey.SCORE.value)), _number(row.get(MetricKey.EPOCH.value)))
    return best


def _stop_reason(record: TrialRecord, tune_status: str | None, experiment_finished: bool) -> str:
    """Why the trial ended (a StopReason value). The trainable's own verdict wins: a trial that failed,
    was retried by Tune and then finished has an old error.txt but ended by max_epochs/early_stop."""
    reported = ""
    for row in reversed(record.rows):
        if isinstance(row.get(MetricKey.STOP_REASON.value), str):
            reported = row[MetricKey.STOP_REASON.value]
            break
    if reported in OWN_STOP_REASONS:
        return reported
    if record.error_text and (tune_status == "ERROR" or record.error_after_last_report):
        return StopReason.ERROR.value
    if record.rows and (tune_status in TUNE_TERMINAL_STATUSES or experiment_finished):
        return StopReason.SCHEDULER.value  # ended while the trainable still said "running"
    return StopReason.RUNNING.value


def trial_method(params: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The trial's method: the one its reports name, else its config's (no ``method`` key: TT-LoRA)."""
    for row in reversed(rows):
        reported = row.get(MetricKey.METHOD.value)
        if isinstance(reported, str) and reported:
            return reported
    return str(flat_trial_config(params).get(METHOD_KEY) or TTLORA)


def _trial_row(record: TrialRecord, meta: ExperimentMeta | None, stop_reason: str) -> dict[str, Any]:
    params = record.params
    rows = upgrade_reports(record.rows, params, meta.format_version if meta else 1)
    method = trial_method(params, rows)
    ttlora_params = _last_number(rows, MetricKey.TTLORA_PARAMS.value)
    adapter_params = _last_number(rows, MetricKey.ADAPTER_PARAMS.value)
    best_loss = _last_number(rows, MetricKey.BEST_VAL_LOSS.value)
    best_score = _last_number(rows, MetricKey.BEST_SCORE.value)
    best_epoch = _last_number(rows, MetricKey.BEST_EPOCH.value)
    if not any(MetricKey.BEST_VAL_LOSS.value in row for row in rows):  # an older trainable, or a bare progress.csv
        best_loss, best_score, best_epoch = _best_from_curve(rows)
    full = meta.full_params() if meta and meta.target_dims else 0
    lora8 = meta.lora_params(8) if meta and meta.target_dims else 0
    has_size = adapter_params > 0
    score_names = [r.get(MetricKey.SCORE_NAME.value) for r in rows if isinstance(r.get(MetricKey.SCORE_NAME.value), str)]
    wall = _sum_numbers(rows, MetricKey.EPOCH_SECONDS.value)
    if math.isnan(wall):
        wall = _sum_numbers(rows, TUNE_TIME_THIS_ITER_KEY)
    return {
        col.TRIAL_ID: record.trial_id,
        col.TRIAL_DIR: record.trial_dir.name,
        col.METHOD: method,
        **param_columns(flat_trial_config(params), record.resolved_shapes),
        col.ADAPTER_PARAMS: adapter_params,
        col.TTLORA_PARAMS: ttlora_params,
        col.HEAD_PARAMS: _last_number(rows, MetricKey.HEAD_PARAMS.value),
        col.TRAINABLE_PARAMS: _last_number(rows, MetricKey.TRAINABLE_PARAMS.value),
        col.ADAPTER_BYTES_16BIT: _last_number(rows, MetricKey.ADAPTER_BYTES_16BIT.value),
        col.ADAPTER_FILE_BYTES: _last_number(rows, MetricKey.ADAPTER_FILE_BYTES.value),
        col.COMPRESSION_VS_FULL: full / adapter_params if full and has_size else math.nan,
        col.COMPRESSION_VS_LORA8: lora8 / adapter_params if lora8 and has_size else math.nan,
        col.BEST_VAL_LOSS: best_loss,
        col.BEST_SCORE: best_score,
        col.BEST_EPOCH: best_epoch,
        **_heldout_columns(record, meta),
        col.SCORE_NAME: score_names[-1] if score_names else (meta.score_name if meta else ""),
        col.EPOCHS: _epochs_trained(rows),
        col.STOP_REASON: stop_reason,
        col.ERROR: _error_text(record, rows, stop_reason),
        col.WALL_SECONDS: wall,
        col.GPU_SECONDS: _sum_numbers(rows, MetricKey.GPU_SECONDS.value),
        **_time_budget_columns(record),
        col.LAST_REPORT_UNIX: _last_number(rows, TUNE_TIMESTAMP_KEY),
        col.BEST_ADAPTER_PATH: str(record.best_adapter_dir) if record.best_adapter_dir else "",
        col.CONFIG_JSON: json.dumps({k: params[k] for k in sorted(params)}, default=str),
    }


def _heldout_columns(record: TrialRecord, meta: ExperimentMeta | None) -> dict[str, Any]:
    """The held-out score and where it comes from: the trial's own final report, or the pass after the
    search (``heldout_test.json``) for a trial a scheduler stopped; "not scored" for the others."""
    if record.heldout is not None:
        return {col.BEST_TEST_SCORE: _number(record.heldout.best_test_score),
                col.BEST_TEST_LOSS: _number(record.heldout.best_test_loss),
                col.TEST_SCORED: col.TestScored.AFTER_SEARCH, col.HELDOUT_SECONDS: _number(record.heldout.test_seconds)}
    score = _last_number(record.rows, MetricKey.BEST_TEST_SCORE.value)
    if not math.isnan(score):
        scored = col.TestScored.BY_TRIAL
    elif meta is not None and meta.has_test_split:
        scored = col.TestScored.NOT_SCORED
    else:
        scored = col.TestScored.NO_TEST_SPLIT
    return {col.BEST_TEST_SCORE: score, col.BEST_TEST_LOSS: _last_number(record.rows, MetricKey.BEST_TEST_LOSS.value),
            col.TEST_SCORED: scored, col.HELDOUT_SECONDS: math.nan}


def _time_budget_columns(record: TrialRecord) -> dict[str, Any]:
    """Where the trial's time went (summed over its reports) and the token positions it computed."""
    summed = (col.TRAIN_SECONDS, col.VAL_SECONDS, col.TEST_SECONDS, col.CHECKPOINT_SECONDS, col.TRAIN_TOKENS,
              col.TRAIN_TOKEN_POSITIONS, col.EVAL_TOKENS, col.EVAL_TOKEN_POSITIONS)
    columns = {name: _sum_numbers(record.rows, name) for name in summed}
    peaks = [_number(r.get(col.PEAK_GPU_MEMORY_BYTES)) for r in record.rows]
    columns[col.PEAK_GPU_MEMORY_BYTES] = max((p for p in peaks if not math.isnan(p)), default=math.nan)
    columns[col.SETUP_SECONDS] = _last_number(record.rows, col.SETUP_SECONDS)  # reported once per trial start
    return columns


def _curve_rows(record: TrialRecord) -> list[dict[str, Any]]:
    """One row per trained epoch (a diverged / out-of-memory trial's closing report trained nothing)."""
    return [
        {col.TRIAL_ID: record.trial_id, **{key: _number(row.get(key)) for key in col.CURVE_METRICS},
         col.REPORT_UNIX: _number(row.get(TUNE_TIMESTAMP_KEY))}
        for row in record.rows if MetricKey.END_MESSAGE.value not in row
    ]


def _experiment_status(records: list[TrialRecord], meta: ExperimentMeta | None, tune_statuses: dict[str, str],
                       newest: float, now: float) -> str:
    if not records:
        return ExperimentStatus.EMPTY
    if meta is not None and _number(getattr(meta, FINISHED_FIELD, None)) > 0:
        return ExperimentStatus.FINISHED
    planned = meta.num_samples if meta else len(records)
    ended = [
        r for r in records
        if _stop_reason(r, tune_statuses.get(r.trial_id), False) != StopReason.RUNNING.value
        or tune_statuses.get(r.trial_id) in TUNE_TERMINAL_STATUSES
    ]
    if len(ended) == len(records) and len(records) >= planned:
        return ExperimentStatus.FINISHED
    return ExperimentStatus.RUNNING if now - newest < STALE_AFTER_SECONDS else ExperimentStatus.STOPPED


def load_experiment(path: str | Path, now: float | None = None, confine_to: Path | None = None) -> Experiment:
    """Read an experiment folder. Raises ``UsageError`` only when ``path`` is not an experiment folder.
    ``confine_to`` (``ttsearch browse``): read nothing that resolves outside that folder."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise UsageError("no such experiment folder", where=str(folder), expected="a folder written by `ttsearch run`")
    if not folder.is_dir():
        raise UsageError("not a folder", where=str(folder), expected="an experiment folder written by `ttsearch run`")
    folder = folder.resolve()
    warnings: list[str] = []
    root = confine_to.resolve() if confine_to is not None else None
    if root is not None and not all(inside(folder / name, root) for name in (EXPERIMENT_META_FILE, RESOLVED_SPACE_FILE)):
        raise UsageError("its files link outside the browsed folder", where=str(folder))
    meta = read_meta(folder, warnings)
    space_path = folder / RESOLVED_SPACE_FILE
    space_text = space_path.read_text(encoding="utf-8", errors="replace") if space_path.is_file() else None
    records = [read_trial(d) for d in confined_trial_dirs(folder, root, warnings)]
    started = any((folder / name).exists() for name in (EXPERIMENT_META_FILE, LOCK_FILE))  # LOCK_FILE: a run starting
    if not records and not started and not any(folder.glob(TUNE_EXPERIMENT_STATE_GLOB)):
        raise UsageError(f"not an experiment folder: no {EXPERIMENT_META_FILE}, no Tune experiment state and no "
                         "trial folders", where=str(folder), expected="a folder written by `ttsearch run`")
    if not records:
        warnings.append("no trial folders yet: the search has not started a trial, or this is not an experiment folder")
    for record in records:
        warnings.extend(record.warnings)
    tune_statuses = _read_tune_statuses(folder)
    newest = max([r.newest_mtime for r in records] + [_mtime(folder / EXPERIMENT_META_FILE)])
    status = _experiment_status(records, meta, tune_statuses, newest, time.time() if now is None else now)
    finished = status == ExperimentStatus.FINISHED
    trial_rows = [_trial_row(r, meta, _stop_reason(r, tune_statuses.get(r.trial_id), finished)) for r in records]
    trials = pd.DataFrame(trial_rows, columns=list(col.TRIAL_COLUMNS))
    curves = pd.DataFrame([row for r in records for row in _curve_rows(r)], columns=[col.TRIAL_ID, *col.CURVE_METRICS, col.REPORT_UNIX])
    if len(trials) and trials[col.ADAPTER_PARAMS].isna().all():
        warnings.append(f"no trial reported {MetricKey.ADAPTER_PARAMS.value} (or {MetricKey.TTLORA_PARAMS.value}): "
                        "the parameter axis is empty")
    return Experiment(
        path=folder, name=meta.name if meta and meta.name else folder.name, meta=meta, trials=trials,
        curves=curves, status=status, warnings=warnings, space_text=space_text, newest_mtime=newest,
    )


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
