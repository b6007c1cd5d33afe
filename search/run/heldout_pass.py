"""The held-out split scored once per trial that matters, after the search.

A trial that ends by itself (early stop, ``max_epochs``, a non-finite loss or out of memory with a
best epoch) scores the held-out split on its best adapter in its final report (search/trial/trainable.py).
A trial a scheduler stopped never gets there. Scoring the held-out split at every new best epoch, as
before, cost as much as validation itself, and most of those scores were never looked at: only the
trials on the front and each method's selected trial appear in a report or an export.

So after ``Tuner.fit`` returns, this pass finds the trials that lack a held-out score and are on the
front (over all methods, and each method's own) or selected for their method (the search metric's best),
and scores each one's best adapter in a Ray task with the trials' own resources (the same cluster,
CPUs and GPU share), at most ``max_concurrent_trials`` at a time. Each score is written to the trial's
folder (``vocab.experiment_folder.HELDOUT_TEST_FILE``) as soon as it is known; a trial that has one is
skipped, so a pass interrupted by a kill continues on ``ttsearch resume``.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from vocab.experiment_folder import (
    BEST_ADAPTER_DIR,
    HELDOUT_TEST_FILE,
    TRIAL_STATE_FILE,
    HeldoutScore,
    MetricKey,
)
from vocab.methods import TTLORA

_MODEL_CACHE: Any = None  # search.trial.model_cache.BaseModelCache of this worker process (made on first use)


@dataclass
class TrialOutcome:
    """What the selection needs of one trial's last report."""

    key: str  # the trial's id (or any unique key)
    method: str
    adapter_params: float
    best_score: float
    best_val_loss: float
    has_test: bool  # a held-out score exists (in its report or its folder)
    usable: bool  # not errored, and it has a best adapter


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def front_keys(outcomes: list[TrialOutcome]) -> set[str]:
    """Trials on the (fewer adapter params, higher val score) front; ties are all kept (the rule of
    analysis/pareto.py)."""
    eligible = [o for o in outcomes if o.usable and _finite(o.adapter_params) and o.adapter_params > 0
                and _finite(o.best_score)]
    keys: set[str] = set()
    best_cheaper = -math.inf
    for cost in sorted({o.adapter_params for o in eligible}):
        group = [o for o in eligible if o.adapter_params == cost]
        group_best = max(o.best_score for o in group)
        if group_best > best_cheaper:
            keys.update(o.key for o in group if o.best_score == group_best)
        best_cheaper = max(best_cheaper, group_best)
    return keys


def selected_keys(outcomes: list[TrialOutcome], metric: str) -> set[str]:
    """Each method's selected trial: lowest best val loss (``metric`` val_loss) or highest val score."""
    keys: set[str] = set()
    for method in {o.method for o in outcomes}:
        if metric == MetricKey.VAL_LOSS.value:
            ranked = [(o.best_val_loss, o.key) for o in outcomes if o.method == method and o.usable
                      and _finite(o.best_val_loss)]
        else:
            ranked = [(-o.best_score, o.key) for o in outcomes if o.method == method and o.usable
                      and _finite(o.best_score)]
        if ranked:
            keys.add(min(ranked)[1])
    return keys


def trials_to_score(outcomes: list[TrialOutcome], metric: str) -> list[str]:
    """Keys of the trials that matter (front over all methods, each method's front, each method's
    selected trial) and have no held-out score yet, in the order given."""
    wanted = front_keys(outcomes) | selected_keys(outcomes, metric)
    for method in {o.method for o in outcomes}:
        wanted |= front_keys([o for o in outcomes if o.method == method])
    return [o.key for o in outcomes if o.key in wanted and o.usable and not o.has_test]


def _outcome(result: Any, has_file: bool) -> TrialOutcome:
    m = result.metrics or {}
    return TrialOutcome(
        key=str(m.get("trial_id", result.path)), method=str(m.get(MetricKey.METHOD.value, TTLORA)),
        adapter_params=m.get(MetricKey.ADAPTER_PARAMS.value, math.nan),
        best_score=m.get(MetricKey.BEST_SCORE.value, math.nan),
        best_val_loss=m.get(MetricKey.BEST_VAL_LOSS.value, math.nan),
        has_test=has_file or _finite(m.get(MetricKey.BEST_TEST_SCORE.value)),
        usable=result.error is None and result.checkpoint is not None and bool(m.get(MetricKey.BEST_EPOCH.value)),
    )


def _read_heldout(result: Any) -> HeldoutScore | None:
    """The trial folder's held-out score file, if the pass wrote one (any storage filesystem)."""
    import pyarrow.fs

    path = f"{result.path}/{HELDOUT_TEST_FILE}"
    if result.filesystem.get_file_info(path).type == pyarrow.fs.FileType.NotFound:
        return None
    with result.filesystem.open_input_stream(path) as stream:
        try:
            return HeldoutScore.from_json(stream.read().decode())
        except (ValueError, KeyError, TypeError):
            return None  # damaged (a kill while writing): scored again


def _write_heldout(result: Any, score: HeldoutScore) -> None:
    with result.filesystem.open_output_stream(f"{result.path}/{HELDOUT_TEST_FILE}") as stream:
        stream.write(score.to_json().encode())


def _apply(result: Any, score: HeldoutScore) -> None:
    """Put the score into the result's last metrics, so the run summary shows it like a trial's own."""
    result.metrics[MetricKey.BEST_TEST_SCORE.value] = score.best_test_score
    result.metrics[MetricKey.BEST_TEST_LOSS.value] = score.best_test_loss


def score_heldout(prepared: Any, result_grid: Any, echo: Callable[[str], None] = print) -> int:
    """Score the held-out split of every trial that matters and lacks a score (module docstring).
    Returns how many trials were scored now."""
    if "test" not in prepared.encoded.splits:
        return 0
    results = [r for r in result_grid]
    outcomes = []
    for result in results:
        saved = _read_heldout(result) if result.metrics else None
        if saved is not None:
            _apply(result, saved)
        outcomes.append(_outcome(result, saved is not None))
    pending = trials_to_score(outcomes, prepared.space.scheduler.metric)
    if not pending:
        return 0
    by_key = {o.key: r for o, r in zip(outcomes, results)}
    echo(f"Held-out split: scoring the best adapter of {len(pending)} trial(s) that ended before scoring it "
         "(stopped by a scheduler, or by a failed checkpoint write), on a front or selected; other such trials "
         "stay unscored")
    for key, score in _run_scoring(prepared, [by_key[k] for k in pending]):
        _write_heldout(by_key[key], score)
        _apply(by_key[key], score)
    return len(pending)


def _run_scoring(prepared: Any, results: list[Any]):
    """Yield (trial key, HeldoutScore) as the Ray tasks finish, at most max_concurrent_trials at a time."""
    import ray

    from search.trial.trainable import SharedTrialInputs

    space = prepared.space
    shared = ray.put(SharedTrialInputs(space=space, model_path=prepared.model_path, encoded=prepared.encoded,
                                       pad_token_id=prepared.pad_token_id))
    task = ray.remote(num_cpus=space.resources.cpu, num_gpus=space.resources.gpu)(score_best_adapter)
    limit = space.resources.max_concurrent_trials or len(results)
    queue, running = list(results), {}
    while queue or running:
        while queue and len(running) < limit:
            result = queue.pop(0)
            running[task.remote(shared, result.config, result.checkpoint)] = result
        done, _ = ray.wait(list(running), num_returns=1)
        result = running.pop(done[0])
        yield str(result.metrics.get("trial_id", result.path)), ray.get(done[0])


def score_best_adapter(shared: Any, config: dict[str, Any], checkpoint: Any) -> HeldoutScore:
    """In a Ray task: build the trial's model its method's way, load the checkpoint's best adapter and
    score the held-out split (the trainable's recipe: ``search.trial.training.evaluate``)."""
    import torch

    from search.tasks import get_task
    from search.trial.config import train_settings_for
    from search.trial.model import build_trial_model
    from search.trial.model_cache import BaseModelCache, TrialModelSpec
    from search.trial.trainable import pick_device
    from search.trial.training import evaluate
    from vocab.methods import flat_trial_config

    global _MODEL_CACHE
    _MODEL_CACHE = _MODEL_CACHE or BaseModelCache()
    space = shared.space
    flat = flat_trial_config(config)
    train = train_settings_for(space, flat)
    torch.set_num_threads(train.torch_threads or max(1, int(space.resources.cpu)))
    device = pick_device(space)
    spec = TrialModelSpec(shared.model_path, get_task(space.task).num_labels, space.model.dtype, train.seed,
                          str(device), shared.pad_token_id)
    trial_model = build_trial_model(space, flat, spec, _MODEL_CACHE)
    with checkpoint.as_directory() as ckpt_dir:
        best_epoch = int(json.loads((Path(ckpt_dir) / TRIAL_STATE_FILE).read_text())["best_epoch"])
        trial_model.load(Path(ckpt_dir) / BEST_ADAPTER_DIR)
    test = evaluate(trial_model.model, shared.encoded["test"], train, device, space.task)
    return HeldoutScore(best_test_loss=test.loss, best_test_score=test.score, best_epoch=best_epoch,
                        test_seconds=test.seconds, scored_unix=time.time())


__all__ = ["TrialOutcome", "front_keys", "selected_keys", "trials_to_score", "score_heldout", "score_best_adapter"]
