"""The plan's records: one row per TT-LoRA structure, HyperBand's brackets, and the whole ``Plan`` that
``ttsearch plan`` prints and the driver, the strategy checks and the searchers read."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from search.plan.method_plans import MethodPlan


@dataclass
class PlanRow:
    """One structural configuration (shape x cores x rank): alpha and learning rate do not change counts."""

    shape: Any
    cores: int | None  # only meaningful for "auto" shapes
    rank: Any
    tt_params: int
    per_target_shapes: dict[str, list[int]]
    compression_vs_full: float  # full fine-tuning params of the targets / TT params
    compression_vs_lora8: float  # LoRA r=8 params on the same targets / TT params
    storage_bytes_16bit: int
    structure: dict[str, Any] = field(default_factory=dict)  # the row's structural values (shape, rank, cores)
    over_max_params: bool = False  # above search.max_params: never sampled


@dataclass
class HyperBandBracket:
    bracket: int
    trials: int  # trials the bracket admits (Ray's n0)
    first_rung_epochs: int  # epochs before the first halving (Ray's r0)


@dataclass
class Plan:
    space_name: str
    model: str
    model_family: str
    task: str
    score_name: str
    target_dims: dict[str, list[int]]
    configurations: float  # distinct discrete configurations (inf with continuous distributions)
    num_samples: int
    scheduler: str
    brackets: list[HyperBandBracket] = field(default_factory=list)
    asha_rungs: list[int] = field(default_factory=list)  # ASHA schedulers: the epochs of the rungs that can cut
    rows: list[PlanRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    precision: str = ""  # train.precision and what it means per device (search/trial/training.py)
    memory_per_trial: str = ""  # estimate for the largest configuration (cluster/memory.py)
    memory_bytes: int = 0
    memory_warning: str | None = None
    data_roles: dict[str, str] = field(default_factory=dict)  # role (as shown) -> which rows
    methods: list[MethodPlan] = field(default_factory=list)  # per method: trials, baseline counts
    param_bands: list[float] = field(default_factory=list)  # scheduler banded: the band edges in adapter params
    search_algorithm: str = "random"

    @property
    def sampled_rows(self) -> list[PlanRow]:
        """The TT-LoRA configurations the search can sample (those within search.max_params)."""
        return [row for row in self.rows if not row.over_max_params]

    @property
    def full_params(self) -> int:
        return sum(o * i for o, i in self.target_dims.values())

    @property
    def lora8_params(self) -> int:
        return sum(8 * (o + i) for o, i in self.target_dims.values())

    def to_json_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["configurations"] = None if math.isinf(self.configurations) else int(self.configurations)
        out["full_params"], out["lora8_params"] = self.full_params, self.lora8_params
        return out


__all__ = ["PlanRow", "HyperBandBracket", "Plan"]
