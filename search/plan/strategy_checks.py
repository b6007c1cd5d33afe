"""The strategy half of the plan: ``search.max_params``, the parameter bands, the searcher's limits.

Every check here is a usage error before Ray starts, naming the field: a cap below every configuration,
bands that leave a configuration outside, a model-based searcher on a space it cannot take.
"""
from __future__ import annotations

from search.plan.plan_types import Plan
from search.space.schema import SearchSpace
from search.space.strategy_sections import ASHA_SCHEDULERS
from search.strategies.bands import band_index, log_spaced_bands
from search.tasks import get_task
from vocab.errors import UsageError
from vocab.methods import TTLORA


def configuration_sizes(plan: Plan) -> list[float]:
    """Adapter parameters of every configuration the search can sample: TT-LoRA's within the cap and
    every baseline configuration (baselines are references and are not capped)."""
    sizes = [float(row.tt_params) for row in plan.sampled_rows]
    sizes += [float(row.adapter_params) for method in plan.methods for row in method.rows]
    return sizes


def _check_max_params(plan: Plan, space: SearchSpace, space_file: str) -> None:
    cap = space.search.max_params
    if cap is None or not plan.rows:
        return
    for row in plan.rows:
        row.over_max_params = row.tt_params > cap
    if not plan.sampled_rows:
        smallest = min(row.tt_params for row in plan.rows)
        raise UsageError(f"search.max_params={cap:,.0f} is below every TT-LoRA configuration of this space "
                         f"(the smallest has {smallest:,} adapter parameters)", where=f"{space_file}: search.max_params",
                         expected=f"at least {smallest:,}, or smaller shapes/ranks in search:")
    left = len(plan.sampled_rows)
    plan.notes.append(f"search.max_params={cap:,.0f}: {left} of {len(plan.rows)} TT-LoRA configurations are sampled, "
                      f"{len(plan.rows) - left} never.")


def _check_bands(plan: Plan, space: SearchSpace, space_file: str) -> None:
    sched = space.scheduler
    if sched.type != "banded":
        if sched.bands is not None:
            plan.notes.append(f"Note: scheduler.bands is used by the banded scheduler only (this space: {sched.type}).")
        return
    sizes = configuration_sizes(plan)
    if not sizes:
        return
    edges = list(sched.bands) if sched.bands is not None else log_spaced_bands(sizes, sched.num_bands)
    outside = sorted({s for s in sizes if band_index(edges, s) is None})
    if outside:
        shown = ", ".join(f"{s:,.0f}" for s in outside[:5]) + (" ..." if len(outside) > 5 else "")
        raise UsageError(f"scheduler.bands {edges} leave configurations outside every band: {shown} adapter parameters",
                         where=f"{space_file}: scheduler.bands",
                         expected=f"edges from at most {min(sizes):,.0f} to at least {max(sizes):,.0f}, or no bands "
                                  "(log-spaced over the space's sizes)")
    plan.param_bands = edges
    per_band = [sum(1 for s in sizes if band_index(edges, s) == i) for i in range(len(edges) - 1)]
    plan.notes.append("Bands (adapter params): " + "; ".join(
        f"[{edges[i]:,.0f}, {edges[i + 1]:,.0f}{']' if i == len(edges) - 2 else ')'}: {n} configurations"
        for i, n in enumerate(per_band)))


def _check_searcher(plan: Plan, space: SearchSpace, space_file: str) -> None:
    algorithm = space.search.algorithm
    plan.search_algorithm = algorithm
    if algorithm == "random":
        return
    if space.methods() != [TTLORA]:
        raise UsageError(f"search.algorithm={algorithm} searches TT-LoRA's own space; this space also has baselines "
                         f"({', '.join(m for m in space.methods() if m != TTLORA)})", where=f"{space_file}: search.algorithm",
                         expected="random with baselines, or a TT-LoRA-only space (--set baselines.<name>.enabled=false)")
    grids = [name for name, spec in space.searched_params().items() if spec.kind == "grid"]
    if grids:
        raise UsageError(f"search.algorithm={algorithm} proposes each value itself; grid values cannot be its input: "
                         f"{', '.join('search.' + g for g in grids)}", where=f"{space_file}: search.algorithm",
                         expected="lists (choices) instead of {grid: [...]}, or search.algorithm=random")


def _check_hyperband_concurrency(plan: Plan, space: SearchSpace) -> None:
    """Tune's concurrency limit counts paused trials: below a bracket's size, HyperBand's brackets never
    fill, each paused trial is resumed at once, and nothing is cut (measured in replays)."""
    limit = space.resources.max_concurrent_trials
    largest = max((b.trials for b in plan.brackets), default=0)
    if space.scheduler.type == "hyperband" and space.search.algorithm != "random":
        plan.notes.append(
            f"WARNING: HyperBand with search.algorithm={space.search.algorithm}: Tune asks a model-based searcher for one "
            "trial at a time, and in a measured quickstart run (6 trials, max_t 3) HyperBand then cut nothing. "
            "Use scheduler.type=mo_asha (or asha/banded) with it, or search.algorithm=random with HyperBand.")
    if space.scheduler.type == "hyperband" and limit is not None and limit < largest:
        plan.notes.append(
            f"WARNING: resources.max_concurrent_trials={limit} is below HyperBand's largest bracket ({largest} trials): "
            "Tune counts paused trials against the limit, so that bracket never fills and HyperBand cuts nothing. "
            "Leave it unset (resources.cpu/gpu then bound what runs at once) or use scheduler.type=asha/banded.")


def _check_grace_until_signal(plan: Plan, space: SearchSpace, space_file: str) -> None:
    sched = space.scheduler
    if not sched.grace_until_signal:
        return
    if sched.type not in ASHA_SCHEDULERS:
        raise UsageError(f"scheduler.grace_until_signal holds the first rung of an ASHA scheduler; {sched.type} has none",
                         where=f"{space_file}: scheduler.grace_until_signal",
                         expected=f"scheduler.type one of {', '.join(ASHA_SCHEDULERS)}, or grace_until_signal: false")
    if get_task(space.task).is_regression:
        plan.notes.append(f"Note: scheduler.grace_until_signal waits for predictions of more than one class; {space.task} "
                          f"is a regression task, so the first rung stays at grace_period={sched.grace_period}.")
    else:
        plan.notes.append("Note: scheduler.grace_until_signal: the rungs shown are the earliest; the first moves to the "
                          "epoch where some trial's predictions first take more than one class, the rest after it.")


def _check_confirm(plan: Plan, space: SearchSpace) -> None:
    """A note, not an error: resolved spaces of earlier versions may hold such a pair."""
    if space.confirm.top != 1 and space.confirm.finalists != "top":
        plan.notes.append(f"Note: confirm.top is used with confirm.finalists: top only (this space: "
                          f"{space.confirm.finalists}, so {space.confirm.top} is not used).")


def apply_strategy_checks(plan: Plan, space: SearchSpace, space_file: str) -> None:
    _check_confirm(plan, space)
    _check_grace_until_signal(plan, space, space_file)
    _check_hyperband_concurrency(plan, space)
    _check_max_params(plan, space, space_file)
    _check_bands(plan, space, space_file)
    _check_searcher(plan, space, space_file)


__all__ = ["apply_strategy_checks", "configuration_sizes"]
