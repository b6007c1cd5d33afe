"""An experiment folder run with ``scheduler: none`` -> ``vocab.recording.Recording`` (for replay).

Only such a folder is a recording: there every trial trained to its own stop (early stop or the
epoch limit), so its whole curve is known and a replayed scheduler can be shown any prefix of it.
A scheduler cut curves short, and a replay would need epochs nobody trained; that is refused.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from analysis import columns as col
from analysis.loading import OWN_STOP_REASONS, load_experiment
from vocab.errors import UsageError
from vocab.experiment_folder import MetricKey
from vocab.methods import flat_trial_config
from vocab.recording import EPOCH_KEYS, OPTIONAL_EPOCH_KEYS, RecordedTrial, Recording

REPLAYABLE_SCHEDULER = "none"


def recording_from_experiment(path: str | Path) -> tuple[Recording, list[str]]:
    """The folder's recording and what was left out (trials that errored or never ended on their own).

    Raises ``UsageError`` when the folder was not run with ``scheduler: none`` or holds no trial."""
    exp = load_experiment(path)
    where = str(exp.path)
    if exp.meta is None:
        raise UsageError("no experiment metadata: not a folder written by `ttsearch run`", where=where)
    if exp.meta.scheduler != REPLAYABLE_SCHEDULER:
        raise UsageError(
            f"this experiment ran with scheduler {exp.meta.scheduler!r}, which cut trials short, so their later "
            "epochs were never trained and cannot be replayed", where=where,
            expected="a folder recorded with `scheduler: none` (--set scheduler.type=none), every trial to its own stop")
    skipped, trials = [], []
    curves = {tid: rows for tid, rows in exp.curves.groupby(col.TRIAL_ID)}
    for row in exp.trials.itertuples(index=False):
        trial = row._asdict()
        tid, reason = trial[col.TRIAL_ID], trial[col.STOP_REASON]
        size = float(trial[col.ADAPTER_PARAMS])
        if reason not in OWN_STOP_REASONS or tid not in curves or not math.isfinite(size):
            skipped.append(f"{tid}: {reason}" + (f" ({trial[col.ERROR]})" if trial[col.ERROR] else ""))
            continue
        config = {k: v for k, v in flat_trial_config(json.loads(trial[col.CONFIG_JSON])).items()
                  if not k.startswith("_")}
        rows = curves[tid].sort_values(MetricKey.EPOCH.value)
        curve = [_recorded_epoch(epoch) for epoch in rows.to_dict("records")]
        trials.append(RecordedTrial(tid, config, size, reason, curve))
    if not trials:
        raise UsageError("no trial of this experiment ended on its own; nothing to replay", where=where)
    recording = Recording(name=exp.name, task=exp.meta.task, score_name=exp.score_name, model=exp.meta.model,
                          max_epochs=exp.meta.max_epochs, patience=exp.meta.patience,
                          full_params=exp.meta.full_params(), trials=trials, source=where,
                          space_yaml=exp.space_text or "")
    return recording, skipped


def _recorded_epoch(row: dict[str, Any]) -> dict[str, float]:
    """One epoch of a curve: the EPOCH_KEYS, and the optional keys the trial reported (not NaN)."""
    epoch = {key: float(row[key]) for key in EPOCH_KEYS}
    epoch.update({key: float(row[key]) for key in OPTIONAL_EPOCH_KEYS
                  if key in row and row[key] is not None and math.isfinite(float(row[key]))})
    return epoch


def load_recording(path: str | Path) -> tuple[Recording, list[str]]:
    """A recording (and the trials left out of it) from an experiment folder or a recording file
    (``ttsearch replay EXPERIMENT``); a usage error for anything else."""
    location = Path(path).expanduser()
    if location.is_dir():
        return recording_from_experiment(location)
    if not location.is_file():
        raise UsageError("no such experiment folder or recording file", where=str(location),
                         expected="a folder from `ttsearch run` with scheduler none, or a recording .json(.gz)")
    try:
        return Recording.read(location), []
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the recording: {exc}", where=str(location),
                         expected="a file written by `ttsearch replay --save-recording`") from None



__all__ = ["load_recording", "recording_from_experiment", "REPLAYABLE_SCHEDULER"]
