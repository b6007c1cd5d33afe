"""A folder written before search/'s rooms still unpickles: every old module name resolves to the class
that replaced it, including the four old modules whose names are rooms now."""
from __future__ import annotations

import pickle

import pytest

from search.run.legacy_modules import LEGACY_MODULES, install_legacy_module_names


@pytest.mark.parametrize(("old_module", "name", "new_module"), [
    ("search.banded", "BandedASHAScheduler", "search.strategies.banded_asha"),
    ("search.scheduler_memory", "RememberingScheduler", "search.strategies.scheduler_memory"),
    ("search.progress", "ProgressTable", "search.run.progress"),
    ("search.space", "SearchSpace", "search.space.schema"),
    ("search.strategies", "OptunaSpace", "search.strategies.factory"),
    ("search.plan", "Plan", "search.plan.plan_types"),
    ("search.replay", "RecordedChoiceSearcher", "search.replay.replay_search"),
])
def test_an_old_pickled_name_loads_the_new_class(old_module: str, name: str, new_module: str) -> None:
    import importlib

    install_legacy_module_names()
    old_pickle = f"c{old_module}\n{name}\n.".encode()  # protocol 0: a global by module and name
    assert pickle.loads(old_pickle) is getattr(importlib.import_module(new_module), name)


def test_every_old_name_has_a_module() -> None:
    import importlib

    for new in LEGACY_MODULES.values():
        importlib.import_module(new)
