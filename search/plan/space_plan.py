"""``ttsearch plan``: validate a space against its model and count parameters, with no Ray, no weights.

The model is instantiated on the meta device from its config (a local folder, the hub, or a built-in
preset of the paper's four models), so shapes are checked against the real target matrices and TT
parameter counts come from ``ttlora_core``'s closed forms. The driver runs the same validation before
Ray starts, so every shape error is a usage error (exit 2) with the field path that caused it.
"""
from __future__ import annotations

import itertools
import math
from typing import Any

from search.plan.method_plans import plan_methods
from search.plan.plan_types import HyperBandBracket, Plan, PlanRow
from search.plan.strategy_checks import apply_strategy_checks
from search.space.schema import SearchSpace
from search.space.strategy_sections import ASHA_SCHEDULERS
from search.space.shape_core_pairs import count_configurations, shape_core_pairs, uses_auto
from search.tasks import get_task
from search.trial.config import ttlora_config_for
from search.trial.model_source import build_meta_model, load_model_config, model_family
from search.trial.training import precision_text
from ttlora_core.config import TTLoRAConfig
from ttlora_core.tt_arithmetic import ShapeError
from vocab.errors import UsageError
from vocab.searched_params import CORES, RANK, SEARCHED_PARAMS, SHAPE


def hyperband_brackets(max_t: int, reduction_factor: float) -> list[HyperBandBracket]:
    """The brackets of one HyperBand band, in the order Ray's ``HyperBandScheduler`` fills them with
    trials (same formulas as ray.tune.schedulers.hyperband): s=0 first (few trials, full budget), then
    ever more aggressive brackets; further trials start a new band."""
    eta = reduction_factor
    s_max_1 = int(round(math.log(max_t) / math.log(eta))) + 1
    brackets = []
    for s in range(s_max_1):
        r0 = int(max_t * eta ** (-s))
        if r0 == 0:
            continue
        brackets.append(HyperBandBracket(s, int(math.ceil(s_max_1 / (s + 1) * eta**s)), r0))
    return brackets


def asha_rungs(max_t: int, grace_period: int, reduction_factor: float) -> list[int]:
    """The epochs at which an ASHA scheduler can cut a trial: grace_period x eta^k below max_t (Ray's
    ``_Bracket`` rungs, s=0; a rung at max_t itself cuts nothing, the trial ends there anyway)."""
    epochs, milestone = set(), float(grace_period)
    while milestone < max_t:
        epochs.add(math.ceil(milestone))  # the first epoch that reaches the milestone
        milestone *= reduction_factor
    return sorted(e for e in epochs if e < max_t)  # one decision an epoch; at max_t the trial ends anyway


def _structural_choices(space: SearchSpace) -> list[tuple[int, dict[str, Any]]]:
    """(shape index, structural values) for every distinct combination of the table's structural rows
    (``cores`` only where a shape is ``auto``: search/space/shape_core_pairs.py)."""
    specs = space.searched_params()
    shapes = specs[SHAPE.name].discrete_values()
    others = [p.name for p in SEARCHED_PARAMS if p.structural and p not in (SHAPE, CORES)]
    combos = []
    for shape, cores in shape_core_pairs(space):
        for values in itertools.product(*(specs[name].discrete_values() for name in others)):
            combo = {SHAPE.name: shape, **dict(zip(others, values))}
            if uses_auto(shape):
                combo[CORES.name] = cores
            combos.append((shapes.index(shape), combo))
    return combos


_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def estimate_memory(plan: Plan, space: SearchSpace, config: Any, meta_model: Any, gpu: str | None) -> None:
    """Fill the plan's per-trial memory estimate, and warn when the space's GPU fraction of ``gpu``
    (e.g. "H100-80GB", "H200-141GB") cannot hold it."""
    from cluster.memory import check_gpu_fraction, estimate_trial_memory, layer_style_for_family

    # the largest trained set of any method (full fine-tuning: every weight gets gradients and AdamW state)
    largest_tt = max([row.tt_params for row in plan.rows]
                     + [row.adapter_params + row.head_params for method in plan.methods for row in method.rows], default=0)
    estimate = estimate_trial_memory(
        sum(p.numel() for p in meta_model.parameters()), _DTYPE_BYTES[space.model.dtype], largest_tt,
        space.train.batch_size, space.train.max_length, config.hidden_size, config.num_hidden_layers,
        intermediate=getattr(config, "intermediate_size", None), heads=getattr(config, "num_attention_heads", None),
        vocab_size=getattr(config, "vocab_size", 0), layer_style=layer_style_for_family(plan.model_family),
    )
    plan.memory_per_trial, plan.memory_bytes = estimate.describe(), estimate.total_bytes
    if gpu and space.resources.gpu > 0:
        plan.memory_warning = check_gpu_fraction(estimate, space.resources.gpu, gpu)


def build_plan(space: SearchSpace, space_file: str = "<space>", gpu: str | None = None,
               model_config: Any = None) -> Plan:
    """Validate every structural configuration against the model; raise UsageError on the first bad one."""
    from ttlora_core.model_plan import plan_counts
    from ttlora_core.targets import find_target_modules

    task = get_task(space.task)
    config = model_config if model_config is not None else load_model_config(space.model.name_or_path)
    meta_model = build_meta_model(config, task.num_labels)
    base_cfg = TTLoRAConfig(targets=space.ttlora.targets, train_head=space.ttlora.train_head,
                            modules_to_save=space.ttlora.modules_to_save)
    try:
        dims = find_target_modules(meta_model, base_cfg)
    except ValueError as exc:
        if "modules_to_save" in str(exc):
            raise UsageError(str(exc), where=f"{space_file}: ttlora.modules_to_save",
                             expected="names of modules of the model (from its root), e.g. pooler") from None
        raise UsageError(str(exc), where=f"{space_file}: ttlora.targets",
                         expected="module-name suffixes or a regex matching Linear layers of the model") from None
    target_dims = {name: [int(o), int(i)] for name, (o, i) in dims.items()}
    plan = Plan(space.name, space.model.name_or_path, model_family(config, space.model.family), task.name,
                task.score_name, target_dims, count_configurations(space), space.num_samples, space.scheduler.type)
    plan.data_roles = data_roles(space)
    plan.precision = precision_text(space.train.precision, space.model.dtype)
    if space.scheduler.type == "hyperband":
        plan.brackets = hyperband_brackets(space.max_t, space.scheduler.reduction_factor)
    if space.scheduler.type in ASHA_SCHEDULERS:
        plan.asha_rungs = asha_rungs(space.max_t, space.scheduler.grace_period, space.scheduler.reduction_factor)
    multi = space.search.shape.kind != "fixed"
    plan.methods = plan_methods(space, config, task.num_labels, plan.full_params, space_file)
    if not space.ttlora.enabled and "search" in space.model_fields_set:
        plan.notes.append("Note: ttlora.enabled is false, so the search: section is not used (baselines only).")
    for index, values in _structural_choices(space) if space.ttlora.enabled else ():
        cfg = ttlora_config_for(space, values)
        try:
            counts = plan_counts(meta_model, cfg, dtype_bytes=2)
        except ShapeError as exc:  # targets and modules_to_save were checked above
            field_path = f"search.shape[{index}]" if multi else "search.shape"
            raise UsageError(str(exc), where=f"{space_file}: {field_path}",
                             expected="a shape whose product equals out*in of every target") from None
        tt = counts.total_params
        plan.rows.append(PlanRow(
            shape=values[SHAPE.name], cores=values.get(CORES.name), rank=values[RANK.name], tt_params=tt,
            per_target_shapes=_unique_shapes(counts), compression_vs_full=plan.full_params / tt,
            compression_vs_lora8=plan.lora8_params / tt, storage_bytes_16bit=counts.storage_bytes,
            structure=values,
        ))
    apply_strategy_checks(plan, space, space_file)
    estimate_memory(plan, space, config, meta_model, gpu)
    return plan


def data_roles(space: SearchSpace) -> dict[str, str]:
    """What each split is for, named as the report names it: validation decides, test only reports."""
    data = space.data

    def limited(text: str, limit: int | None) -> str:
        return f"{text} (at most {limit:,} rows)" if limit else text

    val = f"{data.val_from_train:.0%} of {data.train_split}, stratified" if data.val_from_train else data.val_split
    train = f"{data.train_split} without the validation rows" if data.val_from_train else data.train_split
    return {
        "train": limited(train, data.limit_train),
        "validation (used for selection)": limited(val, data.limit_val),
        "test (held out, never used to choose)": limited(data.test_split, data.limit_test) if data.test_split else "none",
    }


def _unique_shapes(counts: Any) -> dict[str, list[int]]:
    """Module-name suffix -> resolved shape (targets of one kind share a shape)."""
    shapes: dict[str, list[int]] = {}
    for name, entry in counts.per_matrix.items():
        shapes.setdefault(name.rsplit(".", 1)[-1], list(entry[0]))
    return shapes
