"""``confirm:``: the confirmation stage after the search (``ttsearch confirm`` runs it for a finished
experiment too). Finalists are re-trained with ``seeds`` new seeds, the same seeds for every finalist
(so methods compare seed by seed), each to its own early stop (no scheduler cuts). Off by default."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from search.space.strict_model import StrictModel

FINALISTS = ("selected", "front", "top")


class ConfirmSection(StrictModel):
    """``seeds``: new seeds per finalist (0: no confirmation). ``finalists``: each method's selected trial
    (lowest val loss), or those plus TT-LoRA's Pareto front, or the ``top`` lowest-val-loss trials of each
    method. ``first_seed``: the seeds are ``first_seed``, ``first_seed + 1``, ... (default: after
    ``train.seed``, so no finalist repeats its search run)."""

    seeds: int = Field(default=0, ge=0, le=50)
    finalists: Literal["selected", "front", "top"] = "selected"
    top: int = Field(default=1, ge=1, le=20)
    first_seed: int | None = Field(default=None, ge=0)


__all__ = ["ConfirmSection", "FINALISTS"]
