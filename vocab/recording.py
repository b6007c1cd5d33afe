"""A recorded experiment in compact form: each trial's configuration and per-epoch curve, no checkpoints.

``ttsearch replay`` re-runs scheduler and searcher decisions on one (search/replay/replay_search.py); analysis builds
it from an experiment folder run with ``scheduler: none`` (analysis/recording.py), where every trial
trained to its own stop, so its whole curve is known. ``benchmarks/data/front_recording.json`` is one,
committed so replays and their tests need no training.
"""
from __future__ import annotations

import gzip
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vocab.errors import UsageError

RECORDING_FORMAT = "ttsearch-recording/1"
# what one recorded epoch keeps (vocab.experiment_folder.MetricKey values)
EPOCH_KEYS = ("epoch", "val_loss", "score", "best_val_loss", "best_score")
# kept when the experiment reported it (newer versions): the signal of scheduler.grace_until_signal
OPTIONAL_EPOCH_KEYS = ("val_classes_predicted",)


@dataclass
class RecordedTrial:
    """One trial: its searched values (flat, as in params.json), adapter size, and curve."""

    trial_id: str
    config: dict[str, Any]
    adapter_params: float
    stop_reason: str
    curve: list[dict[str, float]]  # one dict per epoch, keys EPOCH_KEYS (and any of OPTIONAL_EPOCH_KEYS)

    @property
    def epochs(self) -> int:
        return len(self.curve)


@dataclass
class Recording:
    name: str
    task: str
    score_name: str
    model: str
    max_epochs: int
    patience: int
    full_params: int  # full fine-tuning of the targets: the hypervolume's reference size
    trials: list[RecordedTrial] = field(default_factory=list)
    format: str = RECORDING_FORMAT
    source: str = ""  # the experiment folder it was read from
    space_yaml: str = ""  # the experiment's resolved space (search/space/schema.py), for the replayed strategy

    @property
    def trial_epochs(self) -> int:
        return sum(t.epochs for t in self.trials)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> "Recording":
        """Parse and check a recording; ``ValueError`` names what is wrong (``read`` makes it a usage error)."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError(f"the document is a JSON {type(raw).__name__}, not an object")
        if raw.get("format") != RECORDING_FORMAT:
            raise ValueError(f"not a ttsearch recording (format {str(raw.get('format'))[:80]!r}, "
                             f"expected {RECORDING_FORMAT!r})")
        missing = [f for f in ("name", "task", "score_name", "model", "max_epochs", "patience", "full_params",
                               "trials") if f not in raw]
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)}")
        if not isinstance(raw["trials"], list) or not raw["trials"]:
            raise ValueError("trials: expected a non-empty list of recorded trials")
        trials = [_recorded_trial(t, i) for i, t in enumerate(raw.pop("trials"))]
        known = {f for f in cls.__dataclass_fields__ if f != "trials"}
        return cls(**{k: v for k, v in raw.items() if k in known}, trials=trials)

    def write(self, path: str | Path) -> None:
        data = self.to_json().encode()
        Path(path).write_bytes(gzip.compress(data, mtime=0) if str(path).endswith(".gz") else data)

    @classmethod
    def read(cls, path: str | Path) -> "Recording":
        """Read a recording file (``.json`` or ``.json.gz``); anything unreadable is a ``UsageError``."""
        try:
            data = Path(path).read_bytes()
            text = (gzip.decompress(data) if str(path).endswith(".gz") else data).decode("utf-8")
            return cls.from_json(text)
        except (OSError, EOFError, UnicodeDecodeError, ValueError, TypeError) as exc:  # gzip, JSON, fields
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise UsageError(f"not a readable ttsearch recording: {reason}", where=str(path),
                             expected="a file written by `ttsearch replay --save-recording` (.json or .json.gz)") from None


def _recorded_trial(raw: Any, index: int) -> RecordedTrial:
    """One recorded trial, checked: its fields, and a curve of at least one epoch with the EPOCH_KEYS."""
    where = f"trials[{index}]"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object")
    missing = [f for f in RecordedTrial.__dataclass_fields__ if f not in raw]
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)}")
    curve = raw["curve"]
    if not isinstance(curve, list) or not curve:
        raise ValueError(f"{where}.curve: expected a non-empty list of epochs")
    for epoch, row in enumerate(curve):
        if not isinstance(row, dict) or any(k not in row for k in EPOCH_KEYS):
            raise ValueError(f"{where}.curve[{epoch}]: expected an object with {', '.join(EPOCH_KEYS)}")
    if not isinstance(raw["config"], dict):
        raise ValueError(f"{where}.config: expected an object")
    return RecordedTrial(**{k: raw[k] for k in RecordedTrial.__dataclass_fields__})


__all__ = ["Recording", "RecordedTrial", "RECORDING_FORMAT", "EPOCH_KEYS", "OPTIONAL_EPOCH_KEYS"]
