"""The table of searched hyperparameters: each is declared here once, and everything else is derived.

From this table ``search`` builds the ``search:`` section of the space schema (one field per row,
validated by the row's kind and bounds), the Tune ``param_space`` (every row is a key of a trial's
config and of Tune's ``params.json``), and the routing of a sampled value into the config it
feeds. ``analysis`` reads the same rows for its parameter columns and for the ``best.yaml`` writer.

Defaults are not written here: a row's default is the default of the field it feeds
(``ttlora_core.TTLoRAConfig.<name>`` for ``feeds="ttlora"``, the space's ``train.<name>`` for
``feeds="train"``), so the library and the search cannot disagree. A ``train`` row can be fixed
either as ``train.<name>`` or searched as ``search.<name>`` (not both).

Adding a searched hyperparameter: add a row (and put it in ``SEARCHED_PARAMS``); give the field it
feeds a default if it has none. docs/ARCHITECTURE.md, "Where to change what".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ValueKind = Literal["shape", "int", "float", "text"]
Feeds = Literal["ttlora", "train", "method"]  # method: a baseline's own config (vocab.methods)


@dataclass(frozen=True)
class SearchedParam:
    """One searched hyperparameter.

    ``value``: ``"shape"`` (a tensor shape, a per-target mapping, or ``"auto"``; only choice/grid),
    ``"int"``, ``"float"``, or ``"text"`` (one of ``choices``; only choice/grid). ``minimum`` /
    ``maximum``: allowed range (``*_exclusive``: the value must lie strictly inside). ``list_values``: a candidate may itself be a list of ints (full TT-rank lists).
    ``feeds``: the config the sampled value goes into, field of the same name. ``structural``: it
    changes the adapter's parameter count (``plan`` enumerates these). ``label``: display name.
    """

    name: str
    value: ValueKind
    feeds: Feeds
    minimum: float | None = None
    minimum_exclusive: bool = False
    maximum: float | None = None
    maximum_exclusive: bool = False
    choices: tuple[str, ...] = ()
    list_values: bool = False
    structural: bool = False
    label: str = ""
    help: str = ""

    @property
    def display_label(self) -> str:
        return self.label or self.name.replace("_", " ")


SHAPE = SearchedParam("shape", "shape", "ttlora", structural=True,
                      help="tensor shape of ΔW: a list of ints, a mapping target -> shape, or 'auto'")
CORES = SearchedParam("cores", "int", "ttlora", minimum=2, structural=True,
                      help="core count wherever the shape is 'auto'")
RANK = SearchedParam("rank", "int", "ttlora", minimum=1, list_values=True, structural=True,
                     help="TT rank: one int, or a full / inner rank list")
ALPHA = SearchedParam("alpha", "float", "ttlora", minimum=0, minimum_exclusive=True,
                      help="scale of ΔW (y = W0 x + alpha ΔW x)")
INIT = SearchedParam("init", "text", "ttlora", choices=("zero", "zero_largest", "gaussian", "unit_norm"),
                     label="core init", help="how the cores start: zero (first core 0, ΔW = 0), zero_largest "
                     "(largest core 0), gaussian (TT-SVD of a random matrix), unit_norm (cores of norm 1)")
LEARNING_RATE = SearchedParam("learning_rate", "float", "train", minimum=0, minimum_exclusive=True,
                              help="AdamW learning rate")
EFFECTIVE_LR = SearchedParam("effective_lr", "float", "train", minimum=0, minimum_exclusive=True,
                             label="alpha x LR", help="TT-LoRA: alpha x learning_rate as one number; when given, "
                             "learning_rate = effective_lr / alpha")
HEAD_LEARNING_RATE = SearchedParam("head_learning_rate", "float", "train", minimum=0, minimum_exclusive=True,
                                   label="head LR", help="AdamW learning rate of the head and saved modules "
                                   "(unset: learning_rate)")
WEIGHT_DECAY = SearchedParam("weight_decay", "float", "train", minimum=0, help="AdamW weight decay")
LR_SCHEDULE = SearchedParam("lr_schedule", "text", "train", choices=("linear", "constant"), label="LR schedule",
                            help="linear: warmup then linear decay to 0; constant: warmup then flat")
WARMUP_RATIO = SearchedParam("warmup_ratio", "float", "train", minimum=0, maximum=1, maximum_exclusive=True,
                             help="fraction of max_epochs' steps spent warming the LR up from 0")

SEARCHED_PARAMS: tuple[SearchedParam, ...] = (
    SHAPE, CORES, RANK, ALPHA, INIT, LEARNING_RATE, EFFECTIVE_LR, HEAD_LEARNING_RATE, WEIGHT_DECAY, LR_SCHEDULE,
    WARMUP_RATIO,
)
PARAM_NAMES: tuple[str, ...] = tuple(p.name for p in SEARCHED_PARAMS)
PARAMS_BY_NAME: dict[str, SearchedParam] = {p.name: p for p in SEARCHED_PARAMS}


def derived_learning_rate(values: dict[str, Any]) -> float:
    """A TT-LoRA trial's learning rate from its drawn ``effective_lr`` and ``alpha``: effective_lr / alpha."""
    return float(values[EFFECTIVE_LR.name]) / float(values[ALPHA.name])
