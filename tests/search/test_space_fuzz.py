"""Property: any mutation of a valid space either validates or is a ``UsageError``, never another
exception (hypothesis, in-process, on the shipped quickstart and a paper space)."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search.space.schema import SearchSpace, parse_space
from search.space.yaml_files import load_raw_with_extends
from vocab.errors import UsageError

SPACES = Path(__file__).resolve().parents[2] / "spaces"
BASES = {name: load_raw_with_extends(SPACES / name) for name in ("quickstart.yaml", "llama2_boolq.yaml")}

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["auto", "1e-3", ".nan", "..", ".", "random", "hyperband", "loguniform", "grid"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=4),
    st.dictionaries(st.sampled_from(["choice", "grid", "loguniform", "uniform", "randint"]), inner, max_size=2),
), max_leaves=20)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into the nested mappings (and list positions) of a raw space."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def _mutate(raw: dict, path: tuple, action: str, value: Any, new_key: str) -> dict:
    mutated = copy.deepcopy(raw)
    parent = mutated
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "replace":
        parent[last] = value
    elif action == "delete" and isinstance(parent, dict):
        del parent[last]
    elif action == "add_key" and isinstance(parent, dict):
        parent[new_key] = value
    elif action == "nest":
        deep: Any = value
        for _ in range(40):
            deep = [deep] if isinstance(last, int) else {"x": deep}
        parent[last] = deep
    return mutated


@settings(max_examples=1200, deadline=None, derandomize=True,  # the same cases on every run: CI cannot turn red by chance
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_a_mutated_space_is_valid_or_a_usage_error(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(BASES)))
    raw = BASES[name]
    path = data.draw(st.sampled_from(_paths(raw)))
    action = data.draw(st.sampled_from(["replace", "replace", "delete", "add_key", "nest"]))
    value = data.draw(VALUES)
    new_key = data.draw(st.text(min_size=1, max_size=12))
    mutated = _mutate(raw, path, action, value, new_key)
    try:
        space = parse_space(mutated, source=name)
    except UsageError as exc:
        assert len(str(exc).encode()) < 20_000  # a message, not a dump of the value
        return
    assert isinstance(space, SearchSpace)
    parse_space(space.to_plain(), source=name)  # what validates also dumps and reads back


def test_the_bases_are_valid() -> None:
    for name, raw in BASES.items():
        assert isinstance(parse_space(copy.deepcopy(raw), source=name), SearchSpace)
    with pytest.raises(UsageError):
        parse_space({"name": "x"}, source="x.yaml")
