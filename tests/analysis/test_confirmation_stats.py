"""The statistics of the confirmation stage, against hand-computed values."""
from __future__ import annotations

import math

import pytest

from analysis.confirmation import SeedSummary, paired_difference, t_quantile_975, verdict


def test_spread_is_mean_sd_and_the_t_interval() -> None:
    mean, sd, half = SeedSummary.spread([0.80, 0.82, 0.84])
    assert mean == pytest.approx(0.82) and sd == pytest.approx(0.02)
    assert t_quantile_975(2) == pytest.approx(4.3027, abs=1e-4)
    assert half == pytest.approx(4.3027 * 0.02 / math.sqrt(3), abs=1e-6)
    assert math.isnan(SeedSummary.spread([0.8])[1]) and math.isnan(SeedSummary.spread([])[0])


def _summary(method: str, test: list[float], seeds: list[int] | None = None) -> SeedSummary:
    seeds = seeds or list(range(1, len(test) + 1))
    return SeedSummary("t_" + method, method, 1000.0, seeds, test, test)


def test_paired_difference_uses_only_the_seeds_both_ran() -> None:
    tt = _summary("ttlora", [0.80, 0.81, 0.79], [1, 2, 3])
    lora = _summary("lora", [0.81, 0.80, 0.90], [1, 2, 4])
    mean, half, n = paired_difference(tt, lora)
    assert n == 2 and mean == pytest.approx(0.0)  # (-1 + 1) / 2 points; seed 3 and 4 unpaired
    assert half == pytest.approx(t_quantile_975(1) * math.sqrt(2) / math.sqrt(2))


@pytest.mark.parametrize(("tt_scores", "words"), [
    ([0.800, 0.801, 0.799], "within 1 point"),
    ([0.750, 0.752, 0.748], "more than 1 point below"),
    ([0.80, 0.75, 0.82], "not separable"),
])
def test_verdict_in_words(tt_scores: list[float], words: str) -> None:
    assert words in verdict(_summary("ttlora", tt_scores), _summary("lora", [0.80, 0.80, 0.80]))


def test_only_seeds_that_ended_are_measurements() -> None:
    """A seed still running (its best so far) or failed (its scores up to the error) stays out of the
    finalist's scores and seed list; one that ended by early stop, max epochs or a scheduler is in."""
    import pandas as pd

    from analysis import columns as col
    from analysis.confirmation import summarise_seeds

    rows = [("a", 1, "early_stop", 0.80, 0.78), ("a", 2, "running", 0.95, math.nan), ("a", 3, "max_epochs", 0.82, 0.80),
            ("b", 1, "error", 0.40, math.nan), ("b", 2, "early_stop", 0.81, 0.79), ("b", 3, "early_stop", 0.83, 0.81)]
    trials = pd.DataFrame(rows, columns=["finalist", "seed", col.STOP_REASON, col.BEST_SCORE, col.BEST_TEST_SCORE])
    by_finalist = {s.finalist: s for s in summarise_seeds(trials.assign(**{col.ADAPTER_PARAMS: 100.0}))}
    assert by_finalist["a"].seeds == [1, 3] and by_finalist["a"].val_scores == [0.80, 0.82]
    assert by_finalist["b"].seeds == [2, 3] and by_finalist["b"].test_scores == [0.79, 0.81]
    mean, _, n = paired_difference(by_finalist["a"], by_finalist["b"])
    assert n == 1 and mean == pytest.approx(-1.0)  # seed 3 only: 0.80 - 0.81
