"""The fine-tuning methods one search can compare: TT-LoRA (the product) and the baselines.

Each method is declared here once: its name (the ``method`` key of a trial's config and the key of
the space's ``baselines:`` section), its display label, and its own searched parameters (rows of the
same kind as ``vocab.searched_params``: ``feeds="method"`` rows go into that method's config,
``feeds="train"`` rows replace the ``train.<name>`` field). Baselines run through the real PEFT
library (``kind="peft"``, ``peft_type`` names the PEFT config class) or are plain ``requires_grad``
rules (BitFit, full fine-tuning). Stdlib only: ``search`` builds the schema and applies methods,
``analysis`` reads labels and parameter rows (docs/ARCHITECTURE.md, "Methods and baselines").

A trial's config is flat (``{"method": "ttlora", "shape": ..., ...}``) when the space has one method,
and nested under ``method`` (``{"method": {"name": "lora", "rank": 8, ...}}``, one Tune grid branch per
method) when it has several; ``flat_trial_config`` reads both, and configs written before methods
existed (no ``method`` key) as TT-LoRA.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from vocab.searched_params import (EFFECTIVE_LR, HEAD_LEARNING_RATE, LEARNING_RATE, LR_SCHEDULE, SEARCHED_PARAMS, WARMUP_RATIO,
                                   WEIGHT_DECAY, SearchedParam, derived_learning_rate)

MethodKind = Literal["ttlora", "peft", "bitfit", "full"]

TTLORA = "ttlora"
METHOD_KEY = "method"  # trial config key (a method name, or the nested branch of a multi-method space)
METHOD_NAME_KEY = "name"  # the method's name inside a nested branch
# A confirmation trial (``ttsearch confirm``) re-trains a search trial's configuration with another seed:
SEED_KEY = "_seed"  # its seed, in place of ``train.seed`` (absent in search trials)
FINALIST_KEY = "_finalist"  # the id of the search trial whose configuration it re-trains


@dataclass(frozen=True)
class MethodSpec:
    """One fine-tuning method. ``params``: its searched rows (method rows and train rows);
    ``defaults``: its default for each method row and for ``learning_rate`` (the range its own recipes
    use, ``lr_source`` says whose), others default to ``train.<name>``. ``targets``: it adapts target
    modules (``baselines.<name>.targets``; default: the TT-LoRA targets)."""

    name: str
    label: str
    kind: MethodKind
    params: tuple[SearchedParam, ...]
    defaults: dict[str, Any]
    peft_type: str = ""  # PEFT config class name (kind "peft")
    targets: bool = True
    lr_source: str = ""
    help: str = ""

    @property
    def structural(self) -> tuple[SearchedParam, ...]:
        """Rows that change the trainable-parameter count (``plan`` enumerates these)."""
        return tuple(p for p in self.params if p.structural)


TRAIN_ROWS = (LEARNING_RATE, HEAD_LEARNING_RATE, WEIGHT_DECAY, LR_SCHEDULE, WARMUP_RATIO)

RANK = SearchedParam("rank", "int", "method", minimum=1, structural=True, help="adapter rank r")
LORA_ALPHA = SearchedParam("alpha", "float", "method", minimum=0, minimum_exclusive=True,
                           help="lora_alpha: ΔW is scaled by alpha / rank")
DROPOUT = SearchedParam("dropout", "float", "method", minimum=0, maximum=1, maximum_exclusive=True,
                        help="dropout on the adapter's input")
D_INITIAL = SearchedParam("d_initial", "float", "method", minimum=0, minimum_exclusive=True, label="d initial",
                          help="VeRA: initial value of the scaling vector d")

METHODS: dict[str, MethodSpec] = {m.name: m for m in (
    MethodSpec(TTLORA, "TT-LoRA", "ttlora", SEARCHED_PARAMS, {}, help="tensor-train ΔW (the search: section)"),
    MethodSpec("lora", "LoRA", "peft", (RANK, LORA_ALPHA, DROPOUT, *TRAIN_ROWS),
               {"rank": 8, "alpha": 16.0, "dropout": 0.0, "learning_rate": 5e-4}, peft_type="LoraConfig",
               lr_source="LoRA paper (Hu et al. 2021), RoBERTa-base GLUE: 4e-4 to 5e-4",
               help="low-rank ΔW = B A (PEFT LoraConfig)"),
    MethodSpec("vera", "VeRA", "peft", (RANK, D_INITIAL, *TRAIN_ROWS),
               {"rank": 256, "d_initial": 0.1, "learning_rate": 4e-3}, peft_type="VeraConfig",
               lr_source="VeRA paper (Kopiczko et al. 2024), RoBERTa-base GLUE: 4e-3 to 1e-2",
               help="frozen shared random A, B; trains scaling vectors (PEFT VeraConfig)"),
    MethodSpec("ia3", "IA3", "peft", TRAIN_ROWS, {"learning_rate": 3e-3}, peft_type="IA3Config",
               lr_source="T-Few paper (Liu et al. 2022): 3e-3",
               help="learned output scaling vectors (PEFT IA3Config)"),
    MethodSpec("lokr", "LoKr", "peft", (RANK, LORA_ALPHA, *TRAIN_ROWS),
               {"rank": 8, "alpha": 8.0, "learning_rate": 5e-4}, peft_type="LoKrConfig",
               lr_source="LoRA's range (no published GLUE recipe for LoKr)",
               help="Kronecker-product ΔW (PEFT LoKrConfig)"),
    MethodSpec("bitfit", "BitFit", "bitfit", TRAIN_ROWS, {"learning_rate": 1e-3}, targets=False,
               lr_source="BitFit paper (Ben Zaken et al. 2022): 1e-4 to 1e-3",
               help="trains every bias of the model (and the head)"),
    MethodSpec("full", "Full fine-tuning", "full", TRAIN_ROWS, {"learning_rate": 2e-5}, targets=False,
               lr_source="RoBERTa paper (Liu et al. 2019), GLUE: 1e-5 to 3e-5",
               help="every weight trained: the upper reference"),
    MethodSpec("loha", "LoHa", "peft", (RANK, LORA_ALPHA, *TRAIN_ROWS),
               {"rank": 8, "alpha": 8.0, "learning_rate": 5e-4}, peft_type="LoHaConfig",
               lr_source="LoRA's range (no published GLUE recipe for LoHa)",
               help="Hadamard product of two low-rank matrices (PEFT LoHaConfig)"),
)}
BASELINE_NAMES: tuple[str, ...] = tuple(name for name in METHODS if name != TTLORA)


def method_label(name: str) -> str:
    return METHODS[name].label if name in METHODS else name


def flat_trial_config(config: dict[str, Any]) -> dict[str, Any]:
    """A trial config with its method's values at the top level and ``method`` as a name.

    A TT-LoRA config drawn with ``effective_lr`` holds ``learning_rate: None``: it is derived here, the one
    place every reader (the trial, progress lines, analysis, export, replay) goes through. Tune's space
    cannot derive it: a ``sample_from`` there shares its path with the baselines' rates, and Tune's
    placeholder resolution fails on those (a float where it expects its placeholder)."""
    branch = config.get(METHOD_KEY)
    if isinstance(branch, dict):
        rest = {k: v for k, v in config.items() if k != METHOD_KEY}
        values = {k: v for k, v in branch.items() if k != METHOD_NAME_KEY}
        flat = {**rest, **values, METHOD_KEY: str(branch.get(METHOD_NAME_KEY, TTLORA))}
    else:
        flat = {**config, METHOD_KEY: str(branch) if branch is not None else TTLORA}
    if flat.get(EFFECTIVE_LR.name) is not None and flat.get(LEARNING_RATE.name) is None:
        flat[LEARNING_RATE.name] = derived_learning_rate(flat)
    return flat


def all_param_rows() -> tuple[SearchedParam, ...]:
    """Every parameter row of every method, one per name (first declaration wins): analysis columns."""
    seen: dict[str, SearchedParam] = {}
    for method in METHODS.values():
        for param in method.params:
            seen.setdefault(param.name, param)
    return tuple(seen.values())
