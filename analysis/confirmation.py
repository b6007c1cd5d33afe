"""The confirmation stage, read: which search trials are finalists, and what their re-training with new
seeds says (``ttsearch confirm``; docs/ARCHITECTURE.md, "Confirmation over seeds").

Finalists come from the search's own folder: each method's selected trial (lowest val loss, as the
method table picks it), plus TT-LoRA's Pareto front (``front``), or each method's ``top`` trials by val
loss. The confirmation folder (``<experiment>/confirm``) holds one trial per (finalist, seed), every
finalist with the same seeds; here they are grouped back by finalist: mean, sd and a 95 % interval of
the validation and held-out scores, and, seed by seed, the held-out difference of each TT-LoRA finalist
to the best baseline finalist (the one with the highest mean validation score: the held-out split
decides nothing, here as in the search).
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis import columns as col
from analysis.loading import Experiment, ExperimentStatus, load_experiment, read_meta
from analysis.methods_summary import method_bests, trial_methods
from analysis.pareto import pareto_front, ranked_trials
from vocab.experiment_folder import CONFIRM_DIR, StopReason
from vocab.errors import UsageError
from vocab.finalist import Finalist
from vocab.methods import FINALIST_KEY, SEED_KEY, TTLORA, flat_trial_config, method_label


def _finalist(row: pd.Series, method: str) -> Finalist:
    raw = flat_trial_config(json.loads(row[col.CONFIG_JSON] or "{}"))
    values = {k: v for k, v in raw.items() if not k.startswith("_") and k != "method"}
    return Finalist(str(row[col.TRIAL_ID]), method, values, float(row[col.ADAPTER_PARAMS]))


def require_finished_search(exp: Experiment) -> None:
    """A usage error unless ``exp``'s search has finished, as the report tells it (its end mark, or every
    trial ended: a folder from before the mark, or one whose mark could not be written): the finalists of
    a search still running or interrupted would be those of part of it."""
    if exp.status != ExperimentStatus.FINISHED:
        raise UsageError(f"the search has not finished (status {exp.status}: still running, or interrupted)",
                         where=str(exp.path), expected=f"a finished search: `ttsearch resume {exp.path}` first")


def select_finalists(exp: Experiment, which: str = "selected", top: int = 1) -> list[Finalist]:
    """The finalists of a finished search, each once, in the methods' order."""
    trials = exp.trials
    if trials.empty:
        return []
    methods = trial_methods(trials)
    ok = trials[col.STOP_REASON] != "error" if col.STOP_REASON in trials else pd.Series(True, index=trials.index)
    ranked = trials[ok & pd.to_numeric(trials[col.BEST_VAL_LOSS], errors="coerce").notna()]
    chosen: list[tuple[str, str]] = []  # (trial id, method)
    for _, best in method_bests(trials).iterrows():
        if not best[col.TRIAL_ID]:
            continue
        own = ranked[methods[ranked.index] == best[col.METHOD]]
        if which == "top":
            ids = ranked_trials(own, col.BEST_VAL_LOSS, maximize=False)[col.TRIAL_ID].head(top)  # as selected
        else:
            ids = pd.Series([best[col.TRIAL_ID]])
            if which == "front" and best[col.METHOD] == TTLORA:
                ids = pd.concat([ids, pareto_front(own)[col.TRIAL_ID]])
        chosen += [(str(i), str(best[col.METHOD])) for i in ids]
    by_id = trials.drop_duplicates(col.TRIAL_ID).set_index(col.TRIAL_ID, drop=False)
    unique = list(dict.fromkeys(chosen))
    return [_finalist(by_id.loc[trial_id], method) for trial_id, method in unique]


@dataclass(frozen=True)
class SeedSummary:
    """Scores of one finalist over its confirmation seeds."""

    finalist: str
    method: str
    adapter_params: float
    seeds: list[int]
    val_scores: list[float]
    test_scores: list[float]

    @staticmethod
    def spread(values: list[float]) -> tuple[float, float, float]:
        """(mean, sd, half width of the 95 % t interval); sd and interval NaN below two values."""
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            return math.nan, math.nan, math.nan
        mean = statistics.fmean(finite)
        if len(finite) < 2:
            return mean, math.nan, math.nan
        sd = statistics.stdev(finite)
        return mean, sd, t_quantile_975(len(finite) - 1) * sd / math.sqrt(len(finite))


def t_quantile_975(df: int) -> float:
    """Student's t 0.975 quantile (two-sided 95 %) for ``df`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def confirmation_trials(exp_path: str | Path) -> pd.DataFrame:
    """The confirmation folder's trials with ``finalist`` and ``seed`` columns (empty when none ran)."""
    folder = Path(exp_path) / CONFIRM_DIR
    if not folder.is_dir():
        return pd.DataFrame()
    trials = load_experiment(folder).trials
    if trials.empty:
        return trials
    configs = trials[col.CONFIG_JSON].apply(lambda text: flat_trial_config(json.loads(text or "{}")))
    return trials.assign(finalist=configs.apply(lambda c: str(c.get(FINALIST_KEY, ""))),
                         seed=configs.apply(lambda c: int(c.get(SEED_KEY, -1))))


def confirmation_finished(exp_path: str | Path) -> bool:
    """Whether the experiment's confirmation ran to its end (every seed of every finalist ended without
    an error: search/run/confirmation.py marks it only then)."""
    meta = read_meta(Path(exp_path) / CONFIRM_DIR, [])  # a damaged meta file: not finished, no traceback
    return meta is not None and meta.finished_unix is not None


def summarise_seeds(trials: pd.DataFrame) -> list[SeedSummary]:
    """One summary per finalist of ``confirmation_trials``, in its trial order, over the seeds that ended:
    a seed still running (its best so far) or failed (its scores up to the error) is not a measurement."""
    if col.STOP_REASON in trials:
        trials = trials[~trials[col.STOP_REASON].isin([StopReason.RUNNING.value, StopReason.ERROR.value])]
    out = []
    for finalist, group in trials.groupby("finalist", sort=False):
        group = group.sort_values("seed")
        out.append(SeedSummary(str(finalist), str(trial_methods(group).iloc[0]), float(group[col.ADAPTER_PARAMS].max()),
                               [int(s) for s in group["seed"]],
                               [float(v) for v in pd.to_numeric(group[col.BEST_SCORE], errors="coerce")],
                               [float(v) for v in pd.to_numeric(group[col.BEST_TEST_SCORE], errors="coerce")]))
    return out


def paired_difference(a: SeedSummary, b: SeedSummary, test: bool = True) -> tuple[float, float, int]:
    """(mean, 95 % half width, seeds) of ``a - b`` over the seeds both ran, in score points (x100)."""
    scores_a = dict(zip(a.seeds, a.test_scores if test else a.val_scores))
    scores_b = dict(zip(b.seeds, b.test_scores if test else b.val_scores))
    diffs = [100 * (scores_a[s] - scores_b[s]) for s in scores_a if s in scores_b
             and math.isfinite(scores_a[s]) and math.isfinite(scores_b[s])]
    mean, _, half = SeedSummary.spread(diffs)
    return mean, half, len(diffs)


def verdict(tt: SeedSummary, baseline: SeedSummary) -> str:
    """Whether TT-LoRA's finalist is within 1 point of the baseline's on the held-out split, seed by seed."""
    mean, half, n = paired_difference(tt, baseline)
    who = (f"TT-LoRA {tt.finalist} ({tt.adapter_params:,.0f} params) vs {method_label(baseline.method)} "
           f"{baseline.finalist} ({baseline.adapter_params:,.0f})")
    if n < 2 or not math.isfinite(half):
        return f"{who}: {n} paired seed(s), too few for an interval"
    low, high = mean - half, mean + half
    text = f"{who}: test difference {mean:+.2f} points, 95 % interval [{low:+.2f}, {high:+.2f}] over {n} seeds: "
    if low >= -1.0:
        return text + "within 1 point"
    if high < -1.0:
        return text + "more than 1 point below"
    return text + "not separable from a 1-point gap with these seeds (run more seeds)"


def summary_lines(summaries: list[SeedSummary], score_name: str) -> list[str]:
    """The per-finalist table and, for each TT-LoRA finalist, its paired verdict against the best
    baseline finalist (``best_baseline``: highest mean val score)."""
    lines = [f"{'finalist':<22} {'method':<10} {'params':>10}  {'val ' + score_name:>24}  {'test ' + score_name:>24}  seeds"]
    for s in summaries:
        cells = []
        for values in (s.val_scores, s.test_scores):
            mean, sd, half = SeedSummary.spread(values)
            cells.append(f"{mean:.4f} ± {sd:.4f} (±{half:.4f})" if math.isfinite(sd) else f"{mean:.4f}")
        lines.append(f"{s.finalist:<22} {method_label(s.method):<10} {s.adapter_params:>10,.0f}  {cells[0]:>24}  "
                     f"{cells[1]:>24}  {','.join(map(str, s.seeds))}")
    return lines + verdict_lines(summaries)


def mean_val_score(summary: SeedSummary) -> float:
    """The finalist's mean validation score over its seeds (-inf when no seed scored: never the best)."""
    value = SeedSummary.spread(summary.val_scores)[0]
    return value if math.isfinite(value) else -math.inf


def best_baseline(summaries: list[SeedSummary]) -> SeedSummary | None:
    """The baseline finalist every confirmed comparison is made against: the highest mean *validation*
    score (ties: fewer adapter parameters), so the held-out split decides nothing; None without one."""
    baselines = [s for s in summaries if s.method != TTLORA]
    return max(baselines, key=lambda s: (mean_val_score(s), -s.adapter_params)) if baselines else None


def verdict_lines(summaries: list[SeedSummary]) -> list[str]:
    """Each TT-LoRA finalist's paired verdict against ``best_baseline``; none without a baseline."""
    best = best_baseline(summaries)
    return [verdict(s, best) for s in summaries if s.method == TTLORA] if best is not None else []


__all__ = ["Finalist", "select_finalists", "SeedSummary", "confirmation_trials", "summarise_seeds",
           "paired_difference", "verdict", "verdict_lines", "best_baseline", "mean_val_score", "summary_lines", "t_quantile_975"]
