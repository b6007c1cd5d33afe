"""Which trials the pass after the search scores on the held-out split (search/run/heldout_pass.py), on
hand-computed fronts."""
from __future__ import annotations

import math

from search.run.heldout_pass import TrialOutcome, front_keys, selected_keys, trials_to_score


def _t(key: str, params: float, score: float, loss: float, method: str = "ttlora", has_test: bool = False,
       usable: bool = True) -> TrialOutcome:
    return TrialOutcome(key, method, params, score, loss, has_test, usable)


def test_front_keeps_ties_and_drops_dominated_trials() -> None:
    trials = [_t("a", 100, 0.70, 0.6), _t("b", 200, 0.80, 0.5), _t("c", 200, 0.80, 0.55),
              _t("d", 300, 0.75, 0.4), _t("e", 50, 0.60, 0.7), _t("f", 400, 0.90, 0.3)]
    assert front_keys(trials) == {"e", "a", "b", "c", "f"}  # d: b has fewer params and a higher score


def test_front_skips_errored_unsized_and_nan_trials() -> None:
    trials = [_t("a", 100, 0.70, 0.6), _t("err", 10, 0.99, 0.1, usable=False), _t("zero", 0, 0.95, 0.2),
              _t("nan", 20, math.nan, 0.3)]
    assert front_keys(trials) == {"a"}


def test_selected_is_each_methods_best_by_the_search_metric() -> None:
    trials = [_t("a", 100, 0.70, 0.60), _t("b", 200, 0.80, 0.65), _t("l1", 900, 0.82, 0.50, "lora"),
              _t("l2", 1800, 0.85, 0.55, "lora")]
    assert selected_keys(trials, "val_loss") == {"a", "l1"}
    assert selected_keys(trials, "score") == {"b", "l2"}


def test_only_unscored_trials_that_matter_are_scored() -> None:
    trials = [_t("small", 100, 0.70, 0.60, has_test=True),  # on the front, already scored by itself
              _t("mid", 200, 0.80, 0.65),  # on the front: scored now
              _t("dominated", 300, 0.75, 0.70),  # not on a front, not selected: never scored
              _t("l1", 900, 0.78, 0.50, "lora"),  # not on the overall front, but LoRA's own front and selected
              _t("l2", 1800, 0.76, 0.58, "lora")]  # dominated by l1 within LoRA too
    assert trials_to_score(trials, "val_loss") == ["mid", "l1"]
