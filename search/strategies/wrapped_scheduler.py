"""The part every scheduler wrapper here shares: Tune's questions about the metric and buffering go to
the wrapped scheduler (``RememberingScheduler``, search/strategies/scheduler_memory.py;
``SignalGraceScheduler``, search/strategies/signal_grace.py)."""
from __future__ import annotations

from typing import Any

from ray.tune.schedulers import TrialScheduler


class WrappedScheduler(TrialScheduler):
    """A ``TrialScheduler`` around ``inner``; subclasses decide what each trial event does."""

    def __init__(self, inner: TrialScheduler) -> None:
        super().__init__()
        self.inner = inner

    @property
    def metric(self) -> str | None:
        return self.inner.metric

    @property
    def supports_buffered_results(self) -> bool:
        return self.inner.supports_buffered_results

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return self.inner.set_search_properties(metric, mode, **spec)

    def debug_string(self) -> str:
        return self.inner.debug_string()


__all__ = ["WrappedScheduler"]
