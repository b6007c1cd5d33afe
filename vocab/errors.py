"""User-facing errors. The CLI turns each into a one-paragraph message and exit code 2."""
from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user (a file, a field, an option). Exit code 2, no traceback.

    ``where`` names the file and/or field path (e.g. ``spaces/x.yaml: search.rank[1]``) and
    ``expected`` says what would have been accepted.
    """

    exit_code = 2

    def __init__(self, message: str, where: str | None = None, expected: str | None = None) -> None:
        self.message = message
        self.where = where
        self.expected = expected
        super().__init__(self.render())

    def render(self) -> str:
        parts = []
        if self.where:
            parts.append(f"{self.where}: ")
        parts.append(self.message)
        if self.expected:
            parts.append(f" (expected {self.expected})")
        return "".join(parts)


class Interrupted(Exception):
    """A search or confirmation stopped by Ctrl-C: its state is saved, and what would follow a finished
    run (the end mark, the held-out pass, the confirmation) did not run. Exit code 130 (as for SIGINT),
    with the command that continues it."""

    exit_code = 130

    def __init__(self, what: str, continue_with: str) -> None:
        self.what = what
        self.continue_with = continue_with
        super().__init__(self.render())

    def render(self) -> str:
        return (f"{self.what} was interrupted; its state is saved. `{self.continue_with}` continues it "
                "(finished trials are not trained again).")
