"""``ttsearch confirm``: a finished search's finalists re-trained with new seeds, then the scores over
seeds and the paired verdict (search/run/confirmation.py trains; analysis/confirmation.py reads)."""
from __future__ import annotations

import click

from search.space.confirm_section import FINALISTS
from ttsearch.app import app

DEFAULT_SEEDS = 3  # when neither --seeds nor the space's confirm.seeds says


def confirm_experiment(experiment_dir: str, seeds: int | None, finalists: str | None, top: int | None,
                       address: str | None, live: bool | None) -> None:
    """Select the finalists (analysis), re-train them (search), print the summary (analysis)."""
    from analysis.confirmation import (confirmation_trials, require_finished_search, select_finalists, summarise_seeds,
                                       summary_lines)
    from analysis.loading import load_experiment
    from search.run.confirmation import check_not_a_confirmation, confirmation_seeds, run_confirmation
    from search.run.driver import space_to_resume
    from vocab.errors import UsageError

    check_not_a_confirmation(experiment_dir)
    space, _ = space_to_resume(experiment_dir)
    which, count = finalists or space.confirm.finalists, top or space.confirm.top
    if top is not None and which != "top":
        raise UsageError(f"--top {top} picks trials only with --finalists top (finalists here: {which})",
                         where="--top", expected="--finalists top --top K, or no --top")
    exp = load_experiment(experiment_dir)
    require_finished_search(exp)
    chosen = select_finalists(exp, which, count)
    seed_count = seeds or space.confirm.seeds or DEFAULT_SEEDS
    seed_list = confirmation_seeds(space, seed_count)
    click.echo(f"confirming {len(chosen)} finalist(s) ({which}) with seeds {seed_list}: "
               + ", ".join(f"{f.trial_id} ({f.method})" for f in chosen))
    again = (f"ttsearch confirm {experiment_dir} --seeds {seed_count} --finalists {which}"
             + (f" --top {count}" if which == "top" else "") + (f" --address {address}" if address else ""))
    outcome = run_confirmation(experiment_dir, chosen, seed_list, address, live, continue_with=again)
    click.echo("already confirmed with these finalists and seeds: nothing trained" if outcome is None
               else "\n".join(outcome.lines()))
    if outcome is not None and outcome.failed:
        click.echo(f"{outcome.failed} seed(s) failed and are left out of the figures below; `{again}` retries them")
    for line in summary_lines(summarise_seeds(confirmation_trials(experiment_dir)), exp.score_name):
        click.echo(line)


@app.command("confirm")
@click.argument("experiment_dir", type=click.Path(file_okay=False))
@click.option("--seeds", type=click.IntRange(1, 50), default=None,
              help=f"New seeds per finalist (default: the space's confirm.seeds, else {DEFAULT_SEEDS}).")
@click.option("--finalists", type=click.Choice(FINALISTS), default=None,
              help="Each method's selected trial, plus TT-LoRA's front, or each method's --top trials.")
@click.option("--top", type=click.IntRange(1, 20), default=None, help="Trials per method with --finalists top.")
@click.option("--address", help="Existing Ray cluster to use. Default: embedded local Ray.")
@click.option("--live/--no-live", default=None, help="Redraw a live table (default: only on a terminal).")
def confirm_command(experiment_dir: str, seeds: int | None, finalists: str | None, top: int | None,
                    address: str | None, live: bool | None) -> None:
    """Re-train the finalists of the search in EXPERIMENT_DIR with new seeds (resumable)."""
    confirm_experiment(experiment_dir, seeds, finalists, top, address, live)


__all__ = ["confirm_command", "confirm_experiment"]
