"""TTLoRAConfig: the typed, validated description of one TT-LoRA adapter.

Every field is checked in ``__post_init__`` so a bad value fails when the config is built, not
after a model was loaded or a trial started. The structural shape check is :func:`ttlora_core.tt_arithmetic.check_shape_value`
(the search schema uses the same one); products against a layer's ``out * in`` are checked later by
:func:`ttlora_core.model_plan.resolve_shape`, still before any core is created.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from .tt_arithmetic import check_shape_value

INIT_CHOICES = ("zero", "zero_largest", "gaussian", "unit_norm")  # ttlora_core/core_init.py
REGEX_PREFIX = "re:"


def _check_int_list(name: str, value: Any, minimum: int) -> list[int]:
    """Return ``value`` as a list of ints >= ``minimum`` or raise a ValueError naming ``name``."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"TTLoRAConfig.{name}: expected a non-empty list of integers, got {value!r}")
    out: list[int] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or item < minimum:
            raise ValueError(
                f"TTLoRAConfig.{name}: every entry must be an integer >= {minimum}, got {item!r} in {list(value)!r}"
            )
        out.append(int(item))
    return out


@dataclass
class TTLoRAConfig:
    """Configuration of a TT-LoRA adapter (Anjum et al., 2024).

    Fields:
        targets: which linear layers get an adapter.
            * ``None``: the model family's default (:func:`ttlora_core.inject.default_targets`).
            * a list of module-name suffixes, matched on whole dotted components:
              ``"query"`` matches ``encoder.layer.0.attention.self.query``; ``"self.query"`` too.
            * a string starting with ``"re:"``: a regular expression that must match the full
              module name (``re.fullmatch``), e.g. ``"re:.*layers\\.[0-3]\\..*(q|v)_proj"``.
            * any other string: one suffix (same as a one-element list).
        shape: the tensor shape ΔW (torch layout, out x in, row-major) is reshaped to.
            * a flat list ``[k1, ..., kd]`` with ``prod(k) == out * in`` for every target;
            * a mapping target-suffix -> list or ``"auto"`` (per-target shapes, e.g. LLaMA-3's
              1024x4096 v_proj next to its 4096x4096 q_proj). The longest matching suffix wins;
              a target that no key matches is an error (no silent fallback);
            * ``"auto"``: :func:`ttlora_core.tt_arithmetic.propose_shape` with ``cores`` cores, a balanced
              factorisation that always has a split point (the fast, LoRA-exportable path).
        cores: core count used wherever the shape is ``"auto"`` (>= 2).
        rank: TT rank. An int r means ``[1, r, ..., r, 1]``; a list is either the full rank list
            ``[1, r1, ..., r_{d-1}, 1]`` or the d-1 inner ranks. A list only fits shapes with the
            matching core count.
        alpha: multiplies ΔW directly (paper eq. 3-5; no division by the rank).
        init: how the cores start (:mod:`ttlora_core.core_init`): ``"zero"`` (the first core 0, so
            ΔW = 0 like LoRA's B = 0), ``"zero_largest"`` (the largest core 0), ``"gaussian"`` (the
            paper's TT-SVD of a random matrix) or ``"unit_norm"`` (every core of norm 1). Default
            ``"gaussian"``, chosen by measurement (docs/ARCHITECTURE.md, "Core init").
        seed: seeds a private ``torch.Generator`` used for core init (never the global RNG).
        train_head: keep the task head (``classifier`` / ``score`` / ``qa_outputs``) trainable and
            save it with the adapter.
        modules_to_save: further modules (names from the model root, e.g. ``"pooler"``) trained in
            full and saved with the adapter, as PEFT's ``modules_to_save``. ``None``: the modules a
            task model of this family initialises fresh from a base checkpoint (DeBERTa's pooler;
            :data:`ttlora_core.targets.NEWLY_INITIALISED_MODULES`) when ``train_head``; ``[]``: none.

    Dtype policy: everything trained keeps float32 master weights. The cores are float32; saved
    modules (head, pooler) of a bf16/fp16 model are held in float32 and run in float32 (their inputs
    are cast up and their outputs back), so small AdamW steps are not rounded away.
    """

    targets: list[str] | str | None = None
    shape: list[int] | dict[str, list[int] | str] | str = "auto"
    cores: int = 6
    rank: int | list[int] = 5
    alpha: float = 8.0
    init: str = "gaussian"
    seed: int = 0
    train_head: bool = True
    modules_to_save: list[str] | None = None

    def __post_init__(self) -> None:
        self._validate_targets()
        self._validate_shape()
        if isinstance(self.cores, bool) or not isinstance(self.cores, int) or self.cores < 2:
            raise ValueError(f"TTLoRAConfig.cores: expected an integer >= 2, got {self.cores!r}")
        if isinstance(self.rank, (list, tuple)):
            self.rank = _check_int_list("rank", self.rank, 1)
        elif isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise ValueError(f"TTLoRAConfig.rank: expected an integer >= 1 or a list of them, got {self.rank!r}")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not self.alpha == self.alpha:
            raise ValueError(f"TTLoRAConfig.alpha: expected a finite number, got {self.alpha!r}")
        if self.alpha in (float("inf"), float("-inf")):
            raise ValueError(f"TTLoRAConfig.alpha: expected a finite number, got {self.alpha!r}")
        self.alpha = float(self.alpha)
        if self.init not in INIT_CHOICES:
            raise ValueError(f"TTLoRAConfig.init: expected one of {INIT_CHOICES}, got {self.init!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"TTLoRAConfig.seed: expected an integer >= 0, got {self.seed!r}")
        if not isinstance(self.train_head, bool):
            raise ValueError(f"TTLoRAConfig.train_head: expected true or false, got {self.train_head!r}")
        if self.modules_to_save is not None:
            if not isinstance(self.modules_to_save, (list, tuple)) or not all(
                    isinstance(m, str) and m and not m.startswith(".") for m in self.modules_to_save):
                raise ValueError(f"TTLoRAConfig.modules_to_save: expected None or a list of module names, "
                                 f"got {self.modules_to_save!r}")
            self.modules_to_save = list(self.modules_to_save)

    def _validate_targets(self) -> None:
        if self.targets is None:
            return
        if isinstance(self.targets, str):
            if not self.targets:
                raise ValueError("TTLoRAConfig.targets: expected a suffix, 're:<regex>' or a list, got ''")
            if self.targets.startswith(REGEX_PREFIX):
                try:
                    re.compile(self.targets[len(REGEX_PREFIX):])
                except re.error as err:
                    raise ValueError(f"TTLoRAConfig.targets: invalid regex {self.targets!r}: {err}") from None
            return
        if not isinstance(self.targets, (list, tuple)) or not self.targets:
            raise ValueError(f"TTLoRAConfig.targets: expected None, a string or a non-empty list, got {self.targets!r}")
        for item in self.targets:
            if not isinstance(item, str) or not item or item.startswith(".") or item.endswith("."):
                raise ValueError(f"TTLoRAConfig.targets: every entry must be a module-name suffix, got {item!r}")
        self.targets = list(self.targets)

    def _validate_shape(self) -> None:
        self.shape = check_shape_value(self.shape, "TTLoRAConfig.shape")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict; ``TTLoRAConfig.from_dict(c.to_dict()) == c``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TTLoRAConfig":
        """Build a config from :meth:`to_dict` output; unknown keys are an error naming them."""
        if not isinstance(data, dict):
            raise ValueError(f"TTLoRAConfig.from_dict: expected a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"TTLoRAConfig.from_dict: unknown field(s) {unknown}; known fields: {sorted(known)}")
        return cls(**data)
