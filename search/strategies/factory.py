"""The space's strategy as Ray Tune objects: the scheduler (kept across ``--resume``) and the searcher.

* Schedulers: Tune's ``HyperBandScheduler`` (the paper) and ``ASHAScheduler``, ``banded``
  (search/strategies/banded_asha.py) or ``mo_asha`` (search/strategies/mo_asha.py), each wrapped so its state survives a resume (search/strategies/scheduler_memory.py). The
  time unit is the trainable's own epoch counter (``MetricKey.EPOCH``), which a trial restored from a
  checkpoint carries on, so it reaches its rungs on time.
* Searchers: ``random`` (Tune's ``BasicVariantGenerator``, seeded: the paper's) or Optuna's TPE through
  ``ray.tune.search.optuna.OptunaSearch``: ``optuna`` on the selected val loss, ``optuna_mo`` on
  (selected val loss, adapter parameters). Optuna gets a define-by-run space: the TT-LoRA structure
  (shape, cores, rank) as one categorical over the configurations within ``search.max_params`` (so no
  capped configuration is ever proposed), every other row as its own distribution.
* ``search.max_params`` with random search: the structure is drawn the same way, uniformly among the
  configurations within the cap, in a space with baselines inside each TT-LoRA draw.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler, TrialScheduler

from search.space.param_spec import ParamSpec
from search.space.schema import SearchSpace
from search.space.tune_param_space import is_grid, row_generator
from search.strategies.banded_asha import BandedASHAScheduler
from search.strategies.mo_asha import MultiObjectiveASHAScheduler
from search.strategies.scheduler_memory import RememberingScheduler
from search.strategies.signal_grace import SignalGraceScheduler
from vocab.experiment_folder import MetricKey
from vocab.methods import METHOD_KEY, METHOD_NAME_KEY, TTLORA
from vocab.searched_params import CORES, SEARCHED_PARAMS

TIME_ATTR = MetricKey.EPOCH.value
STRUCTURE_KEY = "_structure"  # config key: index into the allowed TT-LoRA structures
STRUCTURAL_NAMES = tuple(p.name for p in SEARCHED_PARAMS if p.structural)
OPTUNA_STARTUP_TRIALS = 10  # Optuna's TPE default: random proposals before the model is used


class StructureRow(Protocol):
    structure: dict[str, Any]  # the row's structural values (shape, rank, cores)


class StructurePlan(Protocol):
    """What the searchers read of a plan (``search.plan.plan_types.Plan`` has it): every TT-LoRA row, and
    those within ``search.max_params``. A protocol, so this room does not import the plan's."""

    @property
    def rows(self) -> Sequence[StructureRow]: ...

    @property
    def sampled_rows(self) -> Sequence[StructureRow]: ...


SchedulerFactory = Callable[[SearchSpace, list[float]], TrialScheduler]  # (space, band edges) -> scheduler


def _hyperband(space: SearchSpace, bands: list[float]) -> TrialScheduler:
    return HyperBandScheduler(time_attr=TIME_ATTR, max_t=space.max_t, reduction_factor=space.scheduler.reduction_factor)


def _asha(space: SearchSpace, bands: list[float]) -> TrialScheduler:
    sched = space.scheduler
    return ASHAScheduler(time_attr=TIME_ATTR, max_t=space.max_t, grace_period=sched.grace_period,
                         reduction_factor=sched.reduction_factor)


def _mo_asha(space: SearchSpace, bands: list[float]) -> TrialScheduler:
    sched = space.scheduler
    return MultiObjectiveASHAScheduler(TIME_ATTR, max_t=space.max_t, grace_period=sched.grace_period,
                                       reduction_factor=sched.reduction_factor)


def _banded(space: SearchSpace, bands: list[float]) -> TrialScheduler:
    sched = space.scheduler
    return BandedASHAScheduler(bands, TIME_ATTR, max_t=space.max_t, grace_period=sched.grace_period,
                               reduction_factor=sched.reduction_factor)


# scheduler.type -> its factory; the schema's names (SCHEDULERS) and these keys are the same set (tested)
SCHEDULER_FACTORIES: dict[str, SchedulerFactory] = {
    "hyperband": _hyperband, "asha": _asha, "mo_asha": _mo_asha, "banded": _banded,
    "none": lambda space, bands: FIFOScheduler(),
}


class SchedulerWithGrace:
    """The space's scheduler for a given grace period (``SignalGraceScheduler`` rebuilds it with the
    epoch of the first signal). A class, not a closure: it is saved with the scheduler's state."""

    def __init__(self, space: SearchSpace, param_bands: list[float]) -> None:
        self.space, self.param_bands = space, param_bands

    def __call__(self, grace_period: int) -> TrialScheduler:
        scheduler = self.space.scheduler.model_copy(update={"grace_period": grace_period})
        space = self.space.model_copy(update={"scheduler": scheduler})
        return SCHEDULER_FACTORIES[scheduler.type](space, self.param_bands)


def build_scheduler(space: SearchSpace, param_bands: list[float]) -> TrialScheduler:
    """The space's scheduler; every kind but ``none`` remembers its rungs across a resume. With
    ``scheduler.grace_until_signal`` the first rung waits for a trial to leave the majority class."""
    sched = space.scheduler
    if sched.grace_until_signal:
        scheduler: TrialScheduler = SignalGraceScheduler(SchedulerWithGrace(space, param_bands), sched.grace_period,
                                                         space.max_t)
    else:
        scheduler = SCHEDULER_FACTORIES[sched.type](space, param_bands)
    return scheduler if sched.type == "none" else RememberingScheduler(scheduler)


def allowed_structures(space: SearchSpace, plan: StructurePlan) -> list[dict[str, Any]]:
    """The TT-LoRA structures the search may sample (plan order, each once), every structural row set."""
    first_cores = space.searched_params()[CORES.name].discrete_values()[0]
    seen, out = set(), []
    for row in plan.sampled_rows:
        values = {CORES.name: first_cores, **row.structure}
        key = repr(sorted(values.items()))
        if key not in seen:
            seen.add(key)
            out.append(values)
    return out


def cap_structures(param_space: dict[str, Any], space: SearchSpace, plan: StructurePlan) -> dict[str, Any]:
    """``param_space`` with TT-LoRA's structure drawn uniformly among the configurations within
    ``search.max_params``: a Tune choice in a TT-LoRA-only (flat) space; in a space with baselines, inside
    each TT-LoRA draw (``capped_draws``). Unchanged when the cap leaves every configuration in."""
    if len(plan.sampled_rows) == len(plan.rows):
        return param_space
    structures = allowed_structures(space, plan)
    if is_grid(param_space.get(METHOD_KEY)):
        draws = capped_draws(param_space[METHOD_KEY]["grid_search"], structures, space.train.seed)
        return {**param_space, METHOD_KEY: tune.grid_search(draws)}
    out = {k: v for k, v in param_space.items() if k not in STRUCTURAL_NAMES and not k.startswith("_")}
    out[STRUCTURE_KEY] = tune.choice(list(range(len(structures))))
    for name in STRUCTURAL_NAMES:
        out[name] = tune.sample_from(lambda spec, name=name: structures[spec.config[STRUCTURE_KEY]][name])
    return out


def capped_draws(branches: list[dict[str, Any]], structures: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The method branches of a space with baselines (search/space/tune_param_space.py), each TT-LoRA
    branch's structural rows replaced by one of ``structures``, drawn by a generator of its own (seed,
    TT-LoRA, its position among TT-LoRA's branches): the others are left as they are."""
    out: list[dict[str, Any]] = []
    position = 0  # among TT-LoRA's branches
    for branch in branches:
        if branch.get(METHOD_NAME_KEY) != TTLORA:
            out.append(branch)
            continue
        chosen = structures[row_generator(seed, TTLORA, position, STRUCTURE_KEY).randint(len(structures))]
        kept = {k: v for k, v in branch.items() if k not in STRUCTURAL_NAMES and not k.startswith("_")}
        out.append({**kept, **chosen})
        position += 1
    return out


class OptunaSpace:
    """The define-by-run function: the structure as one categorical over ``structures`` (from
    ``allowed_structures``), the other rows each their own. A class, not a closure: Tune saves the
    searcher (and this with it) with the standard pickle at every experiment checkpoint."""

    def __init__(self, structures: list[dict[str, Any]], others: dict[str, ParamSpec]) -> None:
        self.structures, self.others = structures, others

    def __call__(self, trial: Any) -> dict[str, Any]:
        labels = [str(i) for i in range(len(self.structures))]
        chosen = int(trial.suggest_categorical(STRUCTURE_KEY, labels)) if len(labels) > 1 else 0
        constants: dict[str, Any] = dict(self.structures[chosen])
        for name, spec in self.others.items():
            value = spec.suggest(trial, name)
            if spec.kind == "fixed":
                constants[name] = value
        return constants  # learning_rate from effective_lr: vocab.methods.flat_trial_config


def optuna_space(space: SearchSpace, structures: list[dict[str, Any]]) -> OptunaSpace:
    return OptunaSpace(structures, {name: spec for name, spec in space.searched_params().items()
                                    if name not in STRUCTURAL_NAMES})


def searcher_objectives(space: SearchSpace) -> tuple[str | list[str], str | list[str]]:
    """(metric, mode) the model-based searcher learns from: the trial's selected epoch (best so far)."""
    metric, mode = ((MetricKey.BEST_VAL_LOSS.value, "min") if space.scheduler.metric == "val_loss"
                    else (MetricKey.BEST_SCORE.value, "max"))
    if space.search.algorithm == "optuna_mo":
        return [metric, MetricKey.ADAPTER_PARAMS.value], [mode, "min"]
    return metric, mode


def build_optuna(space: SearchSpace, structures: list[dict[str, Any]]) -> Any:
    """Tune's ``OptunaSearch`` with TPE (seeded by ``train.seed``) over the space's rows."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not a line per study on the console
    metric, mode = searcher_objectives(space)
    sampler = optuna.samplers.TPESampler(seed=space.train.seed, n_startup_trials=OPTUNA_STARTUP_TRIALS)
    return OptunaSearch(space=optuna_space(space, structures), metric=metric, mode=mode, sampler=sampler)


def random_search(space: SearchSpace) -> Any:
    """Tune's ``BasicVariantGenerator``, seeded (the same space and seed give the same configurations) and
    given the concurrency limit itself: Tune applies ``TuneConfig.max_concurrent_trials`` to ``Searcher``s
    only (a ConcurrencyLimiter) and would otherwise ignore it (with a warning in ray_logs only)."""
    from ray.tune.search.basic_variant import BasicVariantGenerator

    return BasicVariantGenerator(random_state=space.train.seed, max_concurrent=space.resources.max_concurrent_trials or 0)


def build_search_alg(space: SearchSpace, plan: StructurePlan, param_space: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(search_alg, the Tuner's param_space): random with the space as Tune domains, or Optuna with
    its own define-by-run space (the Tuner's param_space is then only the constant ``method``)."""
    if space.search.algorithm == "random":
        return random_search(space), cap_structures(param_space, space, plan)
    searcher = build_optuna(space, allowed_structures(space, plan))
    constants = {k: v for k, v in param_space.items() if k not in space.searched_params() and not k.startswith("_")}
    return searcher, constants


__all__ = ["SCHEDULER_FACTORIES", "StructurePlan", "build_scheduler", "random_search", "build_search_alg", "allowed_structures", "cap_structures", "optuna_space", "build_optuna",
           "searcher_objectives", "TIME_ATTR", "STRUCTURE_KEY"]
