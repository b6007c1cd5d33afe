"""The replays ``ttsearch replay`` asks for: every (scheduler, searcher) checked against the recording
before Ray starts, then each replayed once per seed on a Ray this module starts and stops."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from search.replay.replay_search import ReplayResult, recording_space, replay, start_replay_ray, strategy_overrides
from search.space.strategy_sections import ASHA_SCHEDULERS
from vocab.errors import UsageError
from vocab.methods import TTLORA
from vocab.recording import Recording


@dataclass(frozen=True)
class ReplayRequest:
    """Which strategies to replay, how often, and the scheduler settings to change (None: recorded)."""

    schedulers: tuple[str, ...]
    searchers: tuple[str, ...]
    seeds: int = 1
    reduction_factor: float | None = None
    max_t: int | None = None
    grace_period: int | None = None
    num_bands: int | None = None
    samples: int | None = None
    concurrency: int = 1
    grace_until_signal: bool | None = None  # scheduler.grace_until_signal (None: as recorded)

    @property
    def strategies(self) -> list[tuple[str, str]]:
        """(scheduler, searcher) pairs, searcher-major as the tables list them."""
        return [(sched, srch) for srch in self.searchers for sched in self.schedulers]


def check_replay_request(recording: Recording, request: ReplayRequest) -> None:
    """Usage errors before Ray starts: a ``--max-t`` beyond the recording, a strategy the recorded space
    cannot take (a model-based searcher on a recording with baselines)."""
    if request.max_t is not None and request.max_t > recording.max_epochs:
        raise UsageError(f"--max-t {request.max_t} exceeds the recorded epoch limit {recording.max_epochs}",
                         where="--max-t", expected=f"at most {recording.max_epochs}")
    overrides = strategy_overrides(request.reduction_factor, request.max_t, request.grace_period, request.num_bands,
                                   request.grace_until_signal)
    for sched, srch in request.strategies:
        if request.grace_until_signal and sched not in ASHA_SCHEDULERS:
            raise UsageError(f"--grace-until-signal holds the first rung of an ASHA scheduler; {sched} has none",
                             where="--grace-until-signal", expected=f"--scheduler among {', '.join(ASHA_SCHEDULERS)}")
        space = recording_space(recording, {"scheduler.type": sched, "search.algorithm": srch, **overrides})
        if srch != "random" and space.methods() != [TTLORA]:
            raise UsageError(f"--searcher {srch} searches TT-LoRA's own space; this recording also holds baselines",
                             where="--searcher", expected="random for a recording with baselines")


def run_replays(recording: Recording, request: ReplayRequest,
                on_result: Callable[[ReplayResult, str, str, int], None] | None = None) -> list[ReplayResult]:
    """Every strategy of ``request`` once per seed; ``on_result(result, scheduler, searcher, seed)`` after
    each. Starts Ray with ``request.concurrency`` trial slots unless it runs already (then stops it)."""
    import ray

    check_replay_request(recording, request)
    for name in ("ray", "ray.tune", "ray.train"):
        logging.getLogger(name).setLevel(logging.ERROR)
    started = not ray.is_initialized()
    if started:
        start_replay_ray(request.concurrency)
    results = []
    try:
        for sched, srch in request.strategies:
            for seed in range(request.seeds):
                result = replay(recording, sched, srch, seed=seed, reduction_factor=request.reduction_factor,
                                max_t=request.max_t, grace_period=request.grace_period,
                                num_bands=request.num_bands, samples=request.samples,
                                grace_until_signal=request.grace_until_signal)
                results.append(result)
                if on_result is not None:
                    on_result(result, sched, srch, seed)
    finally:
        if started:
            ray.shutdown()
    return results


__all__ = ["ReplayRequest", "check_replay_request", "run_replays"]
