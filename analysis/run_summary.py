"""The trial each method selected (lowest val loss, ``methods_summary.method_bests``), as the last lines
of ``ttsearch run``: read from the experiment folder like the report, so both name the same trials and
the run's lines carry held-out scores from the pass after the search too."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from analysis import columns as col
from analysis.loading import load_experiment
from analysis.methods_summary import LABEL, method_bests
from vocab.methods import flat_trial_config


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(float(value))


def selected_trial_line(row: pd.Series, label: str, score_name: str) -> str:
    test = row.get(col.BEST_TEST_SCORE)
    test_text = f"  test {score_name}={test:.4f} (held out)" if _finite(test) else ""
    sampled = flat_trial_config(json.loads(row[col.CONFIG_JSON] or "{}"))
    config = {k: v for k, v in sampled.items() if not k.startswith("_")}
    return (f"Best {label} (lowest val loss): {row[col.TRIAL_DIR]}  val_loss={row[col.BEST_VAL_LOSS]:.4f}  "
            f"val {score_name}={row[col.BEST_SCORE]:.4f}{test_text} at epoch {int(row[col.BEST_EPOCH])}  "
            f"adapter params={int(row[col.ADAPTER_PARAMS]):,}  config={json.dumps(config)}")


def selected_trial_lines(experiment_dir: str | Path, score_name: str) -> list[str]:
    """One line per method with a selected trial, in the methods' order."""
    trials = load_experiment(experiment_dir).trials
    if trials.empty:
        return []
    lines = []
    for _, best in method_bests(trials).iterrows():
        chosen = trials[trials[col.TRIAL_ID] == best[col.TRIAL_ID]] if best[col.TRIAL_ID] else trials.iloc[0:0]
        if len(chosen):
            lines.append(selected_trial_line(chosen.iloc[0], str(best[LABEL]), score_name))
    return lines


__all__ = ["selected_trial_lines", "selected_trial_line"]
