"""plotly figures: the paper's Figure 5 view, learning curves, and a view across experiments.

Every figure is a plain ``plotly.graph_objects.Figure`` (SVG traces, no WebGL) so that it renders in a
headless browser and its points can be counted in the DOM. Trial traces carry ``meta="trials"``;
reported paper baselines carry ``meta="reported"`` and say so in their legend name.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis import columns as col
from analysis.config_display import format_number
from analysis.paper_reference import ReportedResult
from analysis.pareto import pareto_front
from vocab.experiment_folder import MetricKey
from vocab.searched_params import SEARCHED_PARAMS

TRIALS_META = "trials"
FRONT_META = "front"
REPORTED_META = "reported"
FIGURE_HEIGHT = 520
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "triangle-down", "pentagon", "hexagon", "star")
AXIS_TITLES = {
    col.TTLORA_PARAMS: "TT-LoRA parameters (log scale)",
    col.TRAINABLE_PARAMS: "trainable parameters incl. task head (log scale)",
    col.ADAPTER_BYTES_16BIT: "adapter bytes at 16 bits (log scale)",
}


def plottable(trials: pd.DataFrame, cost_col: str, metric_col: str) -> pd.DataFrame:
    """Trials with a positive finite cost and a finite metric: exactly the points a figure draws."""
    if trials.empty:
        return trials
    cost = pd.to_numeric(trials[cost_col], errors="coerce")
    metric = pd.to_numeric(trials[metric_col], errors="coerce")
    keep = cost.apply(lambda v: math.isfinite(v) and v > 0) & metric.apply(math.isfinite)
    return trials[keep]


def metric_title(metric_col: str, score_name: str) -> str:
    if metric_col == col.BEST_SCORE:
        return f"{score_name} at the best epoch"
    return "best validation loss"


def hover_text(row: pd.Series, score_name: str) -> str:
    """The full configuration and outcome of one trial, for hover labels."""
    parts = [
        f"<b>trial {row[col.TRIAL_ID]}</b>",
        f"shape {row[col.SHAPE]} ({_int_text(row[col.CORES])} cores), rank {row[col.RANK]}",
        ", ".join(f"{p.display_label} {_num_text(row[p.name])}" for p in SEARCHED_PARAMS if not p.structural),
        f"TT params {_int_text(row[col.TTLORA_PARAMS])}, head {_int_text(row[col.HEAD_PARAMS])}",
        f"compression x{_num_text(row[col.COMPRESSION_VS_FULL])} vs full, "
        f"x{_num_text(row[col.COMPRESSION_VS_LORA8])} vs LoRA r=8",
        f"{score_name} {_num_text(row[col.BEST_SCORE])}, val loss {_num_text(row[col.BEST_VAL_LOSS])} "
        f"(epoch {_int_text(row[col.BEST_EPOCH])})",
        f"{_int_text(row[col.EPOCHS])} epochs, stopped: {row[col.STOP_REASON]}",
    ]
    return "<br>".join(parts)


def _num_text(value: object) -> str:
    return format_number(value)


def _int_text(value: object) -> str:
    return format_number(value, "int")


def _alpha_color(alpha: pd.Series) -> pd.Series:
    """Colour value: log2(alpha), so 1, 2, 4, ... 64 are evenly spaced (alpha spans decades)."""
    values = pd.to_numeric(alpha, errors="coerce")
    return values.apply(lambda a: math.log2(a) if a > 0 else math.nan)


def _alpha_colorbar(alpha: pd.Series) -> dict:
    values = sorted({float(a) for a in pd.to_numeric(alpha, errors="coerce").dropna() if a > 0})
    ticks = values if len(values) <= 8 else [values[int(i * (len(values) - 1) / 7)] for i in range(8)]
    return dict(title=dict(text="alpha"), tickvals=[math.log2(a) for a in ticks], ticktext=[f"{a:g}" for a in ticks])


def _empty(fig: go.Figure, message: str) -> go.Figure:
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font=dict(size=16))
    return fig


def pareto_figure(trials: pd.DataFrame, score_name: str, cost_col: str = col.TTLORA_PARAMS,
                  metric_col: str = col.BEST_SCORE, references: Sequence[ReportedResult] = (),
                  title: str = "") -> go.Figure:
    """Figure 5 of the paper: parameters (log x) vs metric, colour = alpha, symbol = core count,
    the Pareto front as a step line, hover = full config; paper baselines as labelled stars."""
    fig = go.Figure()
    fig.update_layout(
        title=dict(text=title or f"{metric_title(metric_col, score_name)} vs parameters"), height=FIGURE_HEIGHT,
        xaxis=dict(title=dict(text=AXIS_TITLES.get(cost_col, cost_col)), type="log"),
        yaxis=dict(title=dict(text=metric_title(metric_col, score_name))),
        legend=dict(title=dict(text="cores"), x=1.12), hovermode="closest",
    )
    points = plottable(trials, cost_col, metric_col)
    if points.empty and not references:
        return _empty(fig, "no trial has reported a result yet")
    if not points.empty:
        fig.update_layout(coloraxis=dict(colorscale="Viridis", colorbar=_alpha_colorbar(points[col.ALPHA])))
        cores = pd.to_numeric(points[col.CORES], errors="coerce")
        for index, core_value in enumerate(sorted(cores.dropna().unique()) + ([math.nan] if cores.isna().any() else [])):
            group = points[cores.isna()] if math.isnan(core_value) else points[cores == core_value]
            fig.add_trace(go.Scatter(
                x=group[cost_col], y=group[metric_col], mode="markers", meta=TRIALS_META,
                name=f"{int(core_value)} cores" if not math.isnan(core_value) else "cores unknown",
                marker=dict(symbol=SYMBOLS[index % len(SYMBOLS)], size=11, color=_alpha_color(group[col.ALPHA]),
                            coloraxis="coloraxis", line=dict(width=1, color="#333")),
                hovertext=[hover_text(row, score_name) for _, row in group.iterrows()], hoverinfo="text",
            ))
        front = pareto_front(points, cost_col, metric_col)
        if not front.empty:
            fig.add_trace(go.Scatter(
                x=front[cost_col], y=front[metric_col], mode="lines+markers", line=dict(shape="hv", color="#d62728", width=2),
                marker=dict(symbol="circle-open", size=18, color="#d62728", line=dict(width=2)),
                name="Pareto front", meta=FRONT_META, hoverinfo="skip",
            ))
    if references:
        _add_references(fig, references)
    return fig


def _add_references(fig: go.Figure, references: Sequence[ReportedResult]) -> None:
    fig.add_trace(go.Scatter(
        x=[r.trainable_params for r in references], y=[r.score for r in references], mode="markers+text",
        meta=REPORTED_META, name="reported in the TT-LoRA paper (not our runs)",
        text=[f"{r.method} (reported)" for r in references], textposition="top center",
        marker=dict(symbol="star-open", size=14, color="#555"),
        hovertext=[f"{r.method}, {r.model} on {r.task}: {r.score_name} {r.score:.4g} with "
                   f"{r.trainable_params:,.0f} params<br>reported in {r.source}" for r in references],
        hoverinfo="text",
    ))


def learning_curves_figure(curves: pd.DataFrame, trial_ids: Sequence[str], score_name: str,
                           title: str = "Learning curves of the Pareto-front trials") -> go.Figure:
    """Validation loss and task metric per epoch, one colour per trial (the front's, typically)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("validation loss", score_name))
    fig.update_layout(title=dict(text=title), height=FIGURE_HEIGHT - 120, hovermode="closest")
    epoch_key, loss_key, score_key = MetricKey.EPOCH.value, MetricKey.VAL_LOSS.value, MetricKey.SCORE.value
    chosen = curves[curves[col.TRIAL_ID].isin(list(trial_ids))] if not curves.empty else curves
    if chosen.empty:
        return _empty(fig, "no per-epoch results for these trials")
    for index, trial_id in enumerate(trial_ids):
        rows = chosen[chosen[col.TRIAL_ID] == trial_id].sort_values(epoch_key)
        if rows.empty:
            continue
        color = _PALETTE[index % len(_PALETTE)]
        for column, key in ((1, loss_key), (2, score_key)):
            fig.add_trace(go.Scatter(
                x=rows[epoch_key], y=rows[key], mode="lines+markers", name=f"trial {trial_id}", legendgroup=trial_id,
                showlegend=column == 1, line=dict(color=color), meta="curve",
            ), row=1, col=column)
    fig.update_xaxes(title_text="epoch")
    return fig


_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def comparison_figure(series: Sequence[tuple[str, pd.DataFrame, str]], cost_col: str = col.TTLORA_PARAMS,
                      metric_col: str = col.BEST_SCORE, references: Sequence[ReportedResult] = (),
                      title: str = "Parameters vs metric across experiments") -> go.Figure:
    """One colour per experiment (label, trials, score name): all trials as markers and each
    experiment's Pareto front as a step line (e.g. TT-LoRA vs a LoRA baseline, or several tasks)."""
    fig = go.Figure()
    score_names = sorted({name for _, _, name in series})
    fig.update_layout(
        title=dict(text=title), height=FIGURE_HEIGHT,
        xaxis=dict(title=dict(text=AXIS_TITLES.get(cost_col, cost_col)), type="log"),
        yaxis=dict(title=dict(text=metric_title(metric_col, " / ".join(score_names) or "score"))),
    )
    drawn = 0
    for index, (label, trials, score_name) in enumerate(series):
        points = plottable(trials, cost_col, metric_col)
        if points.empty:
            continue
        color = _PALETTE[index % len(_PALETTE)]
        fig.add_trace(go.Scatter(
            x=points[cost_col], y=points[metric_col], mode="markers", name=label, legendgroup=label, meta=TRIALS_META,
            marker=dict(color=color, size=9, opacity=0.75),
            hovertext=[f"<b>{label}</b><br>" + hover_text(row, score_name) for _, row in points.iterrows()],
            hoverinfo="text",
        ))
        front = pareto_front(points, cost_col, metric_col)
        fig.add_trace(go.Scatter(
            x=front[cost_col], y=front[metric_col], mode="lines+markers", line=dict(shape="hv", color=color, width=2),
            marker=dict(symbol="circle-open", size=15, color=color, line=dict(width=2)),
            name=f"{label} front", legendgroup=label, meta=FRONT_META, hoverinfo="skip",
        ))
        drawn += 1
    if references:
        _add_references(fig, references)
    if not drawn and not references:
        return _empty(fig, "no experiment has a result yet")
    return fig
