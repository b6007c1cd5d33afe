"""``ttsearch plan`` for several methods: trials per method and each baseline configuration's counts.

A baseline's counts are PEFT's own (or BitFit's / full fine-tuning's ``requires_grad`` rule) on the
model built on the meta device, so they are exact before training and equal what the trial reports
(search/trial/baselines.py counts both). Every way a baseline cannot fit the model is a UsageError naming
the space field: targets PEFT cannot find, a method that would train low-precision weights without
float32 masters, BitFit on a model without biases.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from search.space.schema import SearchSpace
from search.trial.baselines import BaselineConfig, apply_baseline, count_baseline
from search.trial.methods import training_method
from search.trial.model_source import build_meta_model
from vocab.errors import UsageError
from vocab.methods import METHODS, TTLORA


@dataclass
class BaselineRow:
    """One structural configuration of a baseline (e.g. LoRA rank 8)."""

    values: dict[str, Any]
    adapter_params: int
    head_params: int
    compression_vs_full: float  # full fine-tuning of the targets / adapter params (inf when 0)


@dataclass
class MethodPlan:
    method: str
    label: str
    trials: int  # num_samples x the method's own grid
    rows: list[BaselineRow] = field(default_factory=list)  # baselines only (TT-LoRA: Plan.rows)


def trials_per_method(space: SearchSpace) -> dict[str, int]:
    """Trials each method gets: Tune's own expansion (grids) of each of its branches."""
    from ray.tune.search.variant_generator import generate_variants

    from search.space.tune_param_space import method_branches

    return {name: sum(1 for branch in method_branches(space, name, nested=False)
                      for _ in generate_variants({"config": branch}))
            for name in space.methods()}


def _structural_values(space: SearchSpace, method: str) -> list[dict[str, Any]]:
    specs = space.baseline_params(method)
    rows = METHODS[method].structural
    return [dict(zip((p.name for p in rows), combo))
            for combo in itertools.product(*(specs[p.name].discrete_values() for p in rows))]


def _targets_field(space: SearchSpace, method: str) -> str:
    own = getattr(getattr(space.baselines, method), "targets", None)
    return f"baselines.{method}.targets" if own is not None else "ttlora.targets (the baselines' default)"


def plan_baseline(space: SearchSpace, method: str, model_config: Any, num_labels: int, full_params: int,
                  space_file: str) -> list[BaselineRow]:
    """Counts of every structural configuration of one baseline, on meta-device models."""
    spec = METHODS[method]
    if training_method(method).trains_base_weights and space.model.dtype != "float32":
        raise UsageError(f"{spec.label} trains the model's own {space.model.dtype} weights, which have no float32 "
                         "master copy here", where=f"{space_file}: baselines.{method}",
                         expected="model.dtype: float32 for bitfit / full, or a PEFT baseline")
    rows = []
    for values in _structural_values(space, method):
        config = BaselineConfig(method, {**{p.name: space.baseline_params(method)[p.name].discrete_values()[0]
                                            for p in spec.params if p.feeds == "method"}, **values},
                                targets=space.baseline_targets(method) if spec.targets else None,
                                train_head=space.ttlora.train_head, modules_to_save=space.ttlora.modules_to_save)
        try:
            counts = count_baseline(apply_baseline(build_meta_model(model_config, num_labels), config), config)
        except ValueError as exc:  # PEFT: targets not found / not supported layer types
            raise UsageError(f"{spec.label} cannot adapt this model: {str(exc).splitlines()[0]}",
                             where=f"{space_file}: {_targets_field(space, method)}",
                             expected=f"module-name suffixes of layers {spec.label} supports, e.g. query, value") from None
        if counts["adapter"] == 0:
            raise UsageError(f"{spec.label} finds nothing to train in this model (no bias parameters)",
                             where=f"{space_file}: baselines.{method}", expected="a model whose layers have biases")
        adapter = counts["adapter"]
        rows.append(BaselineRow(values, adapter, counts["head"], full_params / adapter if adapter else float("inf")))
    return rows


def plan_methods(space: SearchSpace, model_config: Any, num_labels: int, full_params: int,
                 space_file: str) -> list[MethodPlan]:
    """One ``MethodPlan`` per method of the space (TT-LoRA's rows stay in ``Plan.rows``)."""
    trials = trials_per_method(space)
    plans = []
    for name in space.methods():
        rows = [] if name == TTLORA else plan_baseline(space, name, model_config, num_labels, full_params, space_file)
        plans.append(MethodPlan(name, METHODS[name].label, trials[name], rows))
    return plans


__all__ = ["BaselineRow", "MethodPlan", "plan_methods", "trials_per_method"]
