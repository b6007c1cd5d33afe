"""Banded ASHA and multi-objective ASHA against hand-checked rung decisions on small synthetic curves (Tune's own ASHA inside).

Setup of every case: reduction factor 2, grace period 1, max_t 4, so the rungs are epochs 1, 2 and 4
and a trial continues at a rung when its val loss is at least as good as the median of the losses
already recorded there (ASHA's cutoff: the (1 - 1/2) quantile of -loss).
"""
from __future__ import annotations

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from search.strategies.banded_asha import BandedASHAScheduler
from search.strategies.mo_asha import MultiObjectiveASHAScheduler, front_ranks

CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP
EDGES = [100, 1_000, 100_000]  # band 0: [100, 1000), band 1: [1000, 100000]


def _trial(trial_id: str) -> Trial:
    return Trial("replay", config={}, trial_id=trial_id, stub=True)


def _result(epoch: int, loss: float, params: float) -> dict:
    return {"epoch": epoch, "val_loss": loss, "adapter_params": params}


def _banded(edges: list[float] = EDGES) -> BandedASHAScheduler:
    sched = BandedASHAScheduler(edges, time_attr="epoch", max_t=4, grace_period=1, reduction_factor=2)
    assert sched.set_search_properties("val_loss", "min")
    return sched


def _feed(sched, events: list[tuple[str, int, float, float]]) -> list[str]:
    trials: dict[str, Trial] = {}
    decisions = []
    for trial_id, epoch, loss, params in events:
        trial = trials.setdefault(trial_id, _trial(trial_id))
        if epoch == 1 and isinstance(sched, ASHAScheduler):
            sched.on_trial_add(None, trial)
        decisions.append(sched.on_trial_result(None, trial, _result(epoch, loss, params)))
    return decisions


# Two big adapters learn fast, two small ones slowly: epoch-1 val losses 0.30/0.35 vs 0.60/0.55.
MIXED = [("big1", 1, 0.30, 50_000), ("big2", 1, 0.35, 60_000), ("small1", 1, 0.60, 500), ("small2", 1, 0.55, 600)]


def test_plain_asha_cuts_the_slow_small_adapter() -> None:
    """The failure the bands fix: one rung for every size, so both small adapters fall below the median
    (small1: 0.60 vs {0.30, 0.35}; small2: 0.55 vs {0.30, 0.35, 0.60}, median 0.35)."""
    sched = ASHAScheduler(time_attr="epoch", max_t=4, grace_period=1, reduction_factor=2)
    sched.set_search_properties("val_loss", "min")
    assert _feed(sched, MIXED) == [CONTINUE, STOP, STOP, STOP]


def test_bands_compare_an_adapter_only_with_its_own_size() -> None:
    """big2 loses to big1 in band 1; small1 is alone in band 0 and continues; small2 beats small1's 0.60."""
    sched = _banded()
    assert _feed(sched, MIXED) == [CONTINUE, STOP, CONTINUE, CONTINUE]
    assert sched.band_of == {"big1": 1, "big2": 1, "small1": 0, "small2": 0}


def test_a_worse_small_adapter_is_cut_within_its_band() -> None:
    sched = _banded()
    events = [("small1", 1, 0.55, 500), ("small2", 1, 0.60, 600), ("small3", 1, 0.50, 700)]
    # small2 (0.60) is worse than the recorded 0.55: stop; small3 (0.50) beats the median of {0.55, 0.60}
    assert _feed(sched, events) == [CONTINUE, STOP, CONTINUE]


def test_later_rungs_and_max_t() -> None:
    """Rung 2 holds only the trials that reached it; the trial reaching max_t (4) is stopped as done."""
    sched = _banded()
    events = [("a", 1, 0.50, 2_000), ("b", 1, 0.45, 3_000),  # b beats a at rung 1
              ("a", 2, 0.40, 2_000), ("b", 2, 0.42, 3_000),  # rung 2: a first (no cutoff), b worse than 0.40: stop
              ("a", 3, 0.38, 2_000), ("a", 4, 0.37, 2_000)]  # epoch 3 is no rung; epoch 4 = max_t
    assert _feed(sched, events) == [CONTINUE, CONTINUE, CONTINUE, STOP, CONTINUE, STOP]


def test_a_band_with_one_trial_never_cuts_it() -> None:
    sched = _banded()
    events = [("big", 1, 0.20, 50_000), ("lonely", 1, 0.90, 200), ("big2", 1, 0.10, 70_000),
              ("lonely", 2, 0.88, 200), ("lonely", 3, 0.87, 200)]
    assert _feed(sched, events) == [CONTINUE, CONTINUE, CONTINUE, CONTINUE, CONTINUE]


def test_sizes_outside_the_edges_go_to_the_nearest_end_band() -> None:
    sched = _banded()
    assert [sched.band_for(p) for p in (1, 100, 999, 1_000, 100_000, 10**9)] == [0, 0, 0, 1, 1, 1]


def test_complete_and_remove_release_the_trial() -> None:
    sched = _banded()
    trial = _trial("t")
    sched.on_trial_result(None, trial, _result(1, 0.5, 500))
    sched.on_trial_complete(None, trial, _result(2, 0.4, 500))
    assert "t" not in sched.bands[0]._trial_info  # noqa: SLF001
    sched.on_trial_remove(None, trial)  # after completion: nothing left to remove, no error


def test_metric_given_twice_is_refused_like_tunes_own_schedulers() -> None:
    sched = BandedASHAScheduler(EDGES, "epoch", max_t=4, metric="val_loss", mode="min")
    assert sched.set_search_properties("val_loss", "min") is False


def test_too_few_edges() -> None:
    with pytest.raises(ValueError, match="two band edges"):
        BandedASHAScheduler([1000], "epoch", max_t=4)


# --- multi-objective ASHA: rungs keep the non-dominated best of (val loss, adapter params) ------------

def _mo() -> MultiObjectiveASHAScheduler:
    sched = MultiObjectiveASHAScheduler("epoch", max_t=4, grace_period=1, reduction_factor=2)
    assert sched.set_search_properties("val_loss", "min")
    return sched


def test_front_ranks_by_hand() -> None:
    # (loss, params): a and b are both non-dominated; c is dominated by a only; d by everything
    points = [(0.30, 50_000), (0.60, 500), (0.40, 60_000), (0.70, 70_000), (float("nan"), 10)]
    assert front_ranks(points) == [0, 0, 1, 2, 3]
    assert front_ranks([(0.5, 100), (0.5, 100)]) == [0, 0]  # equal points do not dominate each other


def test_mo_asha_keeps_the_small_slow_adapter_and_cuts_a_dominated_large_one() -> None:
    """MIXED under MO-ASHA: small1 (0.60, 500) is the smallest so far, never dominated: it continues where
    plain ASHA cut it; big2 (0.35, 60k) is dominated by big1 (0.30, 50k); small2 (0.55, 600) is not
    dominated (its loss is below small1's) and is within the best half by front rank."""
    sched = _mo()
    trials = {name: _trial(name) for name in ("big1", "big2", "small1", "small2")}
    decisions = []
    for name, epoch, loss, params in MIXED:
        sched.on_trial_add(None, trials[name])
        decisions.append(sched.on_trial_result(None, trials[name], _result(epoch, loss, params)))
    assert decisions == [CONTINUE, STOP, CONTINUE, CONTINUE]


def test_mo_asha_cuts_a_trial_dominated_by_half_the_rung() -> None:
    sched = _mo()
    events = [("a", 0.30, 500), ("b", 0.32, 600), ("c", 0.50, 5_000)]  # c: dominated by a and b (front rank 1)
    decisions = []
    for name, loss, params in events:
        trial = _trial(name)
        sched.on_trial_add(None, trial)
        decisions.append(sched.on_trial_result(None, trial, _result(1, loss, params)))
    # b is dominated by a (rank 1 of 2 points; keep 1): stop; c: 2 points better than it, keep 2: stop
    assert decisions == [CONTINUE, STOP, STOP]


def test_mo_asha_without_a_size_makes_no_decision() -> None:
    sched = _mo()
    trial = _trial("x")
    sched.on_trial_add(None, trial)
    assert sched.on_trial_result(None, trial, {"epoch": 1, "val_loss": 0.5}) == CONTINUE
    sched.on_trial_complete(None, trial, {"epoch": 1, "val_loss": 0.5})
    assert "x" not in sched._trial_info  # noqa: SLF001
