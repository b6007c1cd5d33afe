"""``ttsearch replay``: what would another scheduler or searcher have cost and found on a recorded search?

EXPERIMENT is an experiment folder run with ``scheduler: none`` (every trial to its own stop) or a
compact recording (``--save-recording``, benchmarks/data/front_recording.json). Every combination of
``--scheduler`` and ``--searcher`` is replayed ``--seeds`` times through the real Ray Tune scheduler
and searcher with a trainable that reports the recorded curves (search/replay.py): no training.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from search.strategy_sections import SCHEDULERS, SEARCH_ALGORITHMS
from ttsearch.app import app
from vocab.errors import UsageError

REPLAY_SEARCHERS = [name for name in SEARCH_ALGORITHMS if name != "auto"]  # a replay names its searcher


def load_recording(path: str) -> tuple[object, list[str]]:
    """A recording from a folder (analysis/recording.py) or a recording file."""
    from vocab.recording import Recording

    location = Path(path).expanduser()
    if location.is_dir():
        from analysis.recording import recording_from_experiment

        return recording_from_experiment(location)
    if not location.is_file():
        raise UsageError("no such experiment folder or recording file", where=str(location),
                         expected="a folder from `ttsearch run` with scheduler none, or a recording .json(.gz)")
    try:
        return Recording.read(location), []
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the recording: {exc}", where=str(location),
                         expected="a file written by `ttsearch replay --save-recording`") from None


@app.command("replay")
@click.argument("experiment", type=click.Path())
@click.option("--scheduler", "schedulers", multiple=True, type=click.Choice(SCHEDULERS), default=("hyperband",),
              show_default=True, help="Scheduler(s) to replay; repeat the option for several.")
@click.option("--searcher", "searchers", multiple=True, type=click.Choice(REPLAY_SEARCHERS), default=("random",),
              show_default=True, help="Searcher(s); each chooses among the recorded configurations only.")
@click.option("--seeds", type=click.IntRange(1, 1000), default=1, show_default=True, help="Seeds 0..N-1 per strategy.")
@click.option("--reduction-factor", type=float, default=None, help="Override scheduler.reduction_factor (eta).")
@click.option("--max-t", type=click.IntRange(1), default=None, help="Override scheduler.max_t (epochs).")
@click.option("--grace-period", type=click.IntRange(1), default=None, help="Override scheduler.grace_period.")
@click.option("--num-bands", type=click.IntRange(1), default=None, help="Override scheduler.num_bands (banded).")
@click.option("--samples", type=click.IntRange(1), default=None, help="Trials per replay (default: every recorded one).")
@click.option("--concurrency", type=click.IntRange(1), default=1, show_default=True,
              help="Trials at once; 1 keeps every decision deterministic.")
@click.option("--save-recording", type=click.Path(dir_okay=False), default=None,
              help="Also write the compact recording (configs and curves, no checkpoints) here.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per replay instead of tables.")
def replay_command(experiment: str, schedulers: tuple[str, ...], searchers: tuple[str, ...], seeds: int,
                   reduction_factor: float | None, max_t: int | None, grace_period: int | None, num_bands: int | None,
                   samples: int | None, concurrency: int, save_recording: str | None, as_json: bool) -> None:
    """Replay scheduler/searcher decisions on a recorded experiment (zero training compute)."""
    from search.replay import full_hypervolume, recording_reference, recording_space, replay, strategy_overrides
    from search.replay_summary import result_lines, summarise, summary_lines

    recording, skipped = load_recording(experiment)
    for line in skipped:
        click.echo(f"left out (did not end on its own): {line}", err=True)
    if max_t is not None and max_t > recording.max_epochs:
        raise UsageError(f"--max-t {max_t} exceeds the recorded epoch limit {recording.max_epochs}", where="--max-t",
                         expected=f"at most {recording.max_epochs}")
    combos = [(sched, srch) for srch in searchers for sched in schedulers]
    for sched, srch in combos:  # every strategy is valid for this recording before Ray starts
        space = recording_space(recording, {"scheduler.type": sched, "search.algorithm": srch,
                                            **strategy_overrides(reduction_factor, max_t, grace_period, num_bands)})
        if srch != "random" and space.methods() != ["ttlora"]:
            raise UsageError(f"--searcher {srch} searches TT-LoRA's own space; this recording also holds baselines",
                             where="--searcher", expected="random for a recording with baselines")
    if save_recording:
        recording.write(save_recording)
        click.echo(f"wrote the recording ({len(recording.trials)} trials, {recording.trial_epochs} trial-epochs) "
                   f"to {save_recording}")
    full_hv = full_hypervolume(recording)
    if not as_json:
        click.echo(f"recording {recording.name}: {len(recording.trials)} configurations, {recording.trial_epochs} "
                   f"trial-epochs, task {recording.task} ({recording.score_name} on validation)")
        click.echo(f"hypervolume of the whole recording: {full_hv:.4f}; {recording_reference(recording).describe()}")
        click.echo("searchers choose among the recorded configurations only: each proposal runs the nearest one not yet tried")
    import ray

    from search.replay import start_replay_ray

    for name in ("ray", "ray.tune", "ray.train"):
        logging.getLogger(name).setLevel(logging.ERROR)
    started = not ray.is_initialized()
    if started:
        start_replay_ray(concurrency)
    results = []
    try:
        for sched, srch in combos:
            for seed in range(seeds):
                result = replay(recording, sched, srch, seed=seed, reduction_factor=reduction_factor, max_t=max_t,
                                grace_period=grace_period, num_bands=num_bands, samples=samples)
                results.append(result)
                if as_json:
                    click.echo(json.dumps({"strategy": result.strategy, "scheduler": sched, "searcher": srch,
                                           "seed": seed, "trial_epochs": result.trial_epochs,
                                           "selected_score": result.selected_score,
                                           "hypervolume": result.hypervolume, "full_hypervolume": full_hv}))
    finally:
        if started:
            ray.shutdown()
    if not as_json:
        click.echo("")
        for line in result_lines(results, full_hv):
            click.echo(line)
        click.echo("")
        for line in summary_lines(summarise(results, full_hv), full_hv):
            click.echo(line)


__all__ = ["replay_command", "load_recording"]
