"""plotly figures built from small trial tables: what is drawn, and what is labelled how."""
from __future__ import annotations

import json
import math

import pandas as pd

from analysis import columns as col
from analysis.figures import (
    FRONT_META,
    REPORTED_META,
    TRIALS_META,
    comparison_figure,
    learning_curves_figure,
    pareto_figure,
    plottable,
)
from analysis.paper_reference import REPORTED_RESULTS, ReportedResult, reference_points
from vocab.experiment_folder import MetricKey, StopReason


def trials_table(rows: list[dict]) -> pd.DataFrame:
    """Full trial rows (every column of the loader) from a few given fields."""
    defaults = {name: math.nan for name in col.TRIAL_COLUMNS}
    defaults.update({col.SHAPE: "8x6x8x8x6x8", col.RANK: "5", col.SCORE_NAME: "accuracy", col.ERROR: "",
                     col.STOP_REASON: StopReason.MAX_EPOCHS.value, col.BEST_ADAPTER_PATH: "", col.EPOCHS: 2})
    frame = pd.DataFrame([{**defaults, **row} for row in rows], columns=list(col.TRIAL_COLUMNS))
    frame[col.CONFIG_JSON] = [json.dumps({"alpha": a}) for a in frame[col.ALPHA]]
    frame[col.ADAPTER_PARAMS] = frame[col.ADAPTER_PARAMS].fillna(frame[col.TTLORA_PARAMS])  # the loader's fill
    return frame


TRIALS = trials_table([
    {col.TRIAL_ID: "t0", col.CORES: 6, col.ALPHA: 4.0, col.TTLORA_PARAMS: 1000, col.BEST_SCORE: 0.70, col.BEST_VAL_LOSS: 0.6},
    {col.TRIAL_ID: "t1", col.CORES: 6, col.ALPHA: 8.0, col.TTLORA_PARAMS: 2000, col.BEST_SCORE: 0.75, col.BEST_VAL_LOSS: 0.5},
    {col.TRIAL_ID: "t2", col.CORES: 4, col.ALPHA: 16.0, col.TTLORA_PARAMS: 5000, col.BEST_SCORE: 0.72, col.BEST_VAL_LOSS: 0.55},
    {col.TRIAL_ID: "t3", col.CORES: 4, col.ALPHA: 32.0, col.TTLORA_PARAMS: 9000, col.BEST_SCORE: 0.80, col.BEST_VAL_LOSS: 0.45},
    {col.TRIAL_ID: "t4", col.CORES: 6, col.ALPHA: 8.0, col.TTLORA_PARAMS: 1500, col.BEST_SCORE: math.nan,
     col.STOP_REASON: StopReason.RUNNING.value, col.EPOCHS: 0},
])


def _traces(fig, meta: str) -> list:
    return [t for t in fig.data if t.meta == meta]


def test_pareto_figure_draws_every_result_once_with_front_and_config_hover() -> None:
    fig = pareto_figure(TRIALS, "accuracy")
    trial_traces = _traces(fig, TRIALS_META)
    assert sum(len(t.x) for t in trial_traces) == len(plottable(TRIALS, col.TTLORA_PARAMS, col.BEST_SCORE)) == 4
    assert sorted(t.name for t in trial_traces) == ["TT-LoRA, 4 cores", "TT-LoRA, 6 cores"]  # one symbol per core count
    assert {t.legendgroup for t in trial_traces} == {"ttlora"}
    assert len({t.marker.symbol for t in trial_traces}) == 2
    assert fig.layout.xaxis.type == "log"
    assert all(t.marker.coloraxis == "coloraxis" for t in trial_traces)
    assert list(fig.layout.coloraxis.colorbar.ticktext) == ["4", "8", "16", "32"]  # alpha scale
    (front,) = _traces(fig, FRONT_META)
    assert list(front.x) == [1000, 2000, 9000] and front.line.shape == "hv"  # t2 is dominated by t1
    assert front.name == "Pareto front" and "adapter parameters" in fig.layout.xaxis.title.text
    hover = " ".join(text for t in trial_traces for text in t.hovertext)
    assert "trial t3" in hover and "alpha 32" in hover and "8x6x8x8x6x8" in hover and "accuracy 0.8" in hover
    assert not _traces(fig, REPORTED_META)


def test_reported_baselines_are_labelled_as_reported_not_ours() -> None:
    lora = ReportedResult(method="LoRA", model="DeBERTa-base", model_family="deberta", task="mrpc",
                          trainable_params=300_000.0, score=0.9, score_name="accuracy", source="Table I, test input")
    assert reference_points("DeBERTa", "MRPC", (lora,)) == [lora]
    assert reference_points("llama", "mrpc", (lora,)) == [] and reference_points(None, "mrpc", (lora,)) == []
    fig = pareto_figure(TRIALS, "accuracy", references=[lora])
    (reported,) = _traces(fig, REPORTED_META)
    assert "reported" in reported.name and "not our runs" in reported.name
    assert list(reported.text) == ["LoRA (reported)"] and list(reported.x) == [300_000.0]
    assert all(r.source for r in REPORTED_RESULTS)  # every paper number quotes its table


def test_empty_and_unplottable_tables_give_an_annotated_figure() -> None:
    fig = pareto_figure(TRIALS.iloc[4:5], "accuracy")
    assert not fig.data and "no trial has reported" in fig.layout.annotations[0].text
    fig = pareto_figure(TRIALS.iloc[0:0], "accuracy")
    assert not fig.data


def test_learning_curves_two_panels_per_trial() -> None:
    curves = pd.DataFrame([
        {col.TRIAL_ID: tid, MetricKey.EPOCH.value: e, MetricKey.VAL_LOSS.value: 1.0 / e, MetricKey.SCORE.value: 0.5 + e / 10}
        for tid in ("t0", "t1") for e in (1, 2, 3)
    ])
    fig = learning_curves_figure(curves, ["t0", "t1", "missing"], "accuracy")
    assert len(fig.data) == 4
    assert [list(t.x) for t in fig.data] == [[1, 2, 3]] * 4
    assert sum(bool(t.showlegend) for t in fig.data) == 2
    empty = learning_curves_figure(curves, ["missing"], "accuracy")
    assert not empty.data


def test_comparison_figure_one_colour_and_front_per_experiment() -> None:
    other = TRIALS.assign(**{col.BEST_SCORE: TRIALS[col.BEST_SCORE] - 0.1})
    fig = comparison_figure([("tt-lora", TRIALS, "accuracy"), ("lora", other, "accuracy"), ("empty", TRIALS.iloc[0:0], "f1")])
    assert [t.name for t in _traces(fig, TRIALS_META)] == ["tt-lora", "lora"]
    assert [t.name for t in _traces(fig, FRONT_META)] == ["tt-lora front", "lora front"]
    assert sum(len(t.x) for t in _traces(fig, TRIALS_META)) == 8
