"""Find experiment folders under a root and summarise each one (``ttsearch ls``, the browse index):
status, trials, the methods it holds ("ttlora+lora"), best scores, and the smallest front size in
adapter parameters (the task head not counted). Where the confirmation stage ran, the best scores are the
confirmed finalist's means over its seeds (analysis/confirmed.py)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import columns as col
from analysis.confirmed import confirmed_best
from analysis.hypervolume import experiment_hypervolume
from analysis.loading import TUNE_EXPERIMENT_STATE_GLOB, Experiment, load_experiment
from analysis.methods_summary import methods_text, ordered_methods, trial_methods
from analysis.pareto import best_trial, pareto_front
from analysis.time_budget import time_budget
from vocab.errors import UsageError
from vocab.experiment_folder import EXPERIMENT_META_FILE, RAY_LOG_DIR

MAX_DEPTH = 4  # <root>/<storage>/<experiment> and a little more


def is_experiment_dir(path: Path) -> bool:
    """Written by ``ttsearch run`` (our meta file) or by Tune directly (its experiment state)."""
    if not path.is_dir():
        return False
    return (path / EXPERIMENT_META_FILE).is_file() or any(path.glob(TUNE_EXPERIMENT_STATE_GLOB))


def find_experiments(root: Path, max_depth: int = MAX_DEPTH) -> list[Path]:
    """Experiment folders at or below ``root`` (not descending into an experiment), sorted by path."""
    if not root.exists():
        raise UsageError("no such folder", where=str(root), expected="a folder holding experiment folders")
    if not root.is_dir():
        raise UsageError("not a folder", where=str(root), expected="a folder holding experiment folders")
    found: list[Path] = []

    def walk(folder: Path, depth: int) -> None:
        if is_experiment_dir(folder):
            found.append(folder)
            return
        if depth >= max_depth:
            return
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return
        for child in children:
            if child.name != RAY_LOG_DIR and not child.is_symlink():
                walk(child, depth + 1)

    walk(root, 0)
    return found


@dataclass
class ExperimentSummary:
    """One line of ``ttsearch ls``."""

    name: str
    path: Path  # absolute
    relative: str  # relative to the listed root, "." for the root itself
    status: str
    trials_done: int
    trials_total: int
    score_name: str
    best_score: float  # highest validation task metric at any trial's best epoch (what selection sees)
    best_test_score: float  # the held-out test metric of that same trial (NaN without a test split)
    smallest_front_params: float  # fewest adapter params on the Pareto front over all methods
    warnings: int
    methods: list[str] = field(default_factory=list)  # vocab.methods names, TT-LoRA first
    hypervolume: float = math.nan  # of the (log10 adapter params, val score) front (analysis/hypervolume.py)
    best_test_scored: str = ""  # columns.TestScored of that trial ("not scored": a test split, no score)
    train_share: float = math.nan  # training steps' share of the summed trial seconds (analysis/time_budget.py)
    train_real_fraction: float = math.nan  # real tokens / token positions of the training batches
    confirmed_seeds: int = 0  # > 0: best scores are the confirmed finalist's means over this many seeds

    @property
    def methods_text(self) -> str:
        """``"ttlora+lora"`` ("" when nothing says which)."""
        return methods_text(self.methods)


def summarise(exp: Experiment, root: Path) -> ExperimentSummary:
    trials = exp.trials
    scores = pd.to_numeric(trials[col.BEST_SCORE], errors="coerce") if len(trials) else pd.Series(dtype=float)
    test_scores = pd.to_numeric(trials[col.BEST_TEST_SCORE], errors="coerce") if len(trials) else pd.Series(dtype=float)
    front = pareto_front(trials) if len(trials) else trials
    smallest = float(pd.to_numeric(front[col.DEFAULT_COST]).min()) if len(front) else math.nan
    try:
        relative = str(exp.path.relative_to(root.resolve())) or "."
    except ValueError:
        relative = str(exp.path)
    budget = time_budget(trials)
    # highest val score; ties: fewest adapter parameters (the front's member, whose test score was scored)
    best_row = best_trial(trials, col.BEST_SCORE) if len(trials) else None
    best_score = float(scores.loc[best_row.name]) if best_row is not None else math.nan
    best_test = float(test_scores.loc[best_row.name]) if best_row is not None else math.nan
    confirmed = confirmed_best(exp.path)
    if confirmed is not None:  # the confirmed finalist's means over its seeds replace one seed's scores
        best_score, best_test = confirmed.val_mean, confirmed.test_mean
    return ExperimentSummary(
        best_score=best_score, best_test_score=best_test, confirmed_seeds=confirmed.seeds if confirmed else 0,
        best_test_scored=str(best_row.get(col.TEST_SCORED, "")) if best_row is not None else "",
        train_share=budget.share(col.TRAIN_SECONDS), train_real_fraction=budget.train_real_fraction,
        name=exp.name, path=exp.path, relative=relative, status=exp.status, trials_done=exp.trials_done,
        trials_total=exp.trials_total, score_name=exp.score_name,
        smallest_front_params=smallest, warnings=len(exp.warnings), methods=experiment_methods(exp),
        hypervolume=experiment_hypervolume(exp) if len(trials) else math.nan,
    )


def experiment_methods(exp: Experiment) -> list[str]:
    """The methods an experiment holds: its trials' and those its meta file plans (old folders: TT-LoRA)."""
    planned = exp.meta.methods if exp.meta and isinstance(exp.meta.methods, list) else []
    seen = list(trial_methods(exp.trials).unique()) if len(exp.trials) else []
    return ordered_methods([*planned, *seen])


def list_experiments(root: str | Path) -> list[ExperimentSummary]:
    """Summaries of every experiment under ``root`` (an unreadable one still gets a line)."""
    base = Path(root).expanduser()
    return [summarise(load_experiment(path), base) for path in find_experiments(base)]
