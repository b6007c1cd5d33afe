"""Split expressions: ``val[:80%]``, ``val[80%:]``, ``train[:2000]``, ``train[100:200]``, ``a+b``.

The semantics are those of Hugging Face ``datasets`` split slicing (rounding "closest"), so the
same expression selects the same rows from a local file and from the hub: percent boundaries
become ``int(round(pct * n / 100))``, negative boundaries count from the end, absolute boundaries
beyond the split size are an error, rows keep file order. Deterministic by construction.

Split names are the hub's (``train``, ``validation``, ``validation_matched``); the local file stems
(``dev``, ``val``, ``dev_matched``) are accepted as aliases, and for MNLI ``validation`` means
``validation_matched``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from search.tasks.registry import TaskSpec
from vocab.errors import UsageError

SPLIT_EXPRESSION_HELP = (
    "a split name optionally sliced like Hugging Face datasets: 'train', 'val[:80%]', "
    "'val[80%:]', 'train[:2000]', 'train[100:200]', or several joined with '+'"
)
_SLICE_PATTERN = re.compile(
    r"^(?P<split>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:\[(?P<start>-?\d+)?(?P<start_pct>%)?:(?P<stop>-?\d+)?(?P<stop_pct>%)?\])?$"
)
_VALIDATION_ALIASES = ("dev", "val", "valid", "validation")


@dataclass(frozen=True)
class SplitSlice:
    """One ``split[start:stop]`` term; ``unit`` says whether the bounds are rows or percent."""

    split: str  # hub split name
    start: int | None
    stop: int | None
    unit: Literal["abs", "%"]
    text: str

    def indices(self, num_rows: int) -> range:
        """Row indices selected from a split of ``num_rows`` rows (datasets' "closest" rounding)."""
        bounds = []
        for bound, default in ((self.start, 0), (self.stop, num_rows)):
            if bound is None:
                bounds.append(default)
                continue
            value = int(round(bound * num_rows / 100.0)) if self.unit == "%" else bound
            if abs(value) > num_rows:
                raise UsageError(f"split slice {self.text!r} is out of range: the {self.split} split has "
                                 f"{num_rows} rows", where="split", expected=SPLIT_EXPRESSION_HELP)
            bounds.append(value + num_rows if value < 0 else value)
        start, stop = bounds
        return range(start, max(start, stop))


@dataclass(frozen=True)
class SplitExpression:
    """A parsed split expression: one or more slices, concatenated in order."""

    text: str
    slices: tuple[SplitSlice, ...]

    @property
    def base_splits(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.split for s in self.slices))


def canonical_split(task: TaskSpec, name: str) -> str:
    """The hub split name for ``name`` (accepts local stems dev/val/dev_matched); UsageError if unknown."""
    lowered = name.strip().lower()
    if lowered in task.split_names:
        return lowered
    for hub, stem in task.splits:
        if lowered == stem:
            return hub
    if lowered in _VALIDATION_ALIASES:
        return task.val_split
    accepted = list(task.split_names) + [stem for _, stem in task.splits if stem not in task.split_names]
    raise UsageError(f"unknown split {name!r} for task {task.name!r}", where="split",
                     expected="one of: " + ", ".join(accepted))


def parse_split_expression(task: TaskSpec, text: str) -> SplitExpression:
    """Parse ``text`` for ``task``; UsageError naming the expression and the bad part."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"empty split expression {text!r}", where="split", expected=SPLIT_EXPRESSION_HELP)
    slices = []
    for term in text.split("+"):
        term = term.strip().replace(" ", "")
        match = _SLICE_PATTERN.match(term)
        if match is None:
            raise UsageError(f"bad split expression {text!r} (at {term!r})", where="split",
                             expected=SPLIT_EXPRESSION_HELP)
        start_pct, stop_pct = bool(match["start_pct"]), bool(match["stop_pct"])
        start = int(match["start"]) if match["start"] is not None else None
        stop = int(match["stop"]) if match["stop"] is not None else None
        if (start_pct and match["start"] is None) or (stop_pct and match["stop"] is None):
            raise UsageError(f"bad split expression {text!r}: '%' without a number", where="split",
                             expected=SPLIT_EXPRESSION_HELP)
        if start is not None and stop is not None and start_pct != stop_pct:
            raise UsageError(f"split slice {term!r} mixes percent and row bounds", where="split",
                             expected="both bounds in % or both in rows")
        unit: Literal["abs", "%"] = "%" if (start_pct or stop_pct) else "abs"
        if unit == "%" and any(b is not None and abs(b) > 100 for b in (start, stop)):
            raise UsageError(f"split slice {term!r}: percent bounds must lie in -100..100", where="split",
                             expected=SPLIT_EXPRESSION_HELP)
        slices.append(SplitSlice(canonical_split(task, match["split"]), start, stop, unit, term))
    return SplitExpression(text=text, slices=tuple(slices))
