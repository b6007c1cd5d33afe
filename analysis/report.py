"""One experiment -> one self-contained HTML report (plotly.js inline, so it works offline).

Sections: status and warnings, the best configuration, the best score of each method (with the
headline: the smallest TT-LoRA within one point of the best baseline), the Figure-5 view across
methods, the Pareto table, learning curves of the front, the search's cost, every trial, and the
resolved space. Parameter counts are adapter parameters (the task head not counted) unless the caller
picks another cost column. A folder that is empty, partial or corrupt still gives a report: what could
be read, plus the warnings.
"""
from __future__ import annotations

import html
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from analysis import columns as col
from analysis.config_display import format_number as _fmt
from analysis.confirmation import SeedSummary, confirmation_finished, verdict_lines
from analysis.confirmed import (SEEDS, TEST_HALF, TEST_MEAN, TEST_SD, VAL_HALF, VAL_MEAN, VAL_SD, confirmed_headline,
                                confirmed_summaries, confirmed_table)
from analysis.figures import anytime_figure, learning_curves_figure, pareto_figure, plottable
from analysis.hypervolume import anytime_curve, experiment_reference, front_hypervolume
from analysis.loading import Experiment, ExperimentStatus
from analysis.methods_summary import (
    LABEL,
    TOP_SCORE,
    TRIALS_RUN,
    headline,
    method_bests,
    method_name,
    trial_methods,
)
from analysis.paper_reference import ReportedResult, reference_points
from analysis.pareto import best_trial, metric_column_for, pareto_front
from analysis.time_budget import budget_rows, time_budget
from vocab.methods import METHODS, all_param_rows, flat_trial_config, method_label

REPORT_FILE = "report.html"
MAX_WARNINGS_SHOWN = 50
PARETO_FIGURE_ID = "pareto-figure"
METHOD_TABLE_ID = "method-table"
HEADLINE_ID = "method-headline"
CURVES_FIGURE_ID = "curves-figure"
HYPERVOLUME_ID = "front-hypervolume"
ANYTIME_FIGURE_ID = "anytime-figure"
CONFIRMED_TABLE_ID = "confirmed-table"
CONFIRMED_HEADLINE_ID = "confirmed-headline"

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#222}
h1{font-size:1.6em;margin-bottom:4px} h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;font-size:0.9em} td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4} td.text,th.text{text-align:left}
.warnings{background:#fff4e5;border:1px solid #f0a020;padding:8px 16px;border-radius:4px}
.status{display:inline-block;padding:2px 8px;border-radius:4px;background:#e8eef8}
.note{color:#555;font-size:0.9em} pre{background:#f7f7f7;padding:8px;overflow:auto}
.table-wrap{max-width:100%;overflow-x:auto} td.text{max-width:36em;overflow-wrap:break-word}
"""


def html_table(rows: pd.DataFrame, spec: Sequence[tuple[str, str, str]], table_id: str = "") -> str:
    """Rows as an HTML table; ``spec`` = (column, header, kind) with kind num/int/ratio/text. A
    ``method`` column shows the method's label."""
    if col.METHOD in rows.columns:
        rows = rows.assign(**{col.METHOD: trial_methods(rows).map(method_label)})
    head = "".join(f'<th class="{"text" if kind == "text" else ""}">{html.escape(title)}</th>' for _, title, kind in spec)
    body = []
    for _, row in rows.iterrows():
        cells = "".join(
            f'<td class="{"text" if kind == "text" else ""}">{html.escape(_fmt(row.get(name), kind))}</td>'
            for name, _, kind in spec
        )
        body.append(f"<tr>{cells}</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    # in a scrolling box, and long text cells wrap: the Pareto table was wider than the page (1400 px)
    return f'<div class="table-wrap"><table{ident}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


_KINDS = {"shape": "text", "text": "text", "int": "int", "float": "num"}


def _param_spec(method: str | None = None) -> list[tuple[str, str, str]]:
    """(column, label, format) of every parameter row of any method (``vocab.methods``), or of
    ``method``'s rows only. Shared names (rank, alpha) take the first row's format (TT-LoRA's)."""
    shared = {p.name: p for p in all_param_rows()}
    rows = METHODS[method].params if method in METHODS else all_param_rows()
    return [(p.name, p.display_label, "text" if shared[p.name].list_values else _KINDS[shared[p.name].value])
            for p in rows]


COST_LABELS = {
    col.ADAPTER_PARAMS: "trainable adapter parameters of each method (the task head not counted)",
    col.TTLORA_PARAMS: "TT-LoRA core parameters (the task head not counted)",
    col.TRAINABLE_PARAMS: "all trainable parameters (TT cores + task head + saved modules)",
    col.ADAPTER_BYTES_16BIT: "adapter parameters at 16 bits, in bytes",
}


def _trial_spec(score_name: str, trials: pd.DataFrame | None = None) -> list[tuple[str, str, str]]:
    """The trial tables' columns; parameter columns only where some trial of ``trials`` has a value
    (a TT-LoRA-only search shows no LoRA dropout)."""
    params = [spec for spec in _param_spec()
              if trials is None or (spec[0] in trials and trials[spec[0]].notna().any())]
    return [
        (col.TRIAL_ID, "trial", "text"), (col.METHOD, "method", "text"), *params,
        (col.ADAPTER_PARAMS, "adapter params", "int"), (col.COMPRESSION_VS_FULL, "vs full FT", "ratio"),
        (col.COMPRESSION_VS_LORA8, "vs LoRA r=8", "ratio"), (col.BEST_SCORE, f"val {score_name}", "num"),
        (col.BEST_TEST_SCORE, f"test {score_name}", "num"), (col.TEST_SCORED, "test scored", "text"),
        (col.BEST_VAL_LOSS, "best val loss", "num"), (col.BEST_EPOCH, "best epoch", "int"),
        (col.EPOCHS, "epochs", "int"), (col.STOP_REASON, "stopped", "text"), (col.WALL_SECONDS, "seconds", "num"),
    ]


def cost_summary(exp: Experiment) -> list[tuple[str, str]]:
    """(label, value) pairs: what the search spent and what early stopping / the scheduler saved."""
    trials = exp.trials
    epochs = int(pd.to_numeric(trials[col.EPOCHS], errors="coerce").fillna(0).sum()) if len(trials) else 0
    wall = pd.to_numeric(trials[col.WALL_SECONDS], errors="coerce").sum(min_count=1) if len(trials) else 0.0
    gpu = pd.to_numeric(trials[col.GPU_SECONDS], errors="coerce").sum(min_count=1) if len(trials) else 0.0
    items = [
        ("status", exp.status),
        ("trials started / planned", f"{len(trials)} / {exp.trials_total}"),
        ("trials finished", str(exp.trials_done)),
        ("epochs trained", f"{epochs:,}"),
        ("trial wall seconds (summed over trials)", _fmt(wall)),
        ("GPU seconds (summed)", _fmt(gpu)),
    ]
    if exp.meta and exp.meta.max_epochs and exp.trials_total:
        budget = exp.trials_total * exp.meta.max_epochs
        items.append(("epoch budget (trials x max_epochs)",
                      f"{budget:,} ({100 * (1 - epochs / budget):.0f}% not run: early stop, scheduler, failures)"))
    if exp.meta and exp.meta.created_unix and exp.newest_mtime:
        elapsed = exp.newest_mtime - exp.meta.created_unix
        items.append(("elapsed since the search started (to its newest file)", f"{elapsed:,.0f} s"))
    if len(trials):
        counts = trials[col.STOP_REASON].value_counts()
        items.append(("why trials stopped", ", ".join(f"{reason}: {n}" for reason, n in counts.items())))
        items.extend(budget_rows(time_budget(trials)))
        scored = trials[col.TEST_SCORED].value_counts() if col.TEST_SCORED in trials else pd.Series(dtype=int)
        if col.TestScored.NO_TEST_SPLIT not in scored.index or len(scored) > 1:
            items.append(("held-out test score", ", ".join(f"{label or 'no test split'}: {n}"
                                                          for label, n in scored.items())))
    return items


def _sampled_config(config_json: object) -> str:
    """A trial's config as its trial read it (flat; an ``effective_lr`` trial's rate derived)."""
    return json.dumps(flat_trial_config(json.loads(config_json))) if isinstance(config_json, str) and config_json else "n/a"


def _best_section(exp: Experiment, best: pd.Series | None, metric_col: str) -> str:
    if best is None:
        return "<p>No trial has a result yet.</p>"
    method = method_name(best.get(col.METHOD))
    rows = [
        ("trial", best[col.TRIAL_ID]),
        ("method", method_label(method)),
        ("chosen by", (f"{metric_col} ({'higher' if col.METRIC_DIRECTIONS[metric_col] else 'lower'} is better), "
                       "over all methods")),
        *((label, _fmt(best.get(column), kind)) for column, label, kind in _param_spec(method)),
        ("adapter parameters (the task head not counted)", _fmt(best.get(col.ADAPTER_PARAMS), "int")),
        ("task-head parameters", _fmt(best[col.HEAD_PARAMS], "int")),
        ("adapter at 16 bits", f"{_fmt(best[col.ADAPTER_BYTES_16BIT], 'int')} bytes"),
        ("adapter folder as written (with head and saved modules)", f"{_fmt(best[col.ADAPTER_FILE_BYTES], 'int')} bytes"),
        ("compression vs full fine-tuning of the targets", _fmt(best[col.COMPRESSION_VS_FULL], "ratio")),
        ("compression vs LoRA r=8", _fmt(best[col.COMPRESSION_VS_LORA8], "ratio")),
        (f"val {exp.score_name} (used for selection)", _fmt(best[col.BEST_SCORE])),
        (f"test {exp.score_name} (held out, never used to choose)",
         _fmt(best[col.BEST_TEST_SCORE]) if pd.notna(best[col.BEST_TEST_SCORE]) else best.get(col.TEST_SCORED) or "n/a"),
        ("best val loss", _fmt(best[col.BEST_VAL_LOSS])),
        ("best epoch", _fmt(best[col.BEST_EPOCH], "int")), ("sampled config", _sampled_config(best[col.CONFIG_JSON])),
    ]
    cells = "".join(f'<tr><th class="text">{html.escape(k)}</th><td class="text">{html.escape(str(v))}</td></tr>'
                    for k, v in rows)
    command = f"ttsearch export {exp.path} --out {exp.path.name}-best"
    return (f'<table id="best-config">{cells}</table><p class="note">Export it: <code>{html.escape(command)}</code>'
            " (<code>--method NAME</code>: the best trial of one method).</p>")


def _methods_section(exp: Experiment, select_col: str, cost_col: str) -> str:
    """The best trial of each method (the search's own selection within the method) and the headline."""
    score_name = exp.score_name
    bests = method_bests(exp.trials, select_col, cost_col)
    cost_title = "adapter params" if cost_col == col.ADAPTER_PARAMS else cost_col
    spec = [(LABEL, "method", "text"), (col.TRIAL_ID, "best trial", "text"), (col.BEST_VAL_LOSS, "its val loss", "num"),
            (col.BEST_SCORE, f"its val {score_name}", "num"), (col.BEST_TEST_SCORE, f"its test {score_name} (held out)", "num"),
            (cost_col, f"its {cost_title}", "int"), (TOP_SCORE, f"highest val {score_name} of the method", "num"),
            (TRIALS_RUN, "trials run", "int")]
    sentence = headline(exp.trials, score_name, cost_col).text
    return (f'<p id="{HEADLINE_ID}"><b>{html.escape(sentence)}</b></p>'
            f"{html_table(bests, spec, METHOD_TABLE_ID)}"
            f'<p class="note">Best trial of a method: chosen by {html.escape(select_col)} within the method, as the '
            f"search chooses. The headline compares validation {html.escape(score_name)} (1 point = 0.01); the "
            "held-out test score is shown beside it and never used to choose.</p>")


def confirmed_section(summaries: list[SeedSummary], score_name: str) -> str:
    """The confirmation stage's finalists over their seeds, the headline on confirmed means and each
    TT-LoRA finalist's paired verdict against the best baseline finalist."""
    table = confirmed_table(summaries)

    def spread(mean: float, sd: float, half: float) -> str:
        return f"{mean:.4f} ± {sd:.4f} (95 %: ±{half:.4f})" if math.isfinite(sd) else f"{mean:.4f}"

    shown = table.assign(val=[spread(*v) for v in zip(table[VAL_MEAN], table[VAL_SD], table[VAL_HALF])],
                         test=[spread(*v) for v in zip(table[TEST_MEAN], table[TEST_SD], table[TEST_HALF])])
    spec = [(col.TRIAL_ID, "search trial", "text"), (col.METHOD, "method", "text"),
            (col.ADAPTER_PARAMS, "adapter params", "int"), ("val", f"val {score_name}, mean ± sd", "text"),
            ("test", f"test {score_name} (held out), mean ± sd", "text"), (SEEDS, "seeds", "int")]
    verdicts = verdict_lines(summaries)
    sentence = confirmed_headline(summaries, score_name)
    return ((f'<p id="{CONFIRMED_HEADLINE_ID}"><b>{html.escape(sentence)}</b></p>' if sentence else "")
            + html_table(shown, spec, CONFIRMED_TABLE_ID)
            + "".join(f'<p class="note confirmed-verdict">{html.escape(v)}</p>' for v in verdicts)
            + '<p class="note">Each finalist re-trained with the same new seeds (ttsearch confirm); the paired '
            "difference is taken seed by seed on the held-out split, in points (1 point = 0.01).</p>")


def _hypervolume_section(exp: Experiment) -> str:
    """The front as one number, its reference point, and its growth over the search (anytime curve)."""
    ref = experiment_reference(exp)
    if ref is None:
        return "<p>No target dimensions in the experiment's metadata: no reference point, no hypervolume.</p>"
    volume = front_hypervolume(exp.trials, ref) if len(exp.trials) else 0.0
    curve = anytime_curve(exp)
    text = (f'<p id="{HYPERVOLUME_ID}" data-hypervolume="{volume:.6f}">Hypervolume of the (log10 adapter parameters, '
            f"validation {html.escape(exp.score_name)}) front: <b>{volume:.4f}</b>; {html.escape(ref.describe())} "
            "(full fine-tuning of the targets; a chance-level score). Larger is better: smaller adapters, higher scores."
            "</p>")
    if not len(curve):
        return text
    return text + _figure_html(anytime_figure(curve), ANYTIME_FIGURE_ID, False)


def _figure_html(fig: go.Figure, div_id: str, plotlyjs: bool | str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=plotlyjs, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def _header_html(exp: Experiment) -> str:
    """Title, status and facts of the experiment, and its warnings (at most ``MAX_WARNINGS_SHOWN``)."""
    meta = exp.meta
    parts = [f"<h1>ttsearch report: {html.escape(exp.name)}</h1>"]
    facts = [f'<span class="status" id="experiment-status">{html.escape(exp.status)}</span>']
    if meta:
        facts.append(html.escape(f"model {meta.model} ({meta.model_family}), task {meta.task}, metric {exp.score_name}, "
                                 f"scheduler {meta.scheduler}"))
    facts.append(html.escape(f"folder {exp.path}"))
    parts.append(f'<p>{" &middot; ".join(facts)}</p><p class="note">generated {time.strftime("%Y-%m-%d %H:%M:%S")}</p>')
    if exp.warnings:
        shown = exp.warnings[:MAX_WARNINGS_SHOWN]
        more = len(exp.warnings) - len(shown)
        items = "".join(f"<li>{html.escape(w)}</li>" for w in shown)
        extra = f"<li>... and {more} more</li>" if more > 0 else ""
        parts.append(f'<div class="warnings" id="warnings"><b>Warnings ({len(exp.warnings)})</b>'
                     f'<ul>{items}{extra}</ul><p class="note">The report shows what could be read.</p></div>')
    return "".join(parts)


def _front_figure_html(exp: Experiment, plotted: int, cost_col: str, metric_col: str,
                       references: Sequence[ReportedResult], plotlyjs: bool | str, confirmed: pd.DataFrame) -> str:
    """The Figure-5 view (parameters vs metric) with the line saying what is and is not plotted."""
    trials = exp.trials
    not_plotted = len(trials) - plotted
    note = (f'<p class="note" id="plot-count" data-plotted="{plotted}">{plotted} of {len(trials)} trials plotted'
            + (f"; {not_plotted} have no result yet or failed before reporting" if not_plotted else "")
            + (f"; open markers labelled reported (Table ...) are numbers reported in the TT-LoRA paper "
               f"({len(references)}), not runs of ours, and not part of any front"
               if references else "; no paper numbers for this model and task")
            + f". x axis: {html.escape(COST_LABELS.get(cost_col, cost_col))}.</p>")
    if len(confirmed):
        note = note.replace(".</p>", "; black diamonds: confirmed finalists, mean ± sd over their seeds.</p>", 1)
    figure = pareto_figure(trials, exp.score_name, cost_col, metric_col, references, title=exp.name, confirmed=confirmed)
    return "<h2>Parameters vs metric</h2>" + note + _figure_html(figure, PARETO_FIGURE_ID, plotlyjs)


def build_report_html(exp: Experiment, metric_col: str = col.BEST_SCORE, cost_col: str = col.DEFAULT_COST,
                      references: Sequence[ReportedResult] | None = None, plotlyjs: bool | str = True,
                      refresh_seconds: int | None = None) -> str:
    """The report as one HTML string. ``plotlyjs``: True inlines plotly.js (offline, ~4.7 MB); a URL
    string links it instead (the browse server). ``refresh_seconds`` reloads the page while a search runs."""
    meta = exp.meta
    if references is None:
        references = reference_points(meta.model_family if meta else None, meta.task if meta else None,
                                      model=meta.model if meta else None)
    score_name = exp.score_name
    trials = exp.trials
    search_metric_col = metric_column_for(meta.metric) if meta else col.BEST_VAL_LOSS
    best = best_trial(trials, search_metric_col, cost_col=cost_col) if len(trials) else None
    front = pareto_front(trials, cost_col, metric_col) if len(trials) else trials
    points = plottable(trials, cost_col, metric_col) if len(trials) else trials

    parts = [_header_html(exp)]
    parts.append("<h2>Best configuration</h2>" + _best_section(exp, best, search_metric_col))
    if len(trials):
        parts.append("<h2>Best score of each method</h2>" + _methods_section(exp, search_metric_col, cost_col))

    confirmed = confirmed_summaries(exp.path)
    if confirmed:
        partial = "" if confirmation_finished(exp.path) else " (partial: not finished; the seeds that ended so far)"
        parts.append(f"<h2>Confirmed over seeds{partial}</h2>" + confirmed_section(confirmed, score_name))
    parts.append(_front_figure_html(exp, len(points), cost_col, metric_col, references, plotlyjs,
                                    confirmed_table(confirmed)))

    parts.append(f"<h2>Pareto front ({len(front)} trials)</h2>")
    parts.append(html_table(front, _trial_spec(score_name, trials), "pareto-table") if len(front)
                 else "<p>No trial has both a parameter count and a metric yet.</p>")

    parts.append("<h2>Front hypervolume</h2>" + _hypervolume_section(exp))

    parts.append("<h2>Learning curves</h2>")
    curve_ids = list(front[col.TRIAL_ID]) if len(front) else []
    parts.append(_figure_html(learning_curves_figure(exp.curves, curve_ids, score_name), CURVES_FIGURE_ID, False))

    cells = "".join(f'<tr><th class="text">{html.escape(k)}</th><td class="text">{html.escape(v)}</td></tr>'
                    for k, v in cost_summary(exp))
    parts.append(f'<h2>Cost of the search</h2><table id="cost-summary">{cells}</table>')

    parts.append(f"<h2>All trials ({len(trials)})</h2>")
    all_spec = _trial_spec(score_name, trials) + [(col.ERROR, "error", "text")]
    parts.append(html_table(trials.sort_values(col.TRIAL_ID) if len(trials) else trials, all_spec, "trials-table"))
    if exp.space_text:
        parts.append("<h2>Search space</h2><details><summary>space.yaml</summary>"
                     f"<pre>{html.escape(exp.space_text)}</pre></details>")

    refresh = (f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">'
               if refresh_seconds and exp.status == ExperimentStatus.RUNNING else "")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{refresh}'
            f"<title>ttsearch: {html.escape(exp.name)}</title><style>{_STYLE}</style></head>"
            f"<body>{''.join(parts)}</body></html>")


def write_report(exp: Experiment, out: Path | None = None, **kwargs: object) -> Path:
    """Write the self-contained report (default: ``<experiment>/report.html``) and return its path."""
    target = out if out is not None else exp.path / REPORT_FILE
    if target.is_dir():
        target = target / REPORT_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(build_report_html(exp, **kwargs), encoding="utf-8")  # type: ignore[arg-type]
    tmp.replace(target)
    return target


def build_comparison_html(experiments: Sequence[Experiment], metric_col: str = col.BEST_SCORE,
                          cost_col: str = col.DEFAULT_COST) -> str:
    """Several experiments on one self-contained page: one comparison figure and a summary table
    (e.g. TT-LoRA vs a LoRA baseline, or one space on several tasks)."""
    from analysis.figures import comparison_figure  # local: only this page needs it

    series = [(e.name, e.trials, e.score_name) for e in experiments]
    rows = []
    for exp in experiments:
        front = pareto_front(exp.trials, cost_col, metric_col) if len(exp.trials) else exp.trials
        best = pd.to_numeric(exp.trials[metric_col], errors="coerce").max() if len(exp.trials) else math.nan
        smallest = pd.to_numeric(front[cost_col]).min() if len(front) else math.nan
        rows.append({"name": exp.name, "status": exp.status, "trials": f"{exp.trials_done} / {exp.trials_total}",
                     "metric": exp.score_name, "best": best, "front": len(front), "smallest": smallest,
                     "warnings": len(exp.warnings), "path": str(exp.path)})
    spec = [("name", "experiment", "text"), ("status", "status", "text"), ("trials", "trials done / total", "text"),
            ("metric", "metric", "text"), ("best", "best", "num"), ("front", "front size", "int"),
            ("smallest", "smallest front params", "int"), ("warnings", "warnings", "int"), ("path", "folder", "text")]
    warnings = [f"{e.name}: {w}" for e in experiments for w in e.warnings]
    warning_html = ""
    if warnings:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings[:MAX_WARNINGS_SHOWN])
        warning_html = f'<div class="warnings" id="warnings"><b>Warnings ({len(warnings)})</b><ul>{items}</ul></div>'
    figure = _figure_html(comparison_figure(series, cost_col, metric_col), "comparison-figure", True)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>ttsearch comparison</title>'
            f"<style>{_STYLE}</style></head><body><h1>ttsearch comparison of {len(experiments)} experiments</h1>"
            f"{warning_html}{html_table(pd.DataFrame(rows), spec, 'comparison-table')}{figure}</body></html>")
