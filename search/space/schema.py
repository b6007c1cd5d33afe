"""The search-space schema: a YAML file parsed into typed pydantic models, one to one.

One precedence rule: schema defaults < YAML (after ``extends`` merging) < ``--set key=value``.
Every error names the file, the field path and what was expected (``vocab.errors.UsageError``).
The ``search:`` section is derived from the table ``vocab.searched_params`` (one field per row).
No Ray here: the mapping of parameter specs onto ``ray.tune`` lives in ``search/space/tune_param_space.py``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from search.space.confirm_section import ConfirmSection
from search.space.errors import format_validation_error
from search.space.param_spec import ParamSpec, parse_searched
from search.space.strategy_sections import (
    ASHA_SCHEDULERS,
    AUTO_ALGORITHM,
    STRATEGY_KEYS,
    SchedulerSection,
    parse_algorithm,
    parse_max_params,
)
from search.space.recipe_rows import apply_effective_lr, apply_fixed_init
from search.space.strict_model import StrictModel
from search.space.yaml_files import apply_overrides, load_raw_with_extends, parse_yaml_text, read_yaml_mapping
from ttlora_core.config import INIT_CHOICES, REGEX_PREFIX, TTLoRAConfig
from vocab.methods import BASELINE_NAMES, METHODS, TTLORA, MethodSpec
from vocab.searched_params import PARAMS_BY_NAME, SEARCHED_PARAMS, SearchedParam


class ModelSection(StrictModel):
    """The frozen base model. ``name_or_path``: a hub id, a local folder, or ``package:<module>``
    for a model shipped inside a Python package that has ``get_model_path()`` (the offline MiniLM)."""

    name_or_path: str
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    family: str | None = Field(default=None, description="Override the model family (config.model_type)")


class DataSection(StrictModel):
    """Where the task data comes from. ``dir``: a folder in the official GLUE/SuperGLUE layout
    (falls back to $TTSEARCH_DATA_DIR, then the Hugging Face hub)."""

    dir: str | None = None
    train_split: str = "train"
    val_split: str = "validation"  # MNLI: validation_matched
    # Held-out arrangement: val_from_train 0.1 (validation = a stratified 10% of train, used for every
    # decision) and test_split "validation" (the official dev set, evaluated at each trial's best
    # epoch and never used to decide anything).
    val_from_train: float | None = Field(default=None, gt=0.0, lt=1.0)
    test_split: str | None = None
    limit_train: int | None = Field(default=None, ge=1)
    limit_val: int | None = Field(default=None, ge=1)
    limit_test: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_source_of_validation(self) -> "DataSection":
        if self.val_from_train is not None and "val_split" in self.model_fields_set:
            raise ValueError("data.val_split and data.val_from_train both choose the validation rows; set one")
        return self


class TTLoRASection(StrictModel):
    """Which modules get a TT-LoRA adapter and how it starts (fixed for the whole search). ``targets``,
    ``train_head`` and ``modules_to_save`` apply to the baselines too (the same modules, the same head)."""

    enabled: bool = True  # false: a search of baselines only
    targets: list[str] | str | None = None  # None: the model family's default (query/value)
    init: Literal[INIT_CHOICES] | None = None  # type: ignore[valid-type]  # older spelling of a fixed search.init
    train_head: bool = True
    # modules trained in full and saved with the adapter besides the head; None: those the checkpoint
    # did not hold (the model's loading info, e.g. DeBERTa's pooler)
    modules_to_save: list[str] | None = None


class TrainSection(StrictModel):
    """Per-trial training settings (the paper: at most 20 epochs, early stop after 5 without
    val-loss improvement)."""

    max_epochs: int = Field(default=20, ge=1)
    patience: int = Field(default=5, ge=1)
    batch_size: int = Field(default=32, ge=1)
    eval_batch_size: int = Field(default=64, ge=1)
    max_length: int = Field(default=128, ge=8)
    # length-grouped training batches (the HF Trainer's group_by_length; search/tasks/encoding.py):
    # 0.51x the time per training epoch on the quickstart's SST-2 rows, same examples (docs/ARCHITECTURE.md)
    group_by_length: bool = True
    learning_rate: float = Field(default=5e-3, gt=0.0)  # searchable: search.learning_rate
    effective_lr: float | None = Field(default=None, gt=0.0)  # alpha x learning_rate (search/space/recipe_rows.py)
    # the head's and saved modules' own learning rate (None: learning_rate); searchable: search.head_learning_rate
    head_learning_rate: float | None = Field(default=None, gt=0.0)
    # LR schedule (search/trial/training.py); default by benchmarks/compare_lr_schedule.py, 3 seeds: SST-2 test
    # accuracy 0.794 ± 0.008 (linear, 6% warm-up) vs 0.762 ± 0.009 (constant); MRPC tied (F1 0.813)
    lr_schedule: Literal["linear", "constant"] = "linear"
    warmup_ratio: float = Field(default=0.06, ge=0.0, lt=1.0)
    # bf16-mixed: bf16 autocast on CUDA and on a CPU with native bf16 (else float32); TF32 on CUDA always
    precision: Literal["fp32", "bf16-mixed"] = "fp32"
    seed: int = 0
    weight_decay: float = Field(default=0.0, ge=0.0)
    grad_clip: float | None = Field(default=1.0, gt=0.0)
    max_failures: int = Field(default=1, ge=0)  # restarts of a crashed trial from its last checkpoint
    # torch threads per trial; None = the trial's CPU request (Ray sets OMP_NUM_THREADS to it)
    torch_threads: int | None = Field(default=None, ge=1)


def searched_default(param: SearchedParam) -> Any:
    """The ``search:`` default of a row: ttlora_core's ``TTLoRAConfig`` default for ``feeds="ttlora"``;
    None for ``feeds="train"`` (not searched: the trial uses ``train.<name>``)."""
    if param.feeds == "ttlora":
        return TTLoRAConfig.__dataclass_fields__[param.name].default
    if param.name not in TrainSection.model_fields:
        raise TypeError(f"searched parameter {param.name!r} feeds train, but TrainSection has no such field")
    return None


class SearchSectionBase(StrictModel):
    """The searched hyperparameters, one field per row of ``vocab.searched_params``. Each is a scalar
    (fixed), a list (choice), or a mapping ``{choice|grid: [...]}`` / ``{loguniform|uniform: [low, high]}``
    / ``{randint: [low, high]}``.

    ``shape`` values are tensor shapes: a flat list of ints (one fixed shape for every target), a
    mapping target -> shape, ``"auto"`` (balanced shape with a split point, ``cores`` cores), or a list
    of those (a choice). A parameter that feeds the training settings (``learning_rate``) may instead
    be fixed as ``train.<name>``."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    @field_validator("*")
    @classmethod
    def _parse(cls, value: Any, info: Any) -> Any:
        if info.field_name == "algorithm":
            return parse_algorithm(value)
        if info.field_name == "max_params":
            return parse_max_params(value)
        param = PARAMS_BY_NAME[info.field_name]
        if value is None:
            if param.feeds == "train":
                return None  # a train-fed parameter left to train.<name>
            raise ValueError(f"null is not a value of {param.name}; give one or leave the key out (default: "
                             f"{searched_default(param)!r})")
        return parse_searched(param, value)


SearchSection = create_model(  # a module-level class: trials receive the space by pickle
    "SearchSection", __base__=SearchSectionBase, __module__=__name__,
    **{p.name: (Any, Field(default=searched_default(p), description=p.help)) for p in SEARCHED_PARAMS},
    # the searcher (search/strategies/factory.py) and the size cap: not searched parameters
    algorithm=(Any, Field(default="auto", description="auto | random (the paper) | optuna | optuna_mo")),
    max_params=(Any, Field(default=None, description="TT-LoRA configurations above this many adapter params are never sampled")),
)


# Baseline rows by name (one row per name across the baselines: ``vocab.methods`` shares them).
BASELINE_ROWS: dict[str, SearchedParam] = {p.name: p for name in BASELINE_NAMES for p in METHODS[name].params}


class BaselineSectionBase(StrictModel):
    """One baseline's own searched parameters (rows of ``vocab.methods``), each a scalar, a list or a
    mapping as in ``search:``. ``learning_rate`` defaults to the method's recipe value; the other
    training rows to ``train.<name>``. ``targets``: the modules it adapts (default: TT-LoRA's);
    ``num_samples``: its trials (default: the space's)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    @field_validator("*")
    @classmethod
    def _parse(cls, value: Any, info: Any) -> Any:
        if info.field_name == "targets" and isinstance(value, str) and value.startswith(REGEX_PREFIX):
            try:
                re.compile(value[len(REGEX_PREFIX):])
            except re.error as exc:
                raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
        if info.field_name in ("targets", "num_samples", "enabled"):
            return value
        if value is None:  # ``rank: null``: the method's default, as an empty section means
            value = cls.model_fields[info.field_name].default
            if value is None:
                return None
        return parse_searched(BASELINE_ROWS[info.field_name], value)


def _baseline_section(method: MethodSpec) -> type[BaselineSectionBase]:
    fields: dict[str, Any] = {p.name: (Any, Field(default=method.defaults.get(p.name), description=p.help))
                              for p in method.params}
    if method.targets:
        fields["targets"] = (list[str] | str | None, None)
    # trials of this method (None: the space's num_samples); search/space/method_samples.py
    fields["num_samples"] = (int | None, Field(default=None, ge=1))
    fields["enabled"] = (bool, True)  # false: left out (drops a baseline a parent file declares)
    return create_model(f"{method.name.capitalize()}Baseline", __base__=BaselineSectionBase, __module__=__name__,
                        **fields)


BASELINE_SECTIONS: dict[str, type[BaselineSectionBase]] = {name: _baseline_section(METHODS[name])
                                                           for name in BASELINE_NAMES}
for _section in BASELINE_SECTIONS.values():  # module-level names: trials receive the space by pickle
    globals()[_section.__name__] = _section


class BaselinesSectionBase(StrictModel):
    """``baselines:``: method name -> its section; ``lora:`` with nothing under it means its defaults."""

    @model_validator(mode="before")
    @classmethod
    def _empty_means_defaults(cls, raw: Any) -> Any:
        return {k: ({} if v is None else v) for k, v in raw.items()} if isinstance(raw, dict) else raw


BaselinesSection = create_model(
    "BaselinesSection", __base__=BaselinesSectionBase, __module__=__name__,
    **{name: (section | None, Field(default=None, description=METHODS[name].help))
       for name, section in BASELINE_SECTIONS.items()},
)


class ResourcesSection(StrictModel):
    """Resources per trial. Fractional GPUs share a device, not its memory."""

    cpu: float = Field(default=1.0, gt=0.0)
    gpu: float = Field(default=0.0, ge=0.0)
    max_concurrent_trials: int | None = Field(default=None, ge=1)


class StorageSection(StrictModel):
    """Where the experiment folder goes. Multi-node clusters need shared storage (NFS path or
    s3:// / gs:// URI); ``shared: true`` declares a local path to be shared by every node."""

    path: str = "./ttsearch_results"
    shared: bool = False


class SearchSpace(StrictModel):
    """A whole search-space file, after ``extends`` merging and ``--set`` overrides."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")  # a folder name under storage.path
    description: str = ""

    @field_validator("name")
    @classmethod
    def _not_a_relative_folder(cls, value: str) -> str:
        if value in (".", ".."):
            raise ValueError(f"{value!r} is not a folder name of its own (the experiment would be written into "
                             "the storage folder or its parent)")
        return value
    model: ModelSection
    task: str
    data: DataSection = DataSection()
    ttlora: TTLoRASection = TTLoRASection()
    search: SearchSection = Field(default_factory=SearchSection)  # type: ignore[valid-type]
    baselines: BaselinesSection = Field(default_factory=BaselinesSection)  # type: ignore[valid-type]
    train: TrainSection = TrainSection()
    scheduler: SchedulerSection = SchedulerSection()
    num_samples: int = Field(default=1, ge=1)
    resources: ResourcesSection = ResourcesSection()
    storage: StorageSection = StorageSection()
    confirm: ConfirmSection = ConfirmSection()

    @model_validator(mode="after")
    def _tied_rows(self) -> "SearchSpace":
        """``ttlora.init`` and ``effective_lr`` (search/space/recipe_rows.py); before the train-fed rows."""
        apply_fixed_init(self)
        apply_effective_lr(self)
        return self

    @model_validator(mode="after")
    def _train_fed_params(self) -> "SearchSpace":
        """A train-fed parameter is fixed as train.<name> or searched as search.<name>, not both;
        when not searched, its spec is the fixed train value."""
        for param in SEARCHED_PARAMS:
            if param.feeds != "train":
                continue
            spec = getattr(self.search, param.name)
            if spec is not None and param.name in self.train.model_fields_set:
                raise ValueError(f"{param.name} is set as train.{param.name} and as search.{param.name}; set one of them")
            if spec is None:
                setattr(self.search, param.name, ParamSpec("fixed", (getattr(self.train, param.name),)))
        return self

    @model_validator(mode="after")
    def _baseline_train_rows(self) -> "SearchSpace":
        """A baseline's training rows it does not set are the fixed ``train.<name>`` values."""
        if not self.methods():
            raise ValueError("ttlora.enabled is false and no baselines are given: nothing to search")
        for name in (m for m in self.methods() if m != TTLORA):
            section = getattr(self.baselines, name)
            for param in METHODS[name].params:
                if param.feeds == "train" and getattr(section, param.name) is None:
                    setattr(section, param.name, ParamSpec("fixed", (getattr(self.train, param.name),)))
        return self

    @model_validator(mode="after")
    def _resolve_algorithm(self) -> "SearchSpace":
        """``search.algorithm: auto``: the measured default (TPE on val loss and size) where a model-based
        searcher can run (TT-LoRA alone, no grids), else random search."""
        if self.search.algorithm == "auto":
            grids = any(spec.kind == "grid" for spec in self.searched_params().values())
            self.search.algorithm = AUTO_ALGORITHM if self.methods() == [TTLORA] and not grids else "random"
        return self

    @model_validator(mode="after")
    def _scheduler_budget(self) -> "SearchSpace":
        """max_t within the epochs, and an ASHA first rung within max_t (Ray asserts it): the default
        rung moves down to a shorter search's max_t; a grace_period the file sets above it is an error."""
        sched = self.scheduler
        if sched.max_t is not None and sched.max_t > self.train.max_epochs:
            raise ValueError(f"scheduler.max_t={sched.max_t} exceeds train.max_epochs={self.train.max_epochs}")
        if sched.grace_period > self.max_t:
            if "grace_period" in sched.model_fields_set and sched.type in ASHA_SCHEDULERS:
                raise ValueError(f"scheduler.grace_period={sched.grace_period} exceeds the search's max_t={self.max_t} "
                                 f"(the first rung must come within the epochs; at most {self.max_t})")
            sched.grace_period = self.max_t
        return self

    @property
    def max_t(self) -> int:
        return self.scheduler.max_t or self.train.max_epochs

    def methods(self) -> list[str]:
        """The methods this space searches, TT-LoRA first (``vocab.methods`` names)."""
        baselines = [name for name in BASELINE_NAMES
                     if getattr(self.baselines, name) is not None and getattr(self.baselines, name).enabled]
        return ([TTLORA] if self.ttlora.enabled else []) + baselines

    def baseline_params(self, method: str) -> dict[str, ParamSpec]:
        """A baseline's searched parameter specs by name (its rows, ``targets`` left out)."""
        section = getattr(self.baselines, method)
        return {p.name: getattr(section, p.name) for p in METHODS[method].params}

    def baseline_targets(self, method: str) -> list[str] | str | None:
        """The modules a baseline adapts: its own ``targets``, else TT-LoRA's (None: the family's)."""
        own = getattr(getattr(self.baselines, method), "targets", None)
        return own if own is not None else self.ttlora.targets

    def searched_params(self) -> dict[str, ParamSpec]:
        """Every searched parameter's spec by name (the keys of a trial's config and params.json)."""
        return {p.name: getattr(self.search, p.name) for p in SEARCHED_PARAMS}

    def to_plain(self) -> dict[str, Any]:
        """A YAML-safe dict that loads back into an equal ``SearchSpace``: every searched parameter in
        ``search:`` (train-fed ones leave ``train:``, so the file does not set them twice)."""
        raw = self.model_dump(mode="python")
        raw["search"] = {k: v.to_plain() for k, v in self.searched_params().items()}
        raw["search"].update({key: getattr(self.search, key) for key in STRATEGY_KEYS
                              if getattr(self.search, key) is not None})
        for param in SEARCHED_PARAMS:
            if param.feeds == "train":
                raw["train"].pop(param.name, None)
        raw["baselines"] = {}
        for name in self.methods():
            if name == TTLORA:
                continue
            section = getattr(self.baselines, name)
            plain = {k: v.to_plain() for k, v in self.baseline_params(name).items()}
            for extra in ("targets", "num_samples"):
                if getattr(section, extra, None) is not None:
                    plain[extra] = getattr(section, extra)
            raw["baselines"][name] = plain
        if not raw["baselines"]:
            raw.pop("baselines")
        if raw["data"]["val_from_train"] is not None:
            raw["data"].pop("val_split")  # unused then, and setting both is refused
        return raw


def load_space(path: str | Path, overrides: list[str] | None = None) -> SearchSpace:
    """Load a space file: extends, then --set overrides, then validation."""
    file = Path(path)
    raw = apply_overrides(load_raw_with_extends(file), overrides or [])
    return parse_space(raw, source=str(file))


def parse_space(raw: dict[str, Any], source: str) -> SearchSpace:
    try:
        return SearchSpace.model_validate(raw)
    except ValidationError as exc:
        raise format_validation_error(exc, source) from None


def dump_space_yaml(space: SearchSpace) -> str:
    return yaml.safe_dump(space.to_plain(), sort_keys=False)


def resolve_space_file(path: str | Path, overrides: list[str] | tuple[str, ...] = (), storage: str | None = None,
                       name: str | None = None) -> tuple[str, str]:
    """(one self-contained YAML text, its storage path) of a space file with ``extends:`` merged and
    ``--set`` / ``--storage`` / ``--name`` applied, validated as ``run`` validates it (``UsageError``
    otherwise). ``ttsearch submit`` sends this text, so the cluster never needs the parent files."""
    extra = [*overrides, *([f"storage.path={storage}"] if storage else []), *([f"name={name}"] if name else [])]
    space = load_space(path, extra)
    return dump_space_yaml(space), space.storage.path


__all__ = ["SearchSpace", "load_space", "parse_space", "resolve_space_file", "apply_overrides", "parse_yaml_text",
           "read_yaml_mapping", "dump_space_yaml"]
