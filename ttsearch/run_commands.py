"""``ttsearch run``, ``ttsearch resume`` and ``ttsearch plan``: thin wrappers over search/run/driver.py and
search/plan/space_plan.py."""
from __future__ import annotations

import json
import math
from typing import Any

import click

from search.plan.plan_types import Plan
from search.plan.space_plan import build_plan
from search.space.schema import SearchSpace, load_space
from search.space.strategy_sections import ASHA_SCHEDULERS
from ttsearch.app import app
from vocab.shape_text import dims_text, shape_text

_SET_HELP = "Override a field: key.path=value (YAML value), repeatable. Precedence: defaults < YAML < --set."


def _load(space_file: str, overrides: tuple[str, ...], storage: str | None = None, name: str | None = None,
          data_dir: str | None = None) -> SearchSpace:
    extra = list(overrides)
    if storage:
        extra.append(f"storage.path={storage}")
    if name:
        extra.append(f"name={name}")
    if data_dir:
        extra.append(f"data.dir={data_dir}")
    return load_space(space_file, extra)


def _summarise(result_grid: Any, experiment_dir: str, score_name: str) -> bool:
    """Print how the search ended, each method's selected trial, and what to do next; True when every
    trial failed."""
    from analysis.run_summary import selected_trial_lines
    from search.run.driver import is_uri
    from search.run.outcome import run_outcome

    outcome = run_outcome(result_grid)
    lines = outcome.lines()
    click.echo("\n" + lines[0])
    if is_uri(experiment_dir):
        click.echo("Selected trials: `ttsearch report` on a local copy of the experiment folder")
    else:
        for line in selected_trial_lines(experiment_dir, score_name):
            click.echo(line)
    for line in lines[1:]:
        click.echo(line)
    click.echo(f"Experiment folder: {experiment_dir}")
    click.echo(f"Next: ttsearch report {experiment_dir}   |   ttsearch export {experiment_dir} --out best/")
    return outcome.all_failed


def _run(space: SearchSpace, space_file: str, address: str | None, resume: bool, live: bool | None,
         data_dir: str | None) -> None:
    from search.run.driver import prepare, run_experiment

    prepared = prepare(space, space_file, data_dir)
    configs = prepared.plan.configurations
    methods = prepared.plan.methods
    trials = (f"{space.num_samples} samples" if space.methods() == ["ttlora"]
              else "trials " + ", ".join(f"{m.label} {m.trials}" for m in methods))
    click.echo(f"ttsearch: {space.name}: {'continuous' if math.isinf(configs) else int(configs)} configurations, "
               f"{trials}, scheduler {space.scheduler.type}, "
               f"{len(prepared.plan.target_dims)} target matrices -> {prepared.experiment_dir}")
    result_grid = run_experiment(prepared, address=address, resume=resume, live=live)
    if _summarise(result_grid, prepared.experiment_dir, prepared.plan.score_name):
        raise SystemExit(1)
    if space.confirm.seeds:  # the confirmation stage, in the same run
        from search.run.driver import is_uri
        from ttsearch.confirm_commands import confirm_experiment

        if is_uri(prepared.experiment_dir):
            click.echo("confirm: runs on a local experiment folder (`ttsearch confirm` on a local copy)")
            return

        confirm_experiment(prepared.experiment_dir, None, None, None, address, live)


@app.command("run")
@click.argument("space_file", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@click.option("--storage", help="Storage path or URI for the experiment folder (storage.path).")
@click.option("--name", help="Experiment name (name).")
@click.option("--data-dir", help="Local data folder in the GLUE/SuperGLUE layout (data.dir; else $TTSEARCH_DATA_DIR).")
@click.option("--address", help="Existing Ray cluster to use ('auto', or HOST:PORT). Default: embedded local Ray.")
@click.option("--resume", is_flag=True, help="Continue an interrupted experiment of the same name.")
@click.option("--live/--no-live", default=None, help="Redraw a live table (default: only on a terminal).")
def run_command(space_file: str, overrides: tuple[str, ...], storage: str | None, name: str | None,
                data_dir: str | None, address: str | None, resume: bool, live: bool | None) -> None:
    """Run the search described by SPACE_FILE on Ray Tune."""
    space = _load(space_file, overrides, storage, name, data_dir)
    _run(space, space_file, address, resume, live, data_dir)


@app.command("resume")
@click.argument("experiment_dir", type=click.Path(file_okay=False))
@click.option("--address", help="Existing Ray cluster to use. Default: embedded local Ray.")
@click.option("--live/--no-live", default=None)
def resume_command(experiment_dir: str, address: str | None, live: bool | None) -> None:
    """Continue the interrupted experiment in EXPERIMENT_DIR (finished trials are not rerun)."""
    from search.run.driver import space_to_resume

    space, space_file = space_to_resume(experiment_dir)
    _run(space, space_file, address, True, live, None)


def _asha_rung_lines(plan: Plan) -> list[str]:
    """What an ASHA scheduler can cut: its rungs' epochs, or a line that it cuts nothing."""
    if plan.scheduler not in ASHA_SCHEDULERS:
        return []
    if not plan.asha_rungs:
        return [f"{plan.scheduler}: no rung before max_t, so the scheduler cuts no trial (each runs to max_t or its "
                "own early stop); a first rung needs scheduler.grace_period below max_t"]
    epochs = ", ".join(str(e) for e in plan.asha_rungs)
    return [f"{plan.scheduler} rungs: a trial can be cut after epoch {epochs} (the first is scheduler.grace_period)"]


def render_plan(plan: Plan) -> str:
    lines = [
        f"Space {plan.space_name}: model {plan.model} ({plan.model_family}), task {plan.task} ({plan.score_name})",
        f"Targets: {len(plan.target_dims)} matrices, full fine-tuning of them = {plan.full_params:,} params, "
        f"LoRA r=8 = {plan.lora8_params:,} params",
        f"Configurations: {'continuous (sampled)' if math.isinf(plan.configurations) else int(plan.configurations)}"
        f", samples: {plan.num_samples}, scheduler: {plan.scheduler}, searcher: {plan.search_algorithm}",
        "Data: " + "; ".join(f"{role}: {rows}" for role, rows in plan.data_roles.items()),
        f"Precision: {plan.precision} (each trial reports compute_dtype)",
    ]
    if plan.brackets:
        band = sum(b.trials for b in plan.brackets)
        lines.append(f"HyperBand brackets, in the order trials fill them ({band} trials per band):")
    for b in plan.brackets:
        cut = "no cut (full budget)" if b.bracket == 0 else f"first cut after {b.first_rung_epochs} epoch(s)"
        lines.append(f"  bracket s={b.bracket}: up to {b.trials} trials, {cut}")
    lines += _asha_rung_lines(plan)
    lines.append("")
    header = f"{'shape':<44} {'rank':>8} {'TT params':>12} {'x full':>10} {'x LoRA8':>9} {'16-bit':>10}"
    lines += [header, "-" * len(header)]
    for row in plan.rows:
        distinct = {tuple(v) for v in row.per_target_shapes.values()}
        if len(distinct) == 1:
            shape = dims_text(list(next(iter(distinct))))
        else:
            shape = shape_text(row.per_target_shapes, separator=", ")
        if row.cores is not None:
            shape = f"auto({row.cores}) {shape}"
        if len(shape) > 44:  # per-target shapes: the full text on its own line, numbers below
            lines.append(shape)
            shape = ""
        lines.append(f"{shape:<44} {str(row.rank):>8} {row.tt_params:>12,} {row.compression_vs_full:>10.1f} "
                     f"{row.compression_vs_lora8:>9.1f} {_human_bytes(row.storage_bytes_16bit):>10}"
                     + ("  over max_params: never sampled" if row.over_max_params else ""))
    lines += _methods_lines(plan)
    lines.append("")
    lines.append(f"GPU memory per trial (estimate, largest configuration): {plan.memory_per_trial}")
    if plan.memory_warning:
        lines.append(f"WARNING: {plan.memory_warning}")
    lines += plan.notes
    return "\n".join(lines)


def _methods_lines(plan: Plan) -> list[str]:
    """Trials per method, and each baseline configuration's adapter parameters (head not counted)."""
    if len(plan.methods) < 2 and not any(m.rows for m in plan.methods):
        return []
    lines = ["", "Methods (trials each; adapter parameters, the head not counted):"]
    for method in plan.methods:
        lines.append(f"  {method.label}: {method.trials} trials"
                     + ("" if method.rows else f", {len(plan.rows)} configurations above"))
        for row in method.rows:
            values = ", ".join(f"{k} {v}" for k, v in row.values.items()) or "-"
            lines.append(f"    {values:<30} {row.adapter_params:>14,} params {row.compression_vs_full:>10.1f} x full")
    return lines


def _human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@app.command("plan")
@click.argument("space_file", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--gpu", type=click.Choice(["H100-80GB", "H200-141GB"]), default=None,
              help="Check that resources.gpu of this GPU holds one trial's memory estimate.")
def plan_command(space_file: str, overrides: tuple[str, ...], as_json: bool, gpu: str | None) -> None:
    """Validate SPACE_FILE against its model (meta device, no weights, no Ray) and count parameters."""
    space = _load(space_file, overrides)
    plan = build_plan(space, space_file, gpu)
    if as_json:
        click.echo(json.dumps(plan.to_json_dict(), indent=2, default=str))
    else:
        click.echo(render_plan(plan))
