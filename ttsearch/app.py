"""The click group every subcommand module registers on."""
from __future__ import annotations

import click

from vocab.version import package_version


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_version(), prog_name="ttsearch")
def app() -> None:
    """ttsearch: hyperparameter search for TT-LoRA fine-tuning on Ray Tune.

    \b
    Typical use:
      ttsearch plan spaces/quickstart.yaml      # validate, count parameters, no Ray
      ttsearch run spaces/quickstart.yaml       # run the search (local Ray)
      ttsearch report EXPERIMENT_DIR            # Pareto report (HTML)
      ttsearch confirm EXPERIMENT_DIR --seeds 3 # finalists re-trained over seeds
      ttsearch export EXPERIMENT_DIR --out best # best config + adapter
    """
