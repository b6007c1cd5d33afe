"""How a search ended, from Tune's result grid: trials finished, failed, and ended early by a fault
(what they had saved kept), with each failure's last error line. ``ttsearch run`` prints it; which trial
each method selected is read from the folder by ``analysis/run_summary.py``, as the report reads it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vocab.experiment_folder import MetricKey, StopReason

ENDED_EARLY = (StopReason.DIVERGED.value, StopReason.OUT_OF_MEMORY.value, StopReason.STORAGE_FAILED.value)


@dataclass(frozen=True)
class RunOutcome:
    trials: int
    finished: int
    failed: int
    ended_early: int  # finished, but by a non-finite loss, out of memory or a failed checkpoint write
    failures: list[tuple[str, str]] = field(default_factory=list)  # (trial folder, last error line)

    @property
    def all_failed(self) -> bool:
        return self.failed > 0 and self.finished == 0

    def lines(self) -> list[str]:
        early = (f" ({self.ended_early} ended early by a non-finite loss, out of memory or a failed checkpoint "
                 "write, what they had saved kept)" if self.ended_early else "")
        return ([f"{self.trials} trials: {self.finished} finished, {self.failed} failed.{early}"]
                + [f"Failed: {name}: {message}" for name, message in self.failures])


def run_outcome(result_grid: Any) -> RunOutcome:
    errors = [r for r in result_grid if r.error is not None]
    ok = [r for r in result_grid if r.error is None and r.metrics]
    early = [r for r in ok if r.metrics.get(MetricKey.STOP_REASON.value) in ENDED_EARLY]
    failures = [(Path(r.path).name, str(r.error).strip().splitlines()[-1][:200]) for r in errors]
    return RunOutcome(len(result_grid), len(ok), len(errors), len(early), failures)


__all__ = ["RunOutcome", "run_outcome"]
