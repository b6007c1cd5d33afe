"""TTLoRAConfig validation and its JSON round trip."""

from __future__ import annotations

import json

import pytest

from ttlora_core import TTLoRAConfig


def test_defaults_are_valid_and_round_trip_through_json() -> None:
    config = TTLoRAConfig()
    assert config.shape == "auto" and config.cores == 6 and config.rank == 5 and config.alpha == 8.0
    again = TTLoRAConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(targets=["query", "value"], shape=[8, 6, 8, 8, 6, 8], rank=[1, 4, 5, 6, 5, 4, 1], alpha=2),
        dict(targets="re:.*(q|v)_proj", shape={"q_proj": [16] * 6, "v_proj": "auto"}, cores=8, rank=[3, 3, 3, 3, 3]),
        dict(targets="c_attn", init="gaussian", seed=7, train_head=False),
    ],
)
def test_round_trip_of_non_default_configs(kwargs: dict) -> None:
    config = TTLoRAConfig(**kwargs)
    data = json.loads(json.dumps(config.to_dict(), sort_keys=True))
    assert TTLoRAConfig.from_dict(data) == config
    assert isinstance(config.alpha, float)


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        (dict(shape=[8]), "shape", "at least 2 cores"),
        (dict(shape=[8, 0, 4]), "shape", ">= 1"),
        (dict(shape="balanced"), "shape", "'balanced'"),
        (dict(shape={"q_proj": [4]}), "shape['q_proj']", "at least 2"),
        (dict(shape={}), "shape", "empty"),
        (dict(cores=1), "cores", ">= 2"),
        (dict(cores=True), "cores", "True"),
        (dict(rank=0), "rank", ">= 1"),
        (dict(rank=[1, 0, 1]), "rank", ">= 1"),
        (dict(alpha="big"), "alpha", "'big'"),
        (dict(alpha=float("nan")), "alpha", "nan"),
        (dict(init="xavier"), "init", "'xavier'"),
        (dict(seed=-1), "seed", "-1"),
        (dict(train_head="yes"), "train_head", "'yes'"),
        (dict(targets=[]), "targets", "[]"),
        (dict(targets=["query", ""]), "targets", "''"),
        (dict(targets="re:(unclosed"), "targets", "invalid regex"),
    ],
)
def test_bad_values_name_the_field_and_value(kwargs: dict, field: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        TTLoRAConfig(**kwargs)
    message = str(info.value)
    assert f"TTLoRAConfig.{field}" in message and fragment in message


def test_from_dict_rejects_unknown_fields_and_non_mappings() -> None:
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['ranks'\]"):
        TTLoRAConfig.from_dict({"ranks": 5})
    with pytest.raises(ValueError, match="expected a mapping"):
        TTLoRAConfig.from_dict([("rank", 5)])  # type: ignore[arg-type]
