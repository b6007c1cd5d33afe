"""A recorded experiment in compact form: each trial's configuration and per-epoch curve, no checkpoints.

``ttsearch replay`` re-runs scheduler and searcher decisions on one (search/replay.py); analysis builds
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

RECORDING_FORMAT = "ttsearch-recording/1"
# what one recorded epoch keeps (vocab.experiment_folder.MetricKey values)
EPOCH_KEYS = ("epoch", "val_loss", "score", "best_val_loss", "best_score")


@dataclass
class RecordedTrial:
    """One trial: its searched values (flat, as in params.json), adapter size, and curve."""

    trial_id: str
    config: dict[str, Any]
    adapter_params: float
    stop_reason: str
    curve: list[dict[str, float]]  # one dict per epoch, keys EPOCH_KEYS

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
    space_yaml: str = ""  # the experiment's resolved space (search/space.py), for the replayed strategy

    @property
    def trial_epochs(self) -> int:
        return sum(t.epochs for t in self.trials)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> "Recording":
        raw = json.loads(text)
        if raw.get("format") != RECORDING_FORMAT:
            raise ValueError(f"not a ttsearch recording (format {raw.get('format')!r}, expected {RECORDING_FORMAT!r})")
        trials = [RecordedTrial(**t) for t in raw.pop("trials")]
        return cls(**raw, trials=trials)

    def write(self, path: str | Path) -> None:
        data = self.to_json().encode()
        Path(path).write_bytes(gzip.compress(data, mtime=0) if str(path).endswith(".gz") else data)

    @classmethod
    def read(cls, path: str | Path) -> "Recording":
        data = Path(path).read_bytes()
        return cls.from_json((gzip.decompress(data) if str(path).endswith(".gz") else data).decode())


__all__ = ["Recording", "RecordedTrial", "RECORDING_FORMAT", "EPOCH_KEYS"]
