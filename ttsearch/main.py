"""The ``ttsearch`` entry point: registers the subcommands and turns ``UsageError`` into exit code 2
(``Interrupted``: 130).

The subcommand modules are imported plainly; each adds its commands to ``ttsearch.app.app`` and
keeps heavy imports (torch, Ray, pandas) inside the command functions, so ``ttsearch ls`` starts fast.
"""
from __future__ import annotations

import sys

import click

from ttsearch import analysis_commands, cluster_commands, confirm_commands, replay_commands, run_commands  # noqa: F401  (register commands)
from ttsearch.app import app
from vocab.errors import Interrupted, UsageError


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
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
    except Interrupted as exc:
        click.echo(exc.render(), err=True)
        sys.exit(Interrupted.exit_code)


__all__ = ["app", "main"]
