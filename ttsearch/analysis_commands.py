"""``ttsearch report``, ``browse``, ``export`` and ``ls``: thin wrappers over ``analysis/`` (and, for
the torch half of ``export``, ``search.trial.methods.export_trial``). Parameter counts are adapter parameters
(each method's own, the task head not counted) unless ``--params`` says otherwise; ``export --method``
picks the best trial of one method, ``ls`` names the methods each experiment holds.

Only ``export`` needs torch (the adapter check, ``--merged``, ``--as-lora``); it is imported inside that
command, so the other three run on a laptop with a copied experiment folder. pandas/plotly are imported
inside the commands too: this module is imported on every ``ttsearch`` start to register them.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import click

from analysis import BY_METRIC, BY_PARETO, DEFAULT_BROWSE_PORT
from analysis import columns as col
from ttsearch.app import app
from vocab.errors import UsageError
from vocab.experiment_folder import RESOLVED_SPACE_FILE

DEFAULT_ROOT = "./ttsearch_results"
_METRICS = {"score": col.BEST_SCORE, "val_loss": col.BEST_VAL_LOSS}
_COSTS = {"adapter": col.ADAPTER_PARAMS, "ttlora": col.TTLORA_PARAMS, "trainable": col.TRAINABLE_PARAMS,
          "bytes": col.ADAPTER_BYTES_16BIT}


def _echo_warnings(name: str, warnings: list[str], limit: int = 10) -> None:
    if not warnings:
        return
    click.echo(f"warning: {name}: {len(warnings)} problem(s) reading the folder; the report shows what is there:", err=True)
    for line in warnings[:limit]:
        click.echo(f"  - {line}", err=True)
    if len(warnings) > limit:
        click.echo(f"  ... and {len(warnings) - limit} more (see the report)", err=True)


@app.command("report")
@click.argument("experiments", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(), help="Output HTML file (one experiment: default EXPERIMENT/report.html; "
              "several: default ./comparison.html).")
@click.option("--metric", type=click.Choice(sorted(_METRICS)), default="score", show_default=True,
              help="Metric of the y axis and the Pareto front.")
@click.option("--params", "cost", type=click.Choice(sorted(_COSTS)), default="adapter", show_default=True,
              help="Parameter count of the x axis: each method's adapter parameters (no task head), TT cores "
                   "only, all trainable (with the task head), or adapter bytes at 16 bits.")
def report_command(experiments: tuple[str, ...], out: str | None, metric: str, cost: str) -> None:
    """Write a self-contained HTML report (works offline) of one experiment folder, or a comparison
    page of several."""
    from analysis.loading import load_experiment
    from analysis.report import build_comparison_html, write_report

    loaded = [load_experiment(path) for path in experiments]
    for exp in loaded:
        _echo_warnings(exp.name, exp.warnings)
    if len(loaded) == 1:
        path = write_report(loaded[0], Path(out) if out else None, metric_col=_METRICS[metric], cost_col=_COSTS[cost])
    else:
        path = Path(out) if out else Path("comparison.html")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(build_comparison_html(loaded, _METRICS[metric], _COSTS[cost]), encoding="utf-8")
    click.echo(f"report: {path}")


@app.command("browse")
@click.argument("root", required=False, default=DEFAULT_ROOT, type=click.Path(file_okay=False))
@click.option("--port", type=int, default=DEFAULT_BROWSE_PORT, show_default=True, help="Port on 127.0.0.1 (0: any free port).")
@click.option("--refresh", type=click.IntRange(min=2), default=30, show_default=True,
              help="Seconds between page reloads while a search runs.")
def browse_command(root: str, port: int, refresh: int) -> None:
    """Serve an index of the experiments under ROOT and their reports on 127.0.0.1 (Ctrl-C stops).
    Reports are rebuilt when their experiment has new results."""
    from analysis.browse import make_server

    server = make_server(root, port, refresh)
    click.echo(f"ttsearch browse: {server.root} at {server.url}  (Ctrl-C to stop)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    finally:
        server.server_close()


@app.command("export")
@click.argument("experiment", type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write best.yaml and the adapter to.")
@click.option("--by", type=click.Choice([BY_METRIC, BY_PARETO]), default=BY_METRIC, show_default=True,
              help="metric: the best trial by the search's metric; pareto: the best front trial within --max-params.")
@click.option("--max-params", type=float, help="Adapter parameter budget for --by pareto (the task head not counted).")
@click.option("--method", help="Only this method's trials (e.g. ttlora, lora); default: the best over all methods.")
@click.option("--metric", type=click.Choice(["val_loss", "score"]),
              help="Rank by this instead of the metric the search optimised.")
@click.option("--name", help="Experiment name written into best.yaml (default: <experiment>-best-<trial>).")
@click.option("--merged", is_flag=True, help="Also save the base model with the adapter merged (save_pretrained).")
@click.option("--as-lora", is_flag=True, help="Also save a PEFT LoRA adapter (needs a split point in every shape).")
def export_command(experiment: str, out: str, by: str, max_params: float | None, metric: str | None,
                   method: str | None, name: str | None, merged: bool, as_lora: bool) -> None:
    """Export the best trial (of one --method, or of all): best.yaml (re-runs exactly that
    configuration once), its adapter, and optionally the merged model and a PEFT LoRA adapter."""
    from analysis.export_config import choose_export, trial_method, write_best_space
    from analysis.loading import load_experiment
    from vocab.methods import method_label

    exp = load_experiment(experiment)
    _echo_warnings(exp.name, exp.warnings)
    choice = choose_export(exp, by=by, max_params=max_params, metric=metric, method=method)
    trial, confirmed = choice.trial, choice.confirmed
    trial_method_name = trial_method(trial)
    out_dir = Path(out)
    space_path, _ = write_best_space(exp, trial, out_dir, name)
    click.echo(f"{method_label(trial_method_name)} trial {trial[col.TRIAL_ID]}: val {exp.score_name} "
               f"{trial[col.BEST_SCORE]:.4g} (selection), test {exp.score_name} {trial[col.BEST_TEST_SCORE]:.4g} "
               f"(held out), val loss {trial[col.BEST_VAL_LOSS]:.4g}, {trial[col.ADAPTER_PARAMS]:,.0f} adapter params")
    if confirmed is not None:
        click.echo(f"chosen by the confirmation: mean val {exp.score_name} {confirmed.val_mean:.4g}, mean test "
                   f"{confirmed.test_mean:.4g} over {confirmed.seeds} seeds (the adapter is the search trial's)")
    click.echo(f"space: {space_path}  (ttsearch run {space_path})")
    from search.space.schema import load_space
    from search.trial.methods import ExportRequest, export_trial  # torch: only here

    adapter = str(trial[col.BEST_ADAPTER_PATH] or "")
    space = load_space(exp.path / RESOLVED_SPACE_FILE)  # write_best_space has checked it is there
    request = ExportRequest(space, Path(adapter) if adapter else None, str(trial[col.TRIAL_ID]),
                            str(trial[col.TRIAL_DIR]), out_dir, merged=merged, as_lora=as_lora)
    for line in export_trial(request, trial_method_name):
        click.echo(line)


@app.command("ls")
@click.argument("root", required=False, default=DEFAULT_ROOT, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per experiment instead of a table.")
def ls_command(root: str, as_json: bool) -> None:
    """List the experiments under ROOT: status, methods, trials done/total, best metric, smallest front size,
    the front's hypervolume (log10 adapter params x val score, against the reference point in
    vocab/front_volume.py: full fine-tuning of the targets, and a chance-level score)."""
    from analysis.listing import list_experiments

    summaries = list_experiments(root)
    if as_json:
        for s in summaries:
            click.echo(json.dumps({
                "name": s.name, "path": str(s.path), "status": s.status, "methods": s.methods,
                "trials_done": s.trials_done,
                "trials_total": s.trials_total, "score_name": s.score_name,
                "best_score": None if math.isnan(s.best_score) else s.best_score,
                "best_test_score": None if math.isnan(s.best_test_score) else s.best_test_score,
                "smallest_front_params": None if math.isnan(s.smallest_front_params) else s.smallest_front_params,
                "hypervolume": None if math.isnan(s.hypervolume) else s.hypervolume,
                "best_test_scored": s.best_test_scored,
                "train_share": None if math.isnan(s.train_share) else s.train_share,
                "train_real_token_fraction": None if math.isnan(s.train_real_fraction) else s.train_real_fraction,
                "warnings": s.warnings, "confirmed_seeds": s.confirmed_seeds,
            }))
        return
    if not summaries:
        click.echo(f"no experiments under {root}")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"experiments under {root}")
    headers = ("experiment", "folder", "status", "methods", "trials done/total", "best val metric (selection)",
               "its test metric (held out)", "smallest front adapter params", "front hypervolume",
               "train steps / trial time", "real tokens (train)", "warnings")
    for header in headers:
        table.add_column(header, justify="left" if header in ("experiment", "folder", "status", "methods") else "right")
    for s in summaries:
        seeds = f" (mean, {s.confirmed_seeds} seeds)" if s.confirmed_seeds else ""
        best = "n/a" if math.isnan(s.best_score) else f"{s.best_score:.4g} {s.score_name}{seeds}"
        smallest = "n/a" if math.isnan(s.smallest_front_params) else f"{s.smallest_front_params:,.0f}"
        test = s.best_test_scored or "n/a" if math.isnan(s.best_test_score) else f"{s.best_test_score:.4g} {s.score_name}{seeds}"
        volume = "n/a" if math.isnan(s.hypervolume) else f"{s.hypervolume:.4f}"
        share = "n/a" if math.isnan(s.train_share) else f"{100 * s.train_share:.0f}%"
        real = "n/a" if math.isnan(s.train_real_fraction) else f"{100 * s.train_real_fraction:.0f}%"
        table.add_row(s.name, s.relative, s.status, s.methods_text or "n/a", f"{s.trials_done}/{s.trials_total}", best,
                      test, smallest, volume, share, real, str(s.warnings))
    Console(width=160).print(table)


__all__ = ["report_command", "browse_command", "export_command", "ls_command", "UsageError"]
