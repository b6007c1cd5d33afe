"""Pick the trial to export and write its configuration as a space file that trains it once.

``best.yaml`` = the experiment's resolved ``space.yaml`` turned into one run of the chosen trial, with
``scheduler: {type: none}`` and ``num_samples: 1``, so ``ttsearch run best.yaml`` trains exactly that
configuration, once, with the same model, task, data and training settings:

- a TT-LoRA trial: every ``search:`` row fixed to the value the trial sampled; any ``baselines:``
  section removed;
- a baseline trial (LoRA, VeRA, ...): ``ttlora: {enabled: false, ...}`` (its targets, head and saved
  modules still apply to the baseline), ``baselines: {<method>: {...}}`` with that method's rows fixed
  to the trial's values (other baselines removed), and no ``search:`` section (TT-LoRA's rows have no
  use there).

The choice can be narrowed to one method (``--method``). No torch here; the adapter files are written
by ``search.trial.methods.export_trial`` (called by the CLI).
"""
from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from analysis import BY_METRIC, BY_PARETO
from analysis import columns as col
from analysis.confirmed import ConfirmedChoice, confirmed_best
from analysis.loading import Experiment
from analysis.methods_summary import method_name, ordered_methods, trial_methods
from analysis.pareto import best_trial, best_under_budget, metric_column_for
from vocab.errors import UsageError
from vocab.experiment_folder import RESOLVED_SPACE_FILE
from vocab.methods import (
    METHODS,
    TTLORA,
    all_param_rows,
    flat_trial_config,
    method_label,
)
from vocab.searched_params import EFFECTIVE_LR, LEARNING_RATE, SearchedParam

BEST_SPACE_FILE = "best.yaml"
EXPORT_SUMMARY_FILE = "export.json"
BASELINES_KEY = "baselines"  # the space's section of baseline methods
ENABLED_KEY = "enabled"  # ttlora.enabled: false re-runs a baseline alone


def method_trials(exp: Experiment, method: str | None) -> pd.DataFrame:
    """The experiment's trials of ``method`` (a name or label, any case; None: all). A method the
    experiment has no trial of is a usage error naming the methods it has."""
    if method is None:
        return exp.trials
    methods = trial_methods(exp.trials)
    present = ordered_methods(methods.unique())
    wanted = method.strip().lower()
    by_key = {name.lower(): name for name in present} | {method_label(name).lower(): name for name in present}
    if wanted not in by_key:
        listed = ", ".join(f"{name} ({method_label(name)})" for name in present) or "none"
        raise UsageError(f"the experiment has no {method!r} trials; its methods: {listed}", where="--method",
                         expected=f"one of {', '.join(present)}")
    return exp.trials[methods == by_key[wanted]]


@dataclass(frozen=True)
class ExportChoice:
    """The trial ``export`` writes, and the confirmation's figures when they chose it (else None)."""

    trial: pd.Series
    confirmed: ConfirmedChoice | None = None


def choose_trial(exp: Experiment, by: str = BY_METRIC, max_params: float | None = None,
                 metric: str | None = None, method: str | None = None) -> pd.Series:
    """The trial to export (``choose_export``'s trial)."""
    return choose_export(exp, by, max_params, metric, method).trial


def choose_export(exp: Experiment, by: str = BY_METRIC, max_params: float | None = None,
                  metric: str | None = None, method: str | None = None) -> ExportChoice:
    """The trial to export, with the confirmed figures that chose it (the folder is read once).

    ``by="metric"``: the best trial by ``metric`` (default: the metric the search optimised, from the
    experiment's meta; val loss when unknown). ``by="pareto"``: among the Pareto front (fewer adapter
    parameters vs higher task metric), the best task metric with at most ``max_params`` parameters.
    ``method``: only that method's trials (its own front for ``pareto``); default: all methods. When the
    confirmation stage ran and no ``metric`` is given, ``metric`` picks the confirmed finalist with the
    highest mean validation score over its seeds instead (analysis/confirmed.py)."""
    if by not in (BY_METRIC, BY_PARETO):
        raise UsageError(f"unknown selection {by!r}", where="--by", expected=f"{BY_METRIC} or {BY_PARETO}")
    if not len(exp.trials):
        raise UsageError("the experiment has no trials to export", where=str(exp.path),
                         expected="an experiment with at least one reported epoch")
    trials = method_trials(exp, method)
    which = f" {method_label(trial_methods(trials).iloc[0])}" if method and len(trials) else ""
    if by == BY_PARETO:
        if max_params is None:
            raise UsageError("--by pareto needs --max-params N", where="--max-params", expected="a positive parameter budget")
        metric_col = metric_column_for(metric) if metric else col.BEST_SCORE
        chosen = best_under_budget(trials, max_params, metric_col=metric_col)
        if chosen is None:
            smallest = pd.to_numeric(trials[col.ADAPTER_PARAMS], errors="coerce").min()
            raise UsageError(f"no{which} Pareto-front trial has at most {max_params:,.0f} adapter parameters "
                             f"(the smallest{which} trial has {smallest:,.0f})", where="--max-params",
                             expected="a larger budget")
        return ExportChoice(chosen)
    confirmed = confirmed_choice(exp, trials) if metric is None else None
    if confirmed is not None:  # re-trained over seeds: the highest mean val score decides
        return ExportChoice(trials[trials[col.TRIAL_ID].astype(str) == confirmed.trial_id].iloc[0], confirmed)
    search_metric = metric or (exp.meta.metric if exp.meta else col.BEST_VAL_LOSS)
    chosen = best_trial(trials, metric_column_for(search_metric))
    if chosen is None:
        raise UsageError(f"no{which} trial has a result to rank by", where=str(exp.path),
                         expected="at least one trial that reported an epoch without an error")
    return ExportChoice(chosen)


def confirmed_choice(exp: Experiment, trials: pd.DataFrame) -> ConfirmedChoice | None:
    """The confirmed finalist among ``trials`` with the highest mean val score (None: no confirmation)."""
    return confirmed_best(exp.path, set(trials[col.TRIAL_ID].astype(str)))


def _method_rows(method: str) -> dict[str, SearchedParam]:
    """The parameter rows of ``method`` by name (a method this version does not know: every row)."""
    rows = METHODS[method].params if method in METHODS else all_param_rows()
    return {p.name: p for p in rows}


def trial_method(trial: pd.Series) -> str:
    """The chosen trial's method name (``"ttlora"`` for tables from before methods)."""
    return method_name(trial.get(col.METHOD))


def sampled_params(trial: pd.Series) -> dict[str, Any]:
    """The values Tune sampled for this trial's method rows (flat, whether its config was nested)."""
    raw = json.loads(trial[col.CONFIG_JSON]) if trial[col.CONFIG_JSON] else {}
    flat = flat_trial_config(raw)
    return {name: flat[name] for name in _method_rows(trial_method(trial)) if name in flat}


def _fixed_value(row: SearchedParam | None, value: Any) -> Any:
    """A value the space schema reads as fixed. A list value of a list-valued row (a rank list) would
    read as a choice, so it is wrapped as a one-candidate choice; a shape list/mapping is already a
    fixed shape."""
    if row is not None and row.list_values and isinstance(value, list):
        return {"choice": [value]}
    return copy.deepcopy(value)


def _single_run(space: dict[str, Any], name: str, description: str) -> dict[str, Any]:
    old_scheduler = space.get("scheduler") or {}
    space["scheduler"] = {"type": "none", **({"metric": old_scheduler["metric"]} if "metric" in old_scheduler else {})}
    space["num_samples"] = 1
    space["name"] = name
    space["description"] = description
    return space


def best_space(space: dict[str, Any], params: dict[str, Any], name: str, description: str,
               method: str = TTLORA) -> dict[str, Any]:
    """``space`` (a resolved space mapping) turned into a single run of ``params`` of ``method``."""
    result = copy.deepcopy(space)
    rows = _method_rows(method)
    if method == TTLORA:
        search = dict(result.get("search") or {})
        for key, value in params.items():
            search[key] = _fixed_value(rows.get(key), value)
        if params.get(EFFECTIVE_LR.name) is not None:  # the rate stays derived (effective_lr, alpha fixed)
            search[LEARNING_RATE.name] = None
        result["search"] = search
        result.pop(BASELINES_KEY, None)
        return _single_run(result, name, description)
    ttlora = result.get("ttlora")
    result["ttlora"] = {**(ttlora if isinstance(ttlora, dict) else {}), ENABLED_KEY: False}
    old = (result.get(BASELINES_KEY) or {}).get(method)
    section = {k: copy.deepcopy(v) for k, v in (old if isinstance(old, dict) else {}).items() if k not in rows}
    section.update({key: _fixed_value(rows.get(key), value) for key, value in params.items()})
    result[BASELINES_KEY] = {method: section}
    result.pop("search", None)
    return _single_run(result, name, description)


def read_space(exp: Experiment) -> dict[str, Any]:
    path = exp.path / RESOLVED_SPACE_FILE
    if not path.is_file():
        raise UsageError(f"{RESOLVED_SPACE_FILE} is missing: cannot write a space file that re-runs the trial",
                         where=str(exp.path), expected="an experiment folder written by `ttsearch run`")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UsageError(f"{RESOLVED_SPACE_FILE} is not valid YAML: {exc}", where=str(path)) from None
    if not isinstance(raw, dict):
        raise UsageError(f"{RESOLVED_SPACE_FILE} is not a mapping", where=str(path))
    return raw


def write_best_space(exp: Experiment, trial: pd.Series, out_dir: Path, name: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Write ``out_dir/best.yaml`` and ``out_dir/export.json`` (what was chosen and why)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    method = trial_method(trial)
    space_name = name or f"{exp.name}-best-{trial[col.TRIAL_ID]}"
    description = (f"Trial {trial[col.TRIAL_ID]} ({method_label(method)}) of experiment {exp.name} ({exp.path}), "
                   "exported by ttsearch: one run, no search.")
    params = sampled_params(trial)
    space = best_space(read_space(exp), params, space_name, description, method)
    path = out_dir / BEST_SPACE_FILE
    path.write_text(yaml.safe_dump(space, sort_keys=False), encoding="utf-8")
    summary = {
        "experiment": str(exp.path), "trial_id": str(trial[col.TRIAL_ID]), "trial_dir": str(trial[col.TRIAL_DIR]),
        col.METHOD: method, "params": params,
        **{key: _json_number(trial.get(key)) for key in (col.ADAPTER_PARAMS, col.TTLORA_PARAMS, col.BEST_SCORE,
                                                       col.BEST_TEST_SCORE, col.BEST_VAL_LOSS, col.BEST_EPOCH)},
        col.SCORE_NAME: exp.score_name,
    }
    (out_dir / EXPORT_SUMMARY_FILE).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return path, space


def _json_number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number
