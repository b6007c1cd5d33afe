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
    assert load_space(QUICKSTART).search.init.values == ("gaussian",)  # the default start (measured), fixed


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


EFFECTIVE = ["search.learning_rate=null", "search.effective_lr={loguniform: [0.01, 0.09]}"]


def test_effective_lr_derives_the_learning_rate_in_random_search_beside_a_baseline() -> None:
    """Tune's own variant generation (the random searcher's): every TT-LoRA draw runs at
    effective_lr / alpha with effective_lr inside its range; LoRA keeps its own learning rate."""
    from ray.tune.search.variant_generator import generate_variants

    space = load_space(QUICKSTART, [*EFFECTIVE, "baselines.lora.rank=4", "num_samples=6"])
    drawn = [flat_trial_config(v["config"]) for _, v in generate_variants({"config": tune_param_space(space)})]
    tt = [c for c in drawn if c["method"] == "ttlora"]
    assert len(tt) == 6 and len({c["effective_lr"] for c in tt}) == 6
    for config in tt:
        assert 0.01 <= config["effective_lr"] <= 0.09
        assert config["learning_rate"] == pytest.approx(config["effective_lr"] / config["alpha"])
        assert train_settings_for(space, config).learning_rate == pytest.approx(config["learning_rate"])
    assert [c["learning_rate"] for c in drawn if c["method"] == "lora"] == [5e-4]  # LoRA's recipe rate


def test_effective_lr_beside_a_baseline_survives_tunes_placeholders() -> None:
    """What ``tune.run`` does to a param space before the random searcher (``inject_placeholders``) and to
    each trial's config after it (``resolve_placeholders``): a TT-LoRA-only derivation in Tune's space sat
    at the same path as LoRA's learning rate and crashed here on every LoRA trial (a float, not a
    placeholder). Now every draw resolves, and the rate is derived when the config is read."""
    import copy

    from ray.tune.impl.placeholder import create_resolvers_map, inject_placeholders, resolve_placeholders
    from ray.tune.search.variant_generator import generate_variants

    space = load_space(QUICKSTART, [*EFFECTIVE, "baselines.lora.rank=4", "num_samples=3"])
    resolvers = create_resolvers_map()
    injected = inject_placeholders(copy.deepcopy(tune_param_space(space)), resolvers)
    drawn = []
    for _, variant in generate_variants({"config": injected}):
        resolve_placeholders(variant["config"], resolvers)
        drawn.append(flat_trial_config(variant["config"]))
    assert sorted(c["method"] for c in drawn) == ["lora", "ttlora", "ttlora", "ttlora"]
    for config in drawn:
        expected = config["effective_lr"] / config["alpha"] if config["method"] == "ttlora" else 5e-4
        assert config["learning_rate"] == pytest.approx(expected)


def test_effective_lr_derives_the_learning_rate_in_optuna_define_by_run() -> None:
    import optuna

    from search.strategies.factory import optuna_space

    space = load_space(QUICKSTART, EFFECTIVE)
    structures = [{"shape": [8, 6, 8, 8, 6, 8], "cores": 4, "rank": 4}, {"shape": "auto", "cores": 4, "rank": 8}]
    define = optuna_space(space, structures)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(4):
        trial = study.ask()
        constants = define(trial)  # Ray's OptunaSearch: the config is {**suggested values, **constants}
        config = flat_trial_config({**trial.params, **constants})  # as every reader sees it
        alpha = trial.params.get("alpha", config.get("alpha"))
        assert config["learning_rate"] == pytest.approx(trial.params["effective_lr"] / alpha)


def test_effective_lr_round_trips_and_refuses_a_learning_rate_beside_it() -> None:
    from search.space.schema import dump_space_yaml, parse_space, parse_yaml_text

    space = load_space(QUICKSTART, EFFECTIVE)
    again = parse_space(parse_yaml_text(dump_space_yaml(space)), "resolved")  # the experiment's space.yaml
    assert again.search.effective_lr == space.search.effective_lr and again.search.learning_rate.values == (None,)
    with pytest.raises(UsageError, match="learning_rate is derived as effective_lr / alpha"):
        load_space(QUICKSTART, ["search.effective_lr=0.05"])  # quickstart searches learning_rate
    with pytest.raises(UsageError, match="learning_rate is derived"):
        load_space(QUICKSTART, ["search.learning_rate=null", "train.learning_rate=1.0e-3", "train.effective_lr=0.05"])
    fixed = load_space(QUICKSTART, ["search.learning_rate=null", "train.effective_lr=0.04"])
    assert tune_param_space(fixed)["effective_lr"] == 0.04  # a fixed product, alpha still searched
