"""Module names of the flat ``search/`` (before its rooms), for unpickling an older experiment folder.

``ttsearch resume`` of a folder written before the rooms unpickles Tune's ``tuner.pkl``, which names our
classes by their old modules (``search.banded.BandedASHAScheduler``, ``search.progress.ProgressTable``...).
``install_legacy_module_names`` makes each old name an alias of its new module; the four old modules
whose names are now rooms (``search.space``, ``search.strategies``, ``search.plan``, ``search.replay``)
are served by their room's ``__getattr__``, which forwards to the module that replaced them.
"""
from __future__ import annotations

import importlib
import sys

# old flat module -> the module that holds its code now (the four rooms above are not listed)
LEGACY_MODULES: dict[str, str] = {
    "search.space_yaml": "search.space.yaml_files", "search.space_errors": "search.space.errors",
    "search.strict_model": "search.space.strict_model", "search.strategy_sections": "search.space.strategy_sections",
    "search.param_spec": "search.space.param_spec", "search.structural": "search.space.shape_core_pairs",
    "search.method_samples": "search.space.method_samples", "search.tune_space": "search.space.tune_param_space",
    "search.plan_methods": "search.plan.method_plans", "search.plan_strategy": "search.plan.strategy_checks",
    "search.trainable": "search.trial.trainable", "search.training": "search.trial.training",
    "search.trial_model": "search.trial.model", "search.trial_config": "search.trial.config",
    "search.trial_state": "search.trial.state", "search.epoch_report": "search.trial.epoch_report",
    "search.fault_injection": "search.trial.fault_injection", "search.model_cache": "search.trial.model_cache",
    "search.model_source": "search.trial.model_source", "search.baselines": "search.trial.baselines",
    "search.export_artifacts": "search.trial.export_artifacts", "search.banded": "search.strategies.banded_asha",
    "search.mo_asha": "search.strategies.mo_asha", "search.scheduler_memory": "search.strategies.scheduler_memory",
    "search.replay_summary": "search.replay.summary", "search.driver": "search.run.driver",
    "search.heldout_pass": "search.run.heldout_pass", "search.progress": "search.run.progress",
    "search.experiment_lock": "search.run.experiment_lock",
}


def install_legacy_module_names() -> None:
    """Make every old module name importable (and so unpicklable) as an alias of its new module."""
    for old, new in LEGACY_MODULES.items():
        sys.modules.setdefault(old, importlib.import_module(new))


__all__ = ["LEGACY_MODULES", "install_legacy_module_names"]
