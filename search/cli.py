"""The ``ttsearch`` command line: thin subcommands that call plain library functions.

Subcommands live in small modules (``cli_*.py``) that each add themselves to ``app``; this file only
wires them together and turns ``UsageError`` into exit code 2 with a readable message.
"""
from __future__ import annotations

import importlib
import sys
from importlib.metadata import PackageNotFoundError, version

import click

from search.errors import UsageError


def package_version() -> str:
    try:
        return version("ttsearch")
    except PackageNotFoundError:  # running from a source tree without install
        return "0.0.0+source"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_version(), prog_name="ttsearch")
def app() -> None:
    """ttsearch: hyperparameter search for TT-LoRA fine-tuning on Ray Tune.

    \b
    Typical use:
      ttsearch plan spaces/quickstart.yaml      # validate, count parameters, no Ray
      ttsearch run spaces/quickstart.yaml       # run the search (local Ray)
      ttsearch report EXPERIMENT_DIR            # Pareto report (HTML)
      ttsearch export EXPERIMENT_DIR --out best # best config + adapter
    """


# Each module registers its commands on `app` when imported. A module that is not there yet
# (a feature under construction) is skipped so the rest of the CLI keeps working.
_COMMAND_MODULES = ("search.cli_run", "search.cli_analysis", "search.cli_cluster")


def _register_commands() -> None:
    for module_name in _COMMAND_MODULES:
        try:
            importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    _register_commands()
    try:
        app.main(args=argv, standalone_mode=False, prog_name="ttsearch")
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except UsageError as exc:
        click.echo(f"error: {exc.render()}", err=True)
        sys.exit(UsageError.exit_code)


if __name__ == "__main__":
    # Run as `python -m search.cli`: call the importable module's main, where subcommands register.
    from search.cli import main as _importable_main

    _importable_main()
