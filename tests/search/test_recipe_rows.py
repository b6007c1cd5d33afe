"""The training-recipe rows of the parameter table: ``search.init`` (how the cores start) and
``search.head_learning_rate`` (the head's and saved modules' own AdamW rate), from the YAML to the
trial's adapter and optimizer, on the offline MiniLM with real TT-LoRA and real PEFT LoRA."""
from __future__ import annotations

from pathlib import Path

import pytest

from search.space.schema import load_space
from search.space.tune_param_space import tune_param_space
from search.trial.config import train_settings_for, ttlora_config_for
from search.trial.methods import training_method
from search.trial.model_cache import BaseModelCache, TrialModelSpec
from search.trial.training import build_optimizer
from vocab.errors import UsageError
from vocab.methods import flat_trial_config

QUICKSTART = Path(__file__).resolve().parents[2] / "spaces" / "quickstart.yaml"


def test_init_is_a_searched_row_that_reaches_the_adapter() -> None:
    space = load_space(QUICKSTART, ["search.init=[zero, zero_largest, gaussian, unit_norm]"])
    assert space.search.init.kind == "choice"
    assert set(space.search.init.values) == {"zero", "zero_largest", "gaussian", "unit_norm"}
    assert "init" in tune_param_space(space)
    sampled = {"shape": [8, 6, 8, 8, 6, 8], "cores": 4, "rank": 4, "alpha": 8.0, "init": "unit_norm",
               "learning_rate": 5e-3}
    assert ttlora_config_for(space, sampled).init == "unit_norm"
    assert load_space(QUICKSTART).search.init.values == ("zero",)  # the default start, fixed


def test_ttlora_init_is_the_older_spelling_of_a_fixed_search_init() -> None:
    assert load_space(QUICKSTART, ["ttlora.init=gaussian"]).search.init.values == ("gaussian",)
    with pytest.raises(UsageError, match="ttlora.init and as search.init"):
        load_space(QUICKSTART, ["ttlora.init=gaussian", "search.init=zero"])
    with pytest.raises(UsageError, match="search.init.*'ones'.*zero_largest"):
        load_space(QUICKSTART, ["search.init=ones"])


def test_head_learning_rate_is_searchable_for_ttlora_and_the_baselines() -> None:
    space = load_space(QUICKSTART, ["search.head_learning_rate={loguniform: [1.0e-4, 1.0e-2]}",
                                    "baselines.lora.head_learning_rate=2.0e-3"])
    assert space.search.head_learning_rate.kind == "loguniform"
    assert space.baselines.lora.head_learning_rate.values == (2.0e-3,)
    assert train_settings_for(space, {"head_learning_rate": 3e-4}).head_learning_rate == 3e-4
    unset = load_space(QUICKSTART)
    assert train_settings_for(unset, flat_trial_config({"learning_rate": 1e-3})).head_learning_rate is None
    with pytest.raises(UsageError, match="head_learning_rate"):
        load_space(QUICKSTART, ["train.head_learning_rate=1.0e-3", "search.head_learning_rate=[1.0e-3]"])


@pytest.mark.parametrize("method", ["ttlora", "lora"])
def test_the_head_trains_at_its_own_rate(method: str, minilm_path: str) -> None:
    """Two AdamW groups: the method's adapter at learning_rate, exactly the head's parameters at
    head_learning_rate; the LR schedule scales both alike. Unset: one group, as before."""
    space = load_space(QUICKSTART, ["train.head_learning_rate=1.0e-2", "search.learning_rate=1.0e-3",
                                    "baselines.lora.rank=4"])
    config = {"method": method, "shape": [8, 6, 8, 8, 6, 8], "cores": 4, "rank": 4, "alpha": 8.0, "init": "zero",
              "dropout": 0.0, "learning_rate": 1e-3}
    trial = training_method(method).build_model(space, config, TrialModelSpec(minilm_path, 2, "float32", 0, "cpu"),
                                                BaseModelCache())
    optimizer, schedule = build_optimizer(trial.model, train_settings_for(space, config), 10, trial.head_parameters)
    body, head = optimizer.param_groups
    assert sum(p.numel() for p in head["params"]) == trial.counts["head"] == 384 * 2 + 2
    assert sum(p.numel() for p in body["params"]) == trial.counts["adapter"] > 0
    optimizer.step()
    schedule.step()  # inside the warm-up: both groups at the same fraction of their rate
    assert head["lr"] / body["lr"] == pytest.approx(10.0)
    names = {id(p): n for n, p in trial.model.named_parameters()}
    assert all("classifier" in names[id(p)] for p in head["params"])
    single, _ = build_optimizer(trial.model, load_space(QUICKSTART).train, 10, trial.head_parameters)
    assert len(single.param_groups) == 1
