"""Tables of replays: one row per (strategy, seed), one summary line per strategy (mean and spread).

Pure arithmetic over ``search.replay.replay_search.ReplayResult``; ``ttsearch replay`` and benchmarks/bench_front.py
print these.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Iterable

from search.replay.replay_search import ReplayResult
from vocab.front_volume import epochs_to_reach, value_at

REACH_FRACTION = 0.95  # "reaches the front": 95% of the whole recording's hypervolume


@dataclass
class StrategySummary:
    strategy: str
    seeds: int
    trial_epochs: list[int]
    selected_scores: list[float]
    hypervolumes: list[float]
    epochs_to_reach: list[int | None]  # to REACH_FRACTION of the recording's hypervolume

    @staticmethod
    def spread(values: list[float]) -> str:
        finite = [v for v in values if v is not None and math.isfinite(v)]
        if not finite:
            return "n/a"
        mean = statistics.fmean(finite)
        sd = statistics.stdev(finite) if len(finite) > 1 else 0.0
        return f"{mean:.4g} ± {sd:.2g}"

    @property
    def reached(self) -> int:
        return sum(1 for e in self.epochs_to_reach if e is not None)


def summarise(results: Iterable[ReplayResult], full_hv: float) -> list[StrategySummary]:
    groups: dict[str, list[ReplayResult]] = {}
    for result in results:
        groups.setdefault(result.strategy, []).append(result)
    target = REACH_FRACTION * full_hv
    return [StrategySummary(name, len(rs), [r.trial_epochs for r in rs], [r.selected_score for r in rs],
                            [r.hypervolume for r in rs], [epochs_to_reach(r.curve, target) for r in rs])
            for name, rs in groups.items()]


def result_lines(results: list[ReplayResult], full_hv: float) -> list[str]:
    header = (f"{'strategy':<24} {'seed':>4} {'trial-epochs':>12} {'selected score':>14} {'hypervolume':>11} "
              f"{'% of recording':>14} {'epochs to 95%':>13}")
    lines = [header, "-" * len(header)]
    target = REACH_FRACTION * full_hv
    for r in results:
        reach = epochs_to_reach(r.curve, target)
        share = 100 * r.hypervolume / full_hv if full_hv > 0 else math.nan
        lines.append(f"{r.strategy:<24} {r.seed:>4} {r.trial_epochs:>12} {r.selected_score:>14.4f} {r.hypervolume:>11.4f} "
                     f"{share:>13.1f}% {reach if reach is not None else 'never':>13}")
    return lines


def summary_lines(summaries: list[StrategySummary], full_hv: float) -> list[str]:
    header = (f"{'strategy':<24} {'seeds':>5} {'trial-epochs':>16} {'selected score':>16} {'hypervolume':>16} "
              f"{'epochs to 95%':>16} {'reached':>8}")
    lines = [header, "-" * len(header)]
    for s in summaries:
        reach = [float(e) for e in s.epochs_to_reach if e is not None]
        lines.append(f"{s.strategy:<24} {s.seeds:>5} {s.spread([float(e) for e in s.trial_epochs]):>16} "
                     f"{s.spread(s.selected_scores):>16} {s.spread(s.hypervolumes):>16} {s.spread(reach):>16} "
                     f"{s.reached:>4}/{s.seeds:<3}")
    return lines


def mean_value_at(results: list[ReplayResult], epochs: int) -> float:
    """Mean hypervolume after ``epochs`` trial-epochs (a replay that spent fewer keeps its last value)."""
    return statistics.fmean(value_at(r.curve, epochs) for r in results) if results else math.nan


__all__ = ["summarise", "result_lines", "summary_lines", "mean_value_at", "StrategySummary", "REACH_FRACTION"]
