"""pydantic's validation errors of a space as one ``UsageError``: each field path, what was expected,
and at most ~200 characters of the bad value."""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from search.space.param_spec import MAX_SHOWN_CHARS, short_repr
from vocab.errors import UsageError
from vocab.methods import BASELINE_NAMES, METHODS


def _unknown_key_message(loc: tuple[Any, ...]) -> str:
    """``unknown key``, with what is allowed there when it is a method or a method's parameter."""
    if len(loc) == 2 and loc[0] == "baselines":
        return f"unknown method; expected one of {', '.join(BASELINE_NAMES)} (TT-LoRA is the search: section)"
    if len(loc) == 3 and loc[0] == "baselines" and loc[1] in METHODS:
        allowed = [p.name for p in METHODS[str(loc[1])].params] + (["targets"] if METHODS[str(loc[1])].targets else [])
        allowed += ["num_samples", "enabled"]
        return f"{METHODS[str(loc[1])].label} has no parameter {loc[2]!r}; its parameters: {', '.join(allowed)}"
    return "unknown key"


def format_validation_error(exc: ValidationError, source: str) -> UsageError:
    """Turn pydantic's error list into one message naming each field path and the expectation."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        got_text = "" if isinstance(got, dict) else f" (got {short_repr(got)})"
        msg = msg if len(msg) <= 2 * MAX_SHOWN_CHARS else f"{msg[:2 * MAX_SHOWN_CHARS]}..."
        if err["type"] == "extra_forbidden":
            msg, got_text = _unknown_key_message(err["loc"]), ""
        lines.append(f"{loc or '<root>'}: {msg}{got_text}")
    plural = "s" if len(lines) > 1 else ""
    return UsageError(f"invalid search space ({len(lines)} problem{plural}):\n  " + "\n  ".join(lines), where=source)


__all__ = ["format_validation_error"]
