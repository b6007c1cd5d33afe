"""Banded ASHA: successive halving inside parameter bands, so an adapter is only compared with
adapters of its own size (docs/ARCHITECTURE.md, "Front-filling search").

Plain ASHA on val loss compares a 600-parameter adapter with a 100k one after one epoch and cuts the
small one, which learns slower: exactly the adapter a compression search is looking for. Here each
band (edges in adapter parameters, ``search/plan/strategy_checks.py``) is one of Tune's own
``AsyncHyperBandScheduler``; this class only routes each trial to its band's, by the adapter size the
trial reports with its first epoch (``MetricKey.ADAPTER_PARAMS``, known exactly before training).
A band with a single trial never cuts it (ASHA's empty rung has no cutoff).
"""
from __future__ import annotations

import pickle
from typing import Any

from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, TrialScheduler

from search.ray_compat.private_names import asha_trial_brackets
from search.strategies.bands import band_index
from vocab.experiment_folder import MetricKey

SIZE_KEY = MetricKey.ADAPTER_PARAMS.value


class BandedASHAScheduler(FIFOScheduler):
    """One ASHA per band of ``edges`` (ascending adapter-parameter counts); see the module docstring."""

    def __init__(self, edges: list[float], time_attr: str, max_t: int, grace_period: int = 1,
                 reduction_factor: float = 3.0, metric: str | None = None, mode: str | None = None) -> None:
        super().__init__()
        if len(edges) < 2:
            raise ValueError(f"banded ASHA needs at least two band edges, got {edges}")
        self.edges = list(edges)
        self.time_attr = time_attr
        self.bands = [AsyncHyperBandScheduler(time_attr=time_attr, metric=metric, mode=mode, max_t=max_t,
                                              grace_period=grace_period, reduction_factor=reduction_factor)
                      for _ in range(len(edges) - 1)]
        self.band_of: dict[str, int] = {}  # trial id -> band index, set at its first result
        self._metric, self._mode = metric, mode

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        if (self._metric and metric) or (self._mode and mode):
            return False
        self._metric, self._mode = self._metric or metric, self._mode or mode
        return all(band.set_search_properties(metric, mode, **spec) for band in self.bands)

    def band_for(self, params: float) -> int:
        """The band of an adapter size; sizes outside the edges go to the nearest end band."""
        index = band_index(self.edges, params)
        if index is not None:
            return index
        return 0 if params < self.edges[0] else len(self.bands) - 1

    def _route(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> AsyncHyperBandScheduler | None:
        if trial.trial_id not in self.band_of:
            if SIZE_KEY not in result:
                return None
            self.band_of[trial.trial_id] = self.band_for(float(result[SIZE_KEY]))
            self.bands[self.band_of[trial.trial_id]].on_trial_add(tune_controller, trial)
        return self.bands[self.band_of[trial.trial_id]]

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        band = self._route(tune_controller, trial, result)
        return TrialScheduler.CONTINUE if band is None else band.on_trial_result(tune_controller, trial, result)

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        band = self._route(tune_controller, trial, result or {})
        if band is not None:
            band.on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        index = self.band_of.get(trial.trial_id)
        if index is not None and trial.trial_id in asha_trial_brackets(self.bands[index]):
            self.bands[index].on_trial_remove(tune_controller, trial)

    def debug_string(self) -> str:
        lines = [f"Banded ASHA, {len(self.bands)} bands:"]
        for i, band in enumerate(self.bands):
            lines.append(f"  [{self.edges[i]:,.0f}, {self.edges[i + 1]:,.0f}] " + band.debug_string().replace("\n", " "))
        return "\n".join(lines)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as handle:
            pickle.dump(self.__dict__, handle)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as handle:
            self.__dict__.update(pickle.load(handle))


__all__ = ["BandedASHAScheduler", "SIZE_KEY"]
