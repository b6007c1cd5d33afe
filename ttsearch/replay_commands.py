"""``ttsearch replay``: what would another scheduler or searcher have cost and found on a recorded search?

EXPERIMENT is an experiment folder run with ``scheduler: none`` (every trial to its own stop) or a
compact recording (``--save-recording``, benchmarks/data/front_recording.json). Every combination of
``--scheduler`` and ``--searcher`` is replayed ``--seeds`` times through the real Ray Tune scheduler
and searcher with a trainable that reports the recorded curves (search/replay/replay_search.py): no training.
"""
from __future__ import annotations

import json

import click

from search.space.strategy_sections import SCHEDULERS, SEARCH_ALGORITHMS
from ttsearch.app import app

REPLAY_SEARCHERS = [name for name in SEARCH_ALGORITHMS if name != "auto"]  # a replay names its searcher


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
@click.option("--grace-until-signal", is_flag=True, default=False,
              help="Set scheduler.grace_until_signal: the first rung waits for a trial to leave the majority class.")
@click.option("--num-bands", type=click.IntRange(1), default=None, help="Override scheduler.num_bands (banded).")
@click.option("--samples", type=click.IntRange(1), default=None, help="Trials per replay (default: every recorded one).")
@click.option("--concurrency", type=click.IntRange(1), default=1, show_default=True,
              help="Trials at once; 1 keeps every decision deterministic.")
@click.option("--save-recording", type=click.Path(dir_okay=False), default=None,
              help="Also write the compact recording (configs and curves, no checkpoints) here.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per replay instead of tables.")
def replay_command(experiment: str, schedulers: tuple[str, ...], searchers: tuple[str, ...], seeds: int,
                   reduction_factor: float | None, max_t: int | None, grace_period: int | None,
                   grace_until_signal: bool, num_bands: int | None, samples: int | None, concurrency: int,
                   save_recording: str | None, as_json: bool) -> None:
    """Replay scheduler/searcher decisions on a recorded experiment (zero training compute)."""
    from search.replay.replay_runs import ReplayRequest, check_replay_request, run_replays
    from search.replay.replay_search import full_hypervolume, recording_reference
    from search.replay.summary import result_lines, summarise, summary_lines

    from analysis.recording import load_recording

    recording, skipped = load_recording(experiment)
    for line in skipped:
        click.echo(f"left out (did not end on its own): {line}", err=True)
    request = ReplayRequest(schedulers, searchers, seeds, reduction_factor, max_t, grace_period, num_bands, samples,
                            concurrency, grace_until_signal or None)
    check_replay_request(recording, request)  # every strategy is valid for this recording before Ray starts
    if save_recording:
        recording.write(save_recording)
        click.echo(f"wrote the recording ({len(recording.trials)} trials, {recording.trial_epochs} trial-epochs) "
                   f"to {save_recording}")
    full_hv = full_hypervolume(recording)
    if as_json:
        run_replays(recording, request, lambda result, sched, srch, seed: click.echo(json.dumps({
            "strategy": result.strategy, "scheduler": sched, "searcher": srch, "seed": seed,
            "trial_epochs": result.trial_epochs, "selected_score": result.selected_score,
            "hypervolume": result.hypervolume, "full_hypervolume": full_hv})))
        return
    click.echo(f"recording {recording.name}: {len(recording.trials)} configurations, {recording.trial_epochs} "
               f"trial-epochs, task {recording.task} ({recording.score_name} on validation)")
    click.echo(f"hypervolume of the whole recording: {full_hv:.4f}; {recording_reference(recording).describe()}")
    click.echo("searchers choose among the recorded configurations only: each proposal runs the nearest one not yet tried")
    results = run_replays(recording, request)
    for block in (result_lines(results, full_hv), summary_lines(summarise(results, full_hv), full_hv)):
        click.echo("")
        for line in block:
            click.echo(line)


__all__ = ["replay_command"]
