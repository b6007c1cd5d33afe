"""plotly figures: the paper's Figure 5 view across methods, learning curves, and a view across
experiments.

Every figure is a plain ``plotly.graph_objects.Figure`` (SVG traces, no WebGL) so that it renders in a
headless browser and its points can be counted in the DOM. Trial traces carry ``meta="trials"`` and
``legendgroup`` = their method's name (``vocab.methods``); the front over all methods ``meta="front"``,
a method's own front ``meta="method_front"``; numbers reported in the TT-LoRA paper carry
``meta="reported"``, are open markers, and say so in their legend name. They are never part of a
measured front.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis import columns as col
from analysis.config_display import format_number
from analysis.confirmed import SEEDS, VAL_MEAN, VAL_SD
from analysis.methods_summary import method_name, ordered_methods, trial_methods
from analysis.paper_reference import ReportedResult
from analysis.pareto import pareto_front
from vocab.experiment_folder import MetricKey
from vocab.methods import METHODS, TTLORA, method_label
from vocab.searched_params import SEARCHED_PARAMS

TRIALS_META = "trials"
FRONT_META = "front"
METHOD_FRONT_META = "method_front"
REPORTED_META = "reported"
CONFIRMED_META = "confirmed"  # finalists re-trained over seeds: mean with sd error bars
FIGURE_HEIGHT = 520
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "triangle-down", "pentagon", "hexagon", "octagon")  # TT-LoRA cores
# Each baseline: one fixed colour and marker (TT-LoRA's colour is its alpha scale, its marker the cores).
METHOD_STYLES: dict[str, tuple[str, str]] = {
    "lora": ("#ff7f0e", "x"), "vera": ("#e377c2", "cross"), "ia3": ("#8c564b", "star"),
    "lokr": ("#17becf", "bowtie"), "bitfit": ("#7f7f7f", "hourglass"), "full": ("#111111", "star-square"),
}
OTHER_STYLE = ("#bcbd22", "star-diamond")  # a method name this version does not know
TTLORA_COLOR = "#440154"  # TT-LoRA's own front and reported points (the dark end of Viridis)
AXIS_TITLES = {
    col.ADAPTER_PARAMS: "trainable adapter parameters (log scale; the task head is not counted)",
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


def method_style(method: str) -> tuple[str, str]:
    """(colour, marker symbol) of a method's points; TT-LoRA: its reference colour and a circle."""
    if method == TTLORA:
        return TTLORA_COLOR, "circle"
    return METHOD_STYLES.get(method, OTHER_STYLE)


def hover_text(row: pd.Series, score_name: str) -> str:
    """The full configuration and outcome of one trial, for hover labels (its method's rows only)."""
    method = method_name(row.get(col.METHOD))
    parts = [f"<b>trial {row[col.TRIAL_ID]}</b> ({method_label(method)})"]
    if method == TTLORA:
        parts += [
            f"shape {row[col.SHAPE]} ({_int_text(row[col.CORES])} cores), rank {row[col.RANK]}",
            ", ".join(f"{p.display_label} {_num_text(row.get(p.name))}" for p in SEARCHED_PARAMS if not p.structural),
            f"TT params {_int_text(row.get(col.ADAPTER_PARAMS))}, head {_int_text(row.get(col.HEAD_PARAMS))}",
        ]
    else:
        rows = METHODS[method].params if method in METHODS else ()
        if rows:
            parts.append(", ".join(f"{p.display_label} {_num_text(row.get(p.name))}" for p in rows))
        parts.append(f"adapter params {_int_text(row.get(col.ADAPTER_PARAMS))}, head {_int_text(row.get(col.HEAD_PARAMS))}")
    parts += [
        (f"compression x{_num_text(row.get(col.COMPRESSION_VS_FULL))} vs full, "
         f"x{_num_text(row.get(col.COMPRESSION_VS_LORA8))} vs LoRA r=8"),
        (f"{score_name} {_num_text(row[col.BEST_SCORE])}, val loss {_num_text(row[col.BEST_VAL_LOSS])} "
         f"(epoch {_int_text(row[col.BEST_EPOCH])})"),
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
    return dict(title=dict(text="TT-LoRA alpha"), tickvals=[math.log2(a) for a in ticks],
                ticktext=[f"{a:g}" for a in ticks])


def _empty(fig: go.Figure, message: str) -> go.Figure:
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font=dict(size=16))
    return fig


def _hover(group: pd.DataFrame, score_name: str) -> list[str]:
    return [hover_text(row, score_name) for _, row in group.iterrows()]


def _add_ttlora(fig: go.Figure, group: pd.DataFrame, score_name: str, cost_col: str, metric_col: str) -> None:
    """TT-LoRA's trials: colour = alpha (one colour axis), marker = core count, one trace per count."""
    label = method_label(TTLORA)
    fig.update_layout(coloraxis=dict(colorscale="Viridis", colorbar=_alpha_colorbar(group[col.ALPHA])))
    cores = pd.to_numeric(group[col.CORES], errors="coerce")
    for index, core_value in enumerate(sorted(cores.dropna().unique()) + ([math.nan] if cores.isna().any() else [])):
        subset = group[cores.isna()] if math.isnan(core_value) else group[cores == core_value]
        fig.add_trace(go.Scatter(
            x=subset[cost_col], y=subset[metric_col], mode="markers", meta=TRIALS_META, legendgroup=TTLORA,
            legendgrouptitle=dict(text=label),
            name=f"{label}, {int(core_value)} cores" if not math.isnan(core_value) else f"{label}, cores unknown",
            marker=dict(symbol=SYMBOLS[index % len(SYMBOLS)], size=11, color=_alpha_color(subset[col.ALPHA]),
                        coloraxis="coloraxis", line=dict(width=1, color="#333")),
            hovertext=_hover(subset, score_name), hoverinfo="text",
        ))


def _add_baseline(fig: go.Figure, group: pd.DataFrame, method: str, score_name: str, cost_col: str,
                  metric_col: str) -> None:
    color, symbol = method_style(method)
    fig.add_trace(go.Scatter(
        x=group[cost_col], y=group[metric_col], mode="markers", meta=TRIALS_META, legendgroup=method,
        name=method_label(method), marker=dict(symbol=symbol, size=11, color=color, line=dict(width=1, color="#333")),
        hovertext=_hover(group, score_name), hoverinfo="text",
    ))


def pareto_figure(trials: pd.DataFrame, score_name: str, cost_col: str = col.DEFAULT_COST,
                  metric_col: str = col.BEST_SCORE, references: Sequence[ReportedResult] = (),
                  title: str = "", method_fronts: bool = True, confirmed: pd.DataFrame | None = None) -> go.Figure:
    """Figure 5 of the paper across methods: parameters (log x) vs metric. TT-LoRA: colour = alpha,
    marker = core count; each baseline its own colour and marker, legend by method label. The Pareto
    front over all methods as a step line; with several methods and ``method_fronts``, each method's
    own front as a dotted line, hidden until its legend entry is clicked. Paper numbers as open markers
    labelled "reported (Table I)"; hover = full config. ``confirmed`` (analysis/confirmed.py's table):
    each finalist's mean val score over its seeds with sd error bars (axes: adapter parameters, val score)."""
    fig = go.Figure()
    fig.update_layout(
        title=dict(text=title or f"{metric_title(metric_col, score_name)} vs parameters"), height=FIGURE_HEIGHT,
        xaxis=dict(title=dict(text=AXIS_TITLES.get(cost_col, cost_col)), type="log"),
        yaxis=dict(title=dict(text=metric_title(metric_col, score_name))),
        # below the plot: at the right it overlapped the alpha colour bar (headless Chromium, 1400 px)
        legend=dict(title=dict(text="method"), orientation="h", x=0, xanchor="left", y=-0.18, yanchor="top",
                    groupclick="toggleitem"),
        margin=dict(b=150), hovermode="closest",
    )
    points = plottable(trials, cost_col, metric_col)
    if points.empty and not references:
        return _empty(fig, "no trial has reported a result yet")
    if not points.empty:
        methods = trial_methods(points)
        present = ordered_methods(methods.unique())
        for name in present:
            if name == TTLORA:
                _add_ttlora(fig, points[methods == name], score_name, cost_col, metric_col)
            else:
                _add_baseline(fig, points[methods == name], name, score_name, cost_col, metric_col)
        front = pareto_front(points, cost_col, metric_col)
        if not front.empty:
            fig.add_trace(go.Scatter(
                x=front[cost_col], y=front[metric_col], mode="lines+markers", line=dict(shape="hv", color="#d62728", width=2),
                marker=dict(symbol="circle-open", size=18, color="#d62728", line=dict(width=2)),
                name="Pareto front (all methods)" if len(present) > 1 else "Pareto front", meta=FRONT_META,
                hoverinfo="skip",
            ))
        if method_fronts and len(present) > 1:
            for name in present:
                own = pareto_front(points[methods == name], cost_col, metric_col)
                fig.add_trace(go.Scatter(
                    x=own[cost_col], y=own[metric_col], mode="lines", meta=METHOD_FRONT_META, legendgroup=name,
                    line=dict(shape="hv", color=method_style(name)[0], width=1.5, dash="dot"),
                    name=f"{method_label(name)} front", visible="legendonly", hoverinfo="skip",
                ))
    if references:
        _add_references(fig, references)
    if confirmed is not None and len(confirmed):
        _add_confirmed(fig, confirmed, cost_col, metric_col)
    return fig


def _add_confirmed(fig: go.Figure, confirmed: pd.DataFrame, cost_col: str, metric_col: str) -> None:
    """The confirmed finalists: mean val score over the seeds, error bar = sd (drawn only where the axes
    are adapter parameters and the val score, the axes the confirmation measured)."""
    if cost_col != col.ADAPTER_PARAMS or metric_col != col.BEST_SCORE:
        return
    mean, sd = VAL_MEAN, VAL_SD
    seeds = confirmed[SEEDS].max()
    fig.add_trace(go.Scatter(
        x=confirmed[col.ADAPTER_PARAMS], y=confirmed[mean], mode="markers", meta=CONFIRMED_META,
        name=f"confirmed: mean ± sd over {seeds} seeds", error_y=dict(type="data", array=confirmed[sd].fillna(0), visible=True),
        marker=dict(symbol="diamond-wide", size=13, color="#111"),
        hovertext=[f"trial {t} ({method_label(m)}), {p:,.0f} params: {v:.4f}"
                   + (f" ± {e:.4f} over {n} seeds" if math.isfinite(e) else f" over {n} seed(s), no spread")
                   for t, m, p, v, e, n in zip(confirmed[col.TRIAL_ID], confirmed[col.METHOD], confirmed[col.ADAPTER_PARAMS],
                                               confirmed[mean], confirmed[sd], confirmed[SEEDS])],
        hoverinfo="text",
    ))


def _reported_method(result: ReportedResult) -> str:
    """The vocab.methods name of a reported row, when we run the same method ("" otherwise)."""
    key = getattr(result, "method_key", "")
    if key:
        return str(key)
    by_label = {m.label.lower(): name for name, m in METHODS.items()}
    return by_label.get(result.method.lower(), "")


def _reported_marker(result: ReportedResult) -> tuple[str, str]:
    """(colour, open symbol): the method's own, open; a method we do not run: a grey open star."""
    method = _reported_method(result)
    if not method:
        return "#555555", "star-open"
    color, symbol = method_style(method)
    return color, f"{symbol}-open"


def _add_references(fig: go.Figure, references: Sequence[ReportedResult]) -> None:
    """One trace per paper table ("reported (Table I)", ...), open markers, never in a front."""
    tables = list(dict.fromkeys(str(getattr(r, "table", "") or "") for r in references))
    for table in tables:
        group = [r for r in references if str(getattr(r, "table", "") or "") == table]
        where = f"reported ({table})" if table else "reported"
        markers = [_reported_marker(r) for r in group]
        fig.add_trace(go.Scatter(
            x=[r.trainable_params for r in group], y=[r.score for r in group], mode="markers+text",
            meta=REPORTED_META, legendgroup=REPORTED_META, name=f"{where} in the TT-LoRA paper (not our runs)",
            text=[f"{r.method} ({where})" for r in group], textposition="top center", textfont=dict(size=10),
            marker=dict(symbol=[s for _, s in markers], size=13, color=[c for c, _ in markers], line=dict(width=2)),
            hovertext=[f"{r.method}, {r.model} on {r.task}: {r.score_name} {r.score:.4g} with "
                       f"{r.trainable_params:,.0f} params<br>reported in {r.source}" for r in group],
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


def comparison_figure(series: Sequence[tuple[str, pd.DataFrame, str]], cost_col: str = col.DEFAULT_COST,
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


def anytime_figure(curve: pd.DataFrame, title: str = "") -> go.Figure:
    """Front hypervolume against trial-epochs spent (analysis/hypervolume.py): how fast the search
    filled the front, one step per reported epoch."""
    fig = go.Figure(go.Scatter(x=curve["trial_epochs"], y=curve["hypervolume"], mode="lines", line_shape="hv",
                               name="hypervolume"))
    fig.update_layout(title=title or "Front hypervolume as the search went", xaxis_title="trial-epochs spent",
                      yaxis_title="hypervolume (log10 params x score)", template="plotly_white", height=360)
    return fig
