"""The Tuner's ``param_space`` of a space: each row's Tune domain (``ParamSpec.to_tune``, an explicit
table: no ``getattr(tune, kind)``), the methods' branches and the joint (shape, cores) draw."""
from __future__ import annotations

import itertools
import zlib
from typing import Any

import numpy as np
from ray import tune
from ray.tune.search.sample import Domain, Function

from search.space.method_samples import method_samples, spread_order
from search.space.schema import SearchSpace
from search.space.shape_core_pairs import cores_apply, cores_searched_apart, shape_core_pairs, uses_auto
from vocab.methods import METHOD_KEY, METHOD_NAME_KEY, TTLORA
from vocab.searched_params import CORES, SHAPE

# Tune key of the joint (shape, cores) candidates when both must be drawn together (search/space/shape_core_pairs.py).
SHAPE_AND_CORES_KEY = "_shape_and_cores"


def tune_param_space(space: SearchSpace, seed: int | None = None) -> dict[str, Any]:
    """The Tuner's ``param_space``. TT-LoRA alone: its rows at the top level plus ``method``. Otherwise: ``method`` is a grid over branches ``{"name": ..., <its rows>}``, one per draw of each
    method (search/space/method_samples.py; TT-LoRA's ``num_samples`` draws are branches too), spread evenly,
    with ``num_samples`` 1; each branch's grids are expanded and its sampled rows drawn here
    (``drawn_grid_points``, with ``seed``, default ``train.seed``); ``sample_from`` rows are left to Tune.
    ``vocab.methods.flat_trial_config`` reads both forms."""
    methods = space.methods()
    if methods == [TTLORA]:
        return {**ttlora_param_space(space, nested=False), METHOD_KEY: TTLORA}
    seed = space.train.seed if seed is None else seed
    branches = {name: method_branches(space, name, nested=True) for name in methods}
    ordered = spread_order({name: len(found) for name, found in branches.items()})
    return {METHOD_KEY: tune.grid_search([{METHOD_NAME_KEY: name, **point} for name, i in ordered
                                          for point in drawn_grid_points(branches[name][i], seed, name, i)])}


def drawn_grid_points(branch: dict[str, Any], seed: int, method: str, draw: int) -> list[dict[str, Any]]:
    """``branch`` once per point of its own grids (as Tune would expand it), each sampled row (a Tune
    ``Domain``; not ``sample_from``, which Tune resolves from the rest) drawn by a generator of its own,
    keyed by (seed, method, draw index, row name, grid point): ``row_generator``.

    Why not Tune's one seeded generator for the whole grid: it serves the branches in trial order, so
    adding a trial to one method shifted every other method's draws, and two searches differing in one
    method's trial count or one row's range could not be compared method by method. Keyed, a method's
    first n draws stay when it gets more, and a row keeps its draw (a log-uniform one its quantile) when
    another row's range changes or a grid gains a value."""
    grids = {key: value["grid_search"] for key, value in branch.items() if is_grid(value)}
    points = []
    for combo in itertools.product(*grids.values()):  # no grid: one empty point
        point = dict(zip(grids, combo))
        where = repr(sorted(point.items()))  # e.g. "[('rank', 8)]"
        drawn = {key: value.sample(random_state=row_generator(seed, method, draw, f"{key}@{where}"))
                 for key, value in branch.items() if is_sampled(value)}
        points.append({**branch, **point, **drawn})
    return points


def is_grid(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"grid_search"}


def is_sampled(value: Any) -> bool:
    """A Tune domain drawn at random (``sample_from`` is a ``Function`` domain computed from the rest)."""
    return isinstance(value, Domain) and not isinstance(value, Function)


def row_generator(seed: int, method: str, draw: int, row: str) -> np.random.RandomState:
    """The generator of one row of one draw: numpy's ``SeedSequence`` over (seed, method, draw, row),
    names as CRC-32 (stable across processes, unlike ``hash``)."""
    key = [seed % (1 << 64), zlib.crc32(method.encode()), draw, zlib.crc32(row.encode())]
    return np.random.RandomState(np.random.SeedSequence(key).generate_state(1)[0])


def _resolved(branch: Any) -> dict[str, Any]:
    """Kept for the param spaces pickled by searches started before ``effective_lr``'s rate moved to
    ``vocab.methods.flat_trial_config``: their derived-rate ``sample_from`` calls it when resumed."""
    return {"effective_lr": branch.effective_lr, "alpha": branch.alpha}


def tune_num_samples(space: SearchSpace) -> int:
    """The Tuner's ``num_samples``: TT-LoRA's draws in a TT-LoRA-only space, else 1 (the branches of
    ``tune_param_space`` are the draws)."""
    return space.num_samples if space.methods() == [TTLORA] else 1


def method_branches(space: SearchSpace, method: str, nested: bool) -> list[dict[str, Any]]:
    """One method's rows as Tune domains, one dict per draw (``nested``: under ``config["method"]``)."""
    if method == TTLORA:
        return [ttlora_param_space(space, nested)] * space.num_samples
    samples = method_samples(space, method)
    if samples.configurations:  # each configuration once: fixed values per branch
        return [dict(values) for values in samples.configurations]
    branch = {key: spec.to_tune() for key, spec in space.baseline_params(method).items()}
    return [branch] * samples.draws


def ttlora_param_space(space: SearchSpace, nested: bool = False) -> dict[str, Any]:
    """TT-LoRA's ``param_space``: every row of ``vocab.searched_params`` (fixed ones as constants).

    ``cores`` is drawn with ``shape`` so no explicit shape is trained twice: fixed to its first value
    when no shape is ``auto``; drawn jointly (one candidate per distinct pair, ``shape`` and ``cores``
    then read from it) when explicit and ``auto`` shapes are mixed with several core counts."""
    specs = space.searched_params()
    param_space = {key: spec.to_tune() for key, spec in specs.items()}
    branch = (lambda spec: spec.config[METHOD_KEY]) if nested else (lambda spec: spec.config)
    if not cores_apply(space):
        param_space[CORES.name] = specs[CORES.name].discrete_values()[0]
    elif not cores_searched_apart(space):
        pairs = [list(pair) for pair in shape_core_pairs(space)]
        if "grid" in (specs[SHAPE.name].kind, specs[CORES.name].kind):
            param_space[SHAPE_AND_CORES_KEY] = tune.grid_search(pairs)  # each distinct pair once
        else:  # an explicit shape weighted by the core count, so every shape keeps its chance
            weights = len(specs[CORES.name].discrete_values())
            param_space[SHAPE_AND_CORES_KEY] = tune.choice(
                [pair for pair in pairs for _ in range(1 if uses_auto(pair[0]) else weights)])
        param_space[SHAPE.name] = tune.sample_from(lambda spec: branch(spec)[SHAPE_AND_CORES_KEY][0])
        param_space[CORES.name] = tune.sample_from(lambda spec: branch(spec)[SHAPE_AND_CORES_KEY][1])
    return param_space
