"""The strategy fields of a space: search.algorithm, search.max_params, the banded scheduler's bands.

Bad values exit with code 2 before Ray starts and name the field; good ones show in ``plan``. The
Optuna space and the capped random space are checked against the plan's own counts.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import optuna
import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from search.plan.space_plan import build_plan
from search.space.schema import load_space
from search.space.tune_param_space import tune_param_space
from search.strategies.banded_asha import SIZE_KEY
from search.strategies.factory import (
    STRUCTURE_KEY,
    TIME_ATTR,
    allowed_structures,
    build_optuna,
    build_scheduler,
    build_search_alg,
    optuna_space,
    searcher_objectives,
)
from tests.search.test_bad_input import QUICKSTART, run_main

# quickstart: 3 shapes x ranks 4, 8; adapter sizes 6,144 .. 39,936 (rank 8 of 16x24x24x16)


def test_plan_counts_what_max_params_leaves_and_shows_the_bands(capsys: pytest.CaptureFixture) -> None:
    assert run_main(["plan", str(QUICKSTART), "--set", "search.max_params=12000", "--set", "scheduler.type=banded",
                     "--set", "scheduler.num_bands=2", "--set", "search.algorithm=optuna_mo"]) == 0
    out = capsys.readouterr().out
    assert "searcher: optuna_mo" in out
    assert "search.max_params=12,000: 3 of 6 TT-LoRA configurations are sampled, 3 never." in out
    assert out.count("over max_params: never sampled") == 3
    # two log-spaced bands over 6,144 .. 10,752: the edge is sqrt(6144 * 10752) = 8,128
    assert "Bands (adapter params): [6,144, 8,128): 1 configurations; [8,128, 10,752]: 2 configurations" in out


def _plan(*overrides: str):
    space = load_space(QUICKSTART, list(overrides))
    return space, build_plan(space, str(QUICKSTART))


def test_plan_warns_about_hyperband_with_a_model_based_searcher(capsys: pytest.CaptureFixture) -> None:
    assert run_main(["plan", str(QUICKSTART), "--set", "scheduler.type=hyperband"]) == 0  # algorithm auto: optuna_mo
    assert "WARNING: HyperBand with search.algorithm=optuna_mo" in capsys.readouterr().out
    assert run_main(["plan", str(QUICKSTART), "--set", "scheduler.type=hyperband", "--set", "search.algorithm=random"]) == 0
    assert "WARNING: HyperBand" not in capsys.readouterr().out


def test_random_search_with_a_cap_samples_only_configurations_within_it() -> None:
    from ray.tune.search.basic_variant import BasicVariantGenerator
    from ray.tune.search.variant_generator import generate_variants

    space, plan = _plan("search.max_params=12000", "search.algorithm=random")
    search_alg, param_space = build_search_alg(space, plan, tune_param_space(space))
    assert isinstance(search_alg, BasicVariantGenerator)
    allowed = {(str(s["shape"]), s["rank"], s["cores"]) for s in allowed_structures(space, plan)}
    sizes = {(str(r.structure["shape"]), r.structure["rank"]): r.tt_params for r in plan.rows}
    assert len(allowed) == 3
    seen = set()
    for _ in range(40):
        _, config = next(generate_variants(param_space))
        seen.add((str(config["shape"]), config["rank"], config["cores"]))
        assert sizes[(str(config["shape"]), config["rank"])] <= 12_000
    assert seen == allowed  # every allowed structure is drawn, nothing else


def test_uncapped_random_space_is_the_plain_one() -> None:
    space, plan = _plan("search.algorithm=random")
    _, param_space = build_search_alg(space, plan, tune_param_space(space))
    assert STRUCTURE_KEY not in param_space and set(param_space) == set(tune_param_space(space))


def test_optuna_space_proposes_only_allowed_structures_and_the_space_s_ranges() -> None:
    space, plan = _plan("search.max_params=12000", "search.algorithm=optuna_mo")
    structures = allowed_structures(space, plan)
    define = optuna_space(space, structures)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=optuna.samplers.TPESampler(seed=0))
    for _ in range(12):
        trial = study.ask()
        constants = define(trial)
        chosen = structures[int(trial.params[STRUCTURE_KEY])]
        assert {k: constants[k] for k in chosen} == chosen
        assert 2e-3 <= trial.params["learning_rate"] <= 2e-2 and trial.params["alpha"] in (4.0, 8.0, 16.0)
        assert constants["weight_decay"] == 0.0  # fixed rows come back as constants
        study.tell(trial, [1.0, 1.0])
    pickle.loads(pickle.dumps(define))  # Tune saves the searcher with the standard pickle


def test_searcher_objectives_and_the_searcher_pickles() -> None:
    space, plan = _plan("search.algorithm=optuna_mo")
    assert searcher_objectives(space) == (["best_val_loss", "adapter_params"], ["min", "min"])
    space_single, _ = _plan("search.algorithm=optuna", "scheduler.metric=score")
    assert searcher_objectives(space_single) == ("best_score", "max")
    searcher = build_optuna(space, allowed_structures(space, plan))
    searcher.suggest("t1")
    state = pickle.dumps(searcher.__dict__)  # what OptunaSearch.save writes at each experiment checkpoint
    assert pickle.loads(state)["_ot_trials"].keys() == {"t1"}


def test_scheduler_kinds() -> None:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler

    from search.strategies.banded_asha import BandedASHAScheduler
    from search.strategies.mo_asha import MultiObjectiveASHAScheduler
    from search.strategies.scheduler_memory import RememberingScheduler

    expected = {"hyperband": HyperBandScheduler, "asha": ASHAScheduler, "banded": BandedASHAScheduler,
                "mo_asha": MultiObjectiveASHAScheduler}
    for kind, cls in expected.items():
        space, plan = _plan(f"scheduler.type={kind}")
        sched = build_scheduler(space, plan.param_bands)
        assert isinstance(sched, RememberingScheduler) and isinstance(sched.inner, cls)
        assert sched.inner._time_attr == "epoch" if kind != "banded" else sched.inner.time_attr == "epoch"  # noqa: SLF001
    space, plan = _plan("scheduler.type=none")
    assert type(build_scheduler(space, [])) is FIFOScheduler


def test_strategy_fields_round_trip_through_the_resolved_space(tmp_path: Path) -> None:
    from search.space.schema import dump_space_yaml

    space = load_space(QUICKSTART, ["search.algorithm=optuna_mo", "search.max_params=20000",
                                    "scheduler.type=banded", "scheduler.bands=[0, 10000, 50000]"])
    resolved = tmp_path / "space.yaml"
    resolved.write_text(dump_space_yaml(space))
    again = load_space(resolved)
    assert (again.search.algorithm, again.search.max_params) == ("optuna_mo", 20000.0)
    assert again.scheduler.bands == [0, 10000, 50000] and again == space


def test_grace_until_signal_needs_an_asha_scheduler(capsys: pytest.CaptureFixture) -> None:
    """HyperBand has no first rung to hold: exit 2 before Ray starts, naming the field."""
    assert run_main(["plan", str(QUICKSTART), "--set", "scheduler.type=hyperband", "--set", "search.algorithm=random",
                     "--set", "scheduler.grace_until_signal=true"]) == 2
    err = capsys.readouterr().err
    assert "scheduler.grace_until_signal" in err and "hyperband has none" in err and "asha, banded, mo_asha" in err
    assert run_main(["plan", str(QUICKSTART), "--set", "scheduler.grace_until_signal=true"]) == 0


def test_grace_until_signal_on_a_regression_task_says_the_first_rung_stays() -> None:
    _, plan = _plan("scheduler.grace_until_signal=true", "task=stsb")
    assert any("stsb is a regression task, so the first rung stays at grace_period=2" in n for n in plan.notes)
    _, plan = _plan("scheduler.grace_until_signal=true")
    assert not any("regression" in n for n in plan.notes)
    assert any("the rungs shown are the earliest" in n for n in plan.notes)


def _epochs_cut(scheduler: TrialScheduler, max_t: int) -> list[int]:
    """The epochs at which ``scheduler`` stops a dominated trial: four trials with low val loss and few
    parameters report every epoch first, then one with high loss and many parameters every epoch below
    max_t (at max_t a trial ends anyway)."""
    scheduler.set_search_properties("val_loss", "min")

    def report(trial: Trial, epoch: int, loss: float, size: float) -> str:
        return scheduler.on_trial_result(None, trial, {TIME_ATTR: epoch, "val_loss": loss, SIZE_KEY: size})

    good = [Trial("rungs", config={}, trial_id=f"good{i}", stub=True) for i in range(4)]
    bad = Trial("rungs", config={}, trial_id="bad", stub=True)
    for trial in [*good, bad]:
        scheduler.on_trial_add(None, trial)
    for trial in good:
        for epoch in range(1, max_t + 1):
            report(trial, epoch, 0.3, 1_000.0)
    return [epoch for epoch in range(1, max_t) if report(bad, epoch, 0.9, 50_000.0) == TrialScheduler.STOP]


def test_the_first_rung_defaults_to_epoch_2_and_the_plan_shows_the_rungs(capsys: pytest.CaptureFixture) -> None:
    """Default grace period 2 (docs/ARCHITECTURE.md, "The first rung"): the quickstart (max_t 4, eta 3)
    can cut after epoch 2 only; grace 1 gives rungs 1 and 3 (Ray's rule: grace x eta^k below max_t)."""
    from search.strategies.mo_asha import MultiObjectiveASHAScheduler

    space, plan = _plan()
    assert space.scheduler.grace_period == 2 and plan.asha_rungs == [2]
    scheduler = build_scheduler(space, plan.param_bands)
    assert isinstance(scheduler.inner, MultiObjectiveASHAScheduler)
    assert _epochs_cut(scheduler, space.max_t) == plan.asha_rungs  # what Tune's scheduler does, not the formula
    for sets, rungs in [(["scheduler.grace_period=1"], [1, 3]),
                        (["scheduler.type=asha", "scheduler.reduction_factor=2", "train.max_epochs=9",
                          "scheduler.max_t=9"], [2, 4, 8])]:
        space, plan = _plan(*sets)
        assert plan.asha_rungs == rungs == _epochs_cut(build_scheduler(space, plan.param_bands), space.max_t)
    assert _plan("scheduler.type=hyperband", "search.algorithm=random")[1].asha_rungs == []
    assert run_main(["plan", str(QUICKSTART)]) == 0
    assert "mo_asha rungs: a trial can be cut after epoch 2 (the first is scheduler.grace_period)" in capsys.readouterr().out


def test_a_search_shorter_than_the_default_rung_cuts_nothing_and_says_so(capsys: pytest.CaptureFixture) -> None:
    """One epoch: the default first rung moves to max_t (Ray's ASHA asserts grace <= max_t) and the
    plan says no trial is cut; two epochs: the rung at max_t cuts nothing either."""
    space, plan = _plan("train.max_epochs=1", "scheduler.max_t=1")
    assert space.scheduler.grace_period == 1 and plan.asha_rungs == []
    build_scheduler(space, plan.param_bands)  # Ray's own check passes
    assert run_main(["plan", str(QUICKSTART), "--set", "scheduler.max_t=2"]) == 0
    assert "no rung before max_t, so the scheduler cuts no trial" in capsys.readouterr().out
