"""Pick the trial to export and write its configuration as a space file that trains it once.

``best.yaml`` = the experiment's resolved ``space.yaml`` with every searched parameter replaced by the
value this trial sampled, ``scheduler: {type: none}`` and ``num_samples: 1``: ``ttsearch run best.yaml``
trains exactly that configuration, once, with the same model, task, data and training settings.
No torch here; the adapter files are written by ``search.export_artifacts`` (called by the CLI).
"""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from analysis import BY_METRIC, BY_PARETO
from analysis import columns as col
from analysis.loading import Experiment
from analysis.pareto import best_trial, best_under_budget, metric_column_for
from vocab.errors import UsageError
from vocab.experiment_folder import RESOLVED_SPACE_FILE
from vocab.searched_params import PARAM_NAMES, PARAMS_BY_NAME

BEST_SPACE_FILE = "best.yaml"
EXPORT_SUMMARY_FILE = "export.json"


def choose_trial(exp: Experiment, by: str = BY_METRIC, max_params: float | None = None,
                 metric: str | None = None) -> pd.Series:
    """The trial to export.

    ``by="metric"``: the best trial by ``metric`` (default: the metric the search optimised, from the
    experiment's meta; val loss when unknown). ``by="pareto"``: among the Pareto front (fewer TT
    parameters vs higher task metric), the best task metric with at most ``max_params`` parameters."""
    if by not in (BY_METRIC, BY_PARETO):
        raise UsageError(f"unknown selection {by!r}", where="--by", expected=f"{BY_METRIC} or {BY_PARETO}")
    if not len(exp.trials):
        raise UsageError("the experiment has no trials to export", where=str(exp.path),
                         expected="an experiment with at least one reported epoch")
    if by == BY_PARETO:
        if max_params is None:
            raise UsageError("--by pareto needs --max-params N", where="--max-params", expected="a positive parameter budget")
        metric_col = metric_column_for(metric) if metric else col.BEST_SCORE
        chosen = best_under_budget(exp.trials, max_params, metric_col=metric_col)
        if chosen is None:
            smallest = pd.to_numeric(exp.trials[col.TTLORA_PARAMS], errors="coerce").min()
            raise UsageError(f"no Pareto-front trial has at most {max_params:,.0f} TT-LoRA parameters "
                             f"(the smallest trial has {smallest:,.0f})", where="--max-params",
                             expected="a larger budget")
        return chosen
    search_metric = metric or (exp.meta.metric if exp.meta else col.BEST_VAL_LOSS)
    chosen = best_trial(exp.trials, metric_column_for(search_metric))
    if chosen is None:
        raise UsageError("no trial has a result to rank by", where=str(exp.path),
                         expected="at least one trial that reported an epoch without an error")
    return chosen


def sampled_params(trial: pd.Series) -> dict[str, Any]:
    """The hyperparameters Tune sampled for this trial (the rows of ``vocab.searched_params``)."""
    raw = json.loads(trial[col.CONFIG_JSON]) if trial[col.CONFIG_JSON] else {}
    return {name: raw[name] for name in PARAM_NAMES if name in raw}


def _fixed_value(key: str, value: Any) -> Any:
    """A value the space schema reads as fixed. A list value of a list-valued row (a rank list) would
    read as a choice, so it is wrapped as a one-candidate choice; a shape list/mapping is already a
    fixed shape."""
    if PARAMS_BY_NAME[key].list_values and isinstance(value, list):
        return {"choice": [value]}
    return copy.deepcopy(value)


def best_space(space: dict[str, Any], params: dict[str, Any], name: str, description: str) -> dict[str, Any]:
    """``space`` (a resolved space mapping) turned into a single run of ``params``."""
    result = copy.deepcopy(space)
    search = dict(result.get("search") or {})
    for key, value in params.items():
        search[key] = _fixed_value(key, value)
    result["search"] = search
    old_scheduler = result.get("scheduler") or {}
    result["scheduler"] = {"type": "none", **({"metric": old_scheduler["metric"]} if "metric" in old_scheduler else {})}
    result["num_samples"] = 1
    result["name"] = name
    result["description"] = description
    return result


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
    space_name = name or f"{exp.name}-best-{trial[col.TRIAL_ID]}"
    description = (f"Trial {trial[col.TRIAL_ID]} of experiment {exp.name} ({exp.path}), exported by ttsearch: "
                   f"one run, no search.")
    space = best_space(read_space(exp), sampled_params(trial), space_name, description)
    path = out_dir / BEST_SPACE_FILE
    path.write_text(yaml.safe_dump(space, sort_keys=False), encoding="utf-8")
    summary = {
        "experiment": str(exp.path), "trial_id": str(trial[col.TRIAL_ID]), "trial_dir": str(trial[col.TRIAL_DIR]),
        "params": sampled_params(trial),
        **{key: _json_number(trial[key]) for key in (col.TTLORA_PARAMS, col.BEST_SCORE, col.BEST_TEST_SCORE,
                                                   col.BEST_VAL_LOSS, col.BEST_EPOCH)},
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
