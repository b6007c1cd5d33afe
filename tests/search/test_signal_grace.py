"""``scheduler.grace_until_signal``: Tune's own ASHA (and the project's MO-ASHA) behind
``SignalGraceScheduler``, against hand-checked decisions on small synthetic curves.

Setup: reduction factor 2, grace period 1, max_t 8, so plain ASHA's rungs are epochs 1, 2, 4; a trial
continues at a rung when its val loss is at least as good as the median of those recorded there.
``classes`` is the report's ``val_classes_predicted``: 1 = every validation row predicted as one class.
"""
from __future__ import annotations

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from search.space.schema import SearchSpace
from search.strategies.factory import SchedulerWithGrace, build_scheduler
from search.strategies.scheduler_memory import RememberingScheduler, dump_scheduler, load_scheduler
from search.strategies.signal_grace import SignalGraceScheduler, shows_signal

CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP


def _space(scheduler_type: str = "asha") -> SearchSpace:
    return SearchSpace.model_validate({
        "name": "signal", "task": "sst2", "model": {"name_or_path": "tiny"}, "train": {"max_epochs": 8},
        "scheduler": {"type": scheduler_type, "reduction_factor": 2, "grace_period": 1, "grace_until_signal": True}})


def _wrapped(scheduler_type: str = "asha") -> SignalGraceScheduler:
    sched = build_scheduler(_space(scheduler_type), [])
    assert isinstance(sched, RememberingScheduler) and isinstance(sched.inner, SignalGraceScheduler)
    assert sched.set_search_properties("val_loss", "min")
    return sched.inner


def _result(epoch: int, loss: float, classes: int | None) -> dict:
    result = {"epoch": epoch, "val_loss": loss, "adapter_params": 1_000.0}
    if classes is not None:
        result["val_classes_predicted"] = classes
    return result


def _feed(sched: TrialScheduler, events: list[tuple[str, int, float, int | None]],
          trials: dict[str, Trial] | None = None) -> list[str]:
    trials = {} if trials is None else trials
    decisions = []
    for trial_id, epoch, loss, classes in events:
        if trial_id not in trials:
            trials[trial_id] = Trial("signal", config={}, trial_id=trial_id, stub=True)
            sched.on_trial_add(None, trials[trial_id])
        decisions.append(sched.on_trial_result(None, trials[trial_id], _result(epoch, loss, classes)))
    return decisions


# Three trials, all at the majority class after epoch 1 (losses differ by noise); b leaves it at epoch 2.
STUCK_THEN_SIGNAL = [("a", 1, 0.690, 1), ("b", 1, 0.695, 1), ("c", 1, 0.700, 1),
                     ("a", 2, 0.689, 1), ("b", 2, 0.600, 2), ("c", 2, 0.700, 1)]


def test_plain_asha_cuts_by_noise_at_epoch_one() -> None:
    """The failure: the first rung at epoch 1 compares one-class losses (b 0.695 > a 0.690: cut)."""
    space = _space().model_copy(update={"scheduler": _space().scheduler.model_copy(update={"grace_until_signal": False})})
    sched = build_scheduler(space, [])
    sched.set_search_properties("val_loss", "min")
    assert _feed(sched, STUCK_THEN_SIGNAL[:3]) == [CONTINUE, STOP, STOP]


def test_the_first_rung_waits_for_the_signal_and_moves_to_its_epoch() -> None:
    """Nothing is cut before b's epoch-2 signal; the first rung is then epoch 2: b (0.600) is recorded
    first and continues, c (0.700, worse than the recorded 0.600) is cut; a's epoch 2 came before the
    signal, so a meets the rung with its next report."""
    sched = _wrapped()
    assert _feed(sched, STUCK_THEN_SIGNAL) == [CONTINUE] * 4 + [CONTINUE, STOP]
    assert sched.signal_epoch == 2 and sched.first_rung == 2


def test_a_signal_at_epoch_one_keeps_the_grace_period() -> None:
    sched = _wrapped()
    events = [("a", 1, 0.60, 2), ("b", 1, 0.70, 1), ("c", 1, 0.50, 2)]
    assert _feed(sched, events) == [CONTINUE, STOP, CONTINUE]  # plain ASHA from the first report
    assert sched.first_rung == 1


def test_a_later_trial_is_first_compared_at_the_moved_rung() -> None:
    """After the signal at epoch 2 a new trial passes epoch 1 untouched and meets the rung at epoch 2."""
    sched = _wrapped()
    trials: dict[str, Trial] = {}
    _feed(sched, STUCK_THEN_SIGNAL, trials)
    assert _feed(sched, [("d", 1, 0.90, 1), ("d", 2, 0.80, 2)], trials) == [CONTINUE, STOP]  # 0.80 > median


def test_a_trial_at_max_t_is_stopped_even_before_the_signal() -> None:
    """max_t 8: a one-class report at epoch 8 reaches ASHA, which stops the trial (and records nothing)."""
    sched = _wrapped()
    assert _feed(sched, [("a", 7, 0.60, 1), ("a", 8, 0.60, 1)]) == [CONTINUE, STOP]
    assert sched.signal_epoch is None


def test_reports_without_the_key_and_regression_count_as_signals() -> None:
    assert shows_signal({"epoch": 1}) and shows_signal({"val_classes_predicted": 0})
    assert shows_signal({"val_classes_predicted": float("nan")}) and shows_signal({"val_classes_predicted": 3})
    assert not shows_signal({"val_classes_predicted": 1}) and not shows_signal({"val_classes_predicted": 1.0})
    sched = _wrapped()
    assert _feed(sched, [("a", 1, 0.60, None), ("b", 1, 0.70, None)]) == [CONTINUE, STOP]


def test_a_trial_ending_before_the_signal_sets_no_cutoff() -> None:
    """a ends at the majority class (epoch 1, a low loss) before any signal: plain ASHA would record its
    0.10 at rung 1 and cut b; here b is alone at the rung and c, worse than b, is cut."""
    sched = _wrapped()
    trials: dict[str, Trial] = {}
    _feed(sched, [("a", 1, 0.10, 1)], trials)
    sched.on_trial_complete(None, trials["a"], _result(1, 0.10, 1))
    assert _feed(sched, [("b", 1, 0.69, 2), ("c", 1, 0.75, 2)], trials) == [CONTINUE, STOP]


@pytest.mark.parametrize("scheduler_type", ["asha", "mo_asha", "banded"])
def test_every_asha_kind_waits(scheduler_type: str) -> None:
    space = _space(scheduler_type)
    if scheduler_type == "banded":
        space = space.model_copy(update={"scheduler": space.scheduler.model_copy(update={"bands": [0, 10_000]})})
    sched = build_scheduler(space, [0, 10_000]).inner
    sched.set_search_properties("val_loss", "min")
    assert _feed(sched, STUCK_THEN_SIGNAL) == [CONTINUE] * 5 + [STOP]
    assert sched.first_rung == 2


def test_the_signal_survives_a_resume() -> None:
    """The wrapper is part of the state RememberingScheduler saves: after a restore the first rung is
    still epoch 2 and the records made there still cut."""
    sched = _wrapped()
    trials: dict[str, Trial] = {}
    _feed(sched, STUCK_THEN_SIGNAL[:5], trials)
    restored_trials = {tid: Trial("signal", config={}, trial_id=tid, stub=True) for tid in trials}
    restored = load_scheduler(dump_scheduler(sched), restored_trials)
    assert isinstance(restored, SignalGraceScheduler) and restored.first_rung == 2
    assert isinstance(restored.build, SchedulerWithGrace)
    assert _feed(restored, [("c", 2, 0.70, 1)], restored_trials) == [STOP]

