"""A live trial table for the terminal instead of Ray's log flood.

A Tune ``Callback`` running in the driver keeps one row per trial (each searched parameter of
``vocab.searched_params``, epoch, val loss, metric, status). On a terminal it redraws a rich table; elsewhere (CI, redirected output) it
prints one compact line per reported epoch and per state change, so logs stay readable.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

from ray import tune
from rich.console import Console
from rich.live import Live
from rich.table import Table

from vocab.experiment_folder import MetricKey
from vocab.methods import METHOD_KEY, METHODS, TTLORA, all_param_rows, flat_trial_config, method_label
from vocab.searched_params import CORES, SHAPE, SearchedParam
from vocab.shape_text import shape_text


def shown_params(methods: list[str]) -> tuple[SearchedParam, ...]:
    """Columns after the method: the parameters of the search's methods (one per name), except cores,
    shown inside the shape ("auto/4"); a baseline's row leaves TT-LoRA's columns empty."""
    names = {p.name for name in methods for p in METHODS[name].params}
    return tuple(p for p in all_param_rows() if p.name in names and p is not CORES)


@dataclass
class TrialRow:
    trial_id: str
    params: dict[str, str]  # parameter name -> display text
    epoch: int = 0
    val_loss: float | None = None
    score: float | None = None
    status: str = "PENDING"
    stop_reason: str = "running"


def param_text(param: SearchedParam, config: dict[str, Any]) -> str:
    """A sampled value as table text: shapes by the shared formatter ("auto/<cores>" for auto),
    floats in 3 significant digits, the rest as str."""
    value = config.get(param.name)
    if value is None:
        return ""
    if param is SHAPE:
        return f"auto/{config.get(CORES.name)}" if value == "auto" else shape_text(value, separator=",")
    if param.value == "float" and isinstance(value, (int, float)):
        return f"{value:.3g}"
    return str(value)


class ProgressTable(tune.Callback):
    """Tune callback that renders trial progress (see module docstring)."""

    def __init__(self, score_name: str, live: bool | None = None, console: Console | None = None,
                 methods: list[str] | None = None) -> None:
        self.score_name = score_name
        self.shown = shown_params(methods or [TTLORA])
        self.console = console or Console(file=sys.stdout)
        self.live_enabled = self.console.is_terminal if live is None else live
        self.rows: dict[str, TrialRow] = {}
        self._live: Live | None = None
        self._last_render = 0.0

    def _row(self, trial: Any) -> TrialRow:
        if trial.trial_id not in self.rows:
            config = flat_trial_config(trial.config)
            params = {METHOD_KEY: method_label(config[METHOD_KEY]),
                      **{p.name: param_text(p, config) for p in self.shown}}
            self.rows[trial.trial_id] = TrialRow(trial.trial_id, params)
        return self.rows[trial.trial_id]

    def _table(self) -> Table:
        table = Table(title="ttsearch trials", expand=False)
        for column in ("trial", "method", *(p.display_label for p in self.shown), "epoch", "val loss", self.score_name,
                       "status"):
            table.add_column(column, justify="right" if column in ("epoch", "val loss", self.score_name) else "left")
        for row in self.rows.values():
            table.add_row(row.trial_id, *row.params.values(), str(row.epoch),
                          "" if row.val_loss is None else f"{row.val_loss:.4f}",
                          "" if row.score is None else f"{row.score:.4f}", row.status)
        return table

    def _emit(self, line: str, force: bool = False) -> None:
        if self.live_enabled:
            if self._live is None:
                self._live = Live(self._table(), console=self.console, refresh_per_second=2)
                self._live.start()
            now = time.monotonic()
            if force or now - self._last_render > 0.5:
                self._live.update(self._table())
                self._last_render = now
        else:
            self.console.print(line, highlight=False, soft_wrap=True, markup=False)

    # --- Tune callback hooks -------------------------------------------------------------------
    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        row = self._row(trial)
        row.status = "RUNNING"
        self._emit(f"[start] {row.trial_id} " + " ".join(f"{name}={text}" for name, text in row.params.items() if text))

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        row = self._row(trial)
        row.epoch = int(result.get(MetricKey.EPOCH.value, row.epoch))
        row.val_loss = result.get(MetricKey.VAL_LOSS.value)
        row.score = result.get(MetricKey.SCORE.value)
        row.stop_reason = str(result.get(MetricKey.STOP_REASON.value, row.stop_reason))
        row.status = "RUNNING"
        self._emit(f"[epoch] {row.trial_id} epoch={row.epoch} val_loss={row.val_loss:.4f} "
                   f"{self.score_name}={row.score:.4f}")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        row = self._row(trial)
        row.status = "STOPPED" if row.stop_reason == "running" else row.stop_reason.upper()
        self._emit(f"[end]   {row.trial_id} after {row.epoch} epoch(s): {row.status.lower()}", force=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        row = self._row(trial)
        row.status = "ERROR"
        self._emit(f"[error] {row.trial_id} at epoch {row.epoch} (see its error.txt)", force=True)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        row = self._row(trial)
        row.status = "RESTARTING"
        self._emit(f"[retry] {row.trial_id} restarts from its last checkpoint (epoch {row.epoch})", force=True)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.stop()
            self._live = None

    def __getstate__(self) -> dict:
        # Tune pickles callbacks with the experiment state: drop what holds locks and terminals.
        state = self.__dict__.copy()
        state["_live"] = None
        state["console"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.console = Console(file=sys.stdout)
