"""The space's strategy settings: which scheduler stops trials, which searcher proposes them.

``scheduler:`` (its own section) and the two non-parameter keys of ``search:`` (``algorithm``,
``max_params``). Parsed here, built into Ray Tune objects by ``search/strategies/factory.py``. The defaults
and why: docs/ARCHITECTURE.md, "Front-filling search".
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from search.space.strict_model import StrictModel

SCHEDULERS = ("hyperband", "asha", "banded", "mo_asha", "none")
ASHA_SCHEDULERS = ("asha", "banded", "mo_asha")  # the schedulers with a first rung (grace_period)
SEARCH_ALGORITHMS = ("auto", "random", "optuna", "optuna_mo")
# what "auto" (the default) becomes: measured best by benchmarks/bench_front.py (docs/ARCHITECTURE.md)
AUTO_ALGORITHM = "optuna_mo"  # for TT-LoRA-only spaces without grids; random otherwise
# search: keys that are not searched parameters
STRATEGY_KEYS = ("algorithm", "max_params")


class SchedulerSection(StrictModel):
    """Trial scheduler. ``hyperband`` (the paper), ``asha``, ``banded`` (ASHA inside parameter bands:
    an adapter is only compared with adapters of its size; search/strategies/banded_asha.py), ``mo_asha`` (ASHA on
    (val loss, adapter params) by non-dominated sorting; search/strategies/mo_asha.py) or ``none`` (every trial
    runs to its own stop). ``max_t`` defaults to ``train.max_epochs``; one time unit = one epoch, the
    trainable's own counter. ``bands``: the band edges in adapter parameters (ascending; every
    configuration must fall inside); None: ``num_bands`` log-spaced bands over the space's sizes."""

    # default: measured best by benchmarks/bench_front.py; the paper spaces set hyperband (the paper's)
    type: Literal[SCHEDULERS] = "mo_asha"  # type: ignore[valid-type]  # the names of strategies/factory.py's table
    max_t: int | None = Field(default=None, ge=1)
    reduction_factor: float = Field(default=3.0, gt=1.0)
    # ASHA, banded and mo_asha: the first rung. 2 by measurement (docs/ARCHITECTURE.md, "The first rung");
    # a search shorter than 2 epochs gets its max_t (search/space/schema.py)
    grace_period: int = Field(default=2, ge=1)
    # ASHA, banded and mo_asha: the first rung waits until some trial's validation predictions take more
    # than one class (search/strategies/signal_grace.py; measured no better than grace_period 1 or 2:
    # docs/ARCHITECTURE.md, "The first rung")
    grace_until_signal: bool = False
    metric: Literal["val_loss", "score"] = "val_loss"
    bands: list[float] | None = None  # banded only
    num_bands: int = Field(default=3, ge=1)  # banded only, when bands is None

    @field_validator("bands")
    @classmethod
    def _ascending(cls, value: list[float] | None) -> list[float] | None:
        if value is None:
            return value
        if len(value) < 2:
            raise ValueError("bands needs at least two edges (one band), e.g. [0, 10000, 200000]")
        if any(b <= a for a, b in zip(value, value[1:])):
            raise ValueError(f"bands must be strictly ascending parameter counts (got {value})")
        if value[0] < 0:
            raise ValueError("band edges are parameter counts, at least 0")
        return value


def parse_algorithm(value: object) -> str:
    if value not in SEARCH_ALGORITHMS:
        raise ValueError(f"unknown search algorithm {value!r}; expected one of {', '.join(SEARCH_ALGORITHMS)}")
    return str(value)


def parse_max_params(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"max_params must be a positive parameter count (got {value!r})")
    return float(value)


__all__ = ["SchedulerSection", "SCHEDULERS", "ASHA_SCHEDULERS", "SEARCH_ALGORITHMS", "AUTO_ALGORITHM", "STRATEGY_KEYS", "parse_algorithm",
           "parse_max_params"]
