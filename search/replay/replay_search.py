"""Replay: re-run scheduling and searching decisions on a recorded experiment, with no training.

The recording (``vocab.recording``, from a ``scheduler: none`` run) holds every trial's whole curve.
Each replay is a real Ray Tune run (``Tuner.fit``) with the real scheduler and searcher of
search/strategies/factory.py; only the trainable differs: it reports the recorded epochs of the configuration
it was given, one by one, and checkpoints its position so HyperBand can pause and resume it.

The searcher may only choose among the recorded configurations. Each proposes a point of the space
as it would live (``random``: Tune's seeded sampling, as the driver does it; Optuna: TPE) and is given
the nearest recorded configuration not yet tried (same structure, alpha and the like first, then the
closest learning rate on a log scale); Optuna learns from that configuration's recorded result. With
the recording's own seed, ``random`` proposes exactly the recorded configurations in recorded order.

Determinism: one trial runs at a time by default (``start_replay_ray``'s slots), so the order of
results, and with it every decision, depends only on the strategy and the seed.
"""
from __future__ import annotations

import math
import os
import pickle
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune import Callback
from ray.tune.search import Searcher

from search.space.param_spec import ParamSpec
from search.space.schema import SearchSpace, parse_space
from search.space.yaml_files import parse_yaml_text
from search.strategies.bands import log_spaced_bands
from search.strategies.factory import STRUCTURAL_NAMES, build_optuna, build_scheduler
from search.strategies.tuner import TunerSettings, build_tuner, fit_tuner, restore_tuner, trainable_with
from vocab.errors import UsageError
from vocab.experiment_folder import MetricKey
from vocab.front_volume import ReferencePoint, anytime_hypervolume, hypervolume, reference_point
from vocab.recording import Recording

RECORD_KEY = "record_index"  # config key: which recorded trial this replayed trial reports
SLOT_RESOURCE = "replay_slot"  # one per trial that may run at once (start_replay_ray)
POSITION_FILE = "position.txt"


@dataclass
class ReplayResult:
    """One replay: what it spent and found."""

    scheduler: str
    searcher: str
    seed: int
    trial_epochs: int  # epochs reported, all trials together
    selected_score: float  # validation score of the trial with the lowest val loss
    hypervolume: float  # of the (adapter params, validation score) front at the end
    curve: list[float] = field(default_factory=list)  # hypervolume after each trial-epoch
    epochs_by_record: dict[int, int] = field(default_factory=dict)  # recorded trial -> epochs it ran

    @property
    def strategy(self) -> str:
        return f"{self.searcher} + {self.scheduler}"


def recording_space(recording: Recording, overrides: dict[str, Any]) -> SearchSpace:
    """The recorded experiment's space with the replayed strategy set into it (``overrides``: dotted
    keys, e.g. ``scheduler.type``)."""
    raw = parse_yaml_text(recording.space_yaml) if recording.space_yaml else None
    if not isinstance(raw, dict):
        raise UsageError("the recording holds no space (the experiment's space.yaml), so its strategy cannot be rebuilt",
                         where=recording.source or "<recording>", expected="a recording made from a complete experiment folder")
    for dotted, value in overrides.items():
        section, _, key = dotted.rpartition(".")
        target = raw
        for part in filter(None, section.split(".")):
            target = target.setdefault(part, {})
        target[key] = value
    scheduler = raw.get("scheduler")
    if "scheduler.max_t" in overrides and "scheduler.grace_period" not in overrides and isinstance(scheduler, dict) \
            and isinstance(scheduler.get("grace_period"), int):  # a shorter replay moves the recorded rung down
        scheduler["grace_period"] = min(scheduler["grace_period"], overrides["scheduler.max_t"])
    return parse_space(raw, source=recording.source or "<recording>")


def full_hypervolume(recording: Recording) -> float:
    """The hypervolume of every recorded trial trained to its own stop: what the whole recording found."""
    return hypervolume(((t.adapter_params, t.curve[-1]["best_score"]) for t in recording.trials),
                       recording_reference(recording))


def recording_reference(recording: Recording) -> ReferencePoint:
    return reference_point(recording.score_name, recording.full_params)


def replay_trainable(config: dict[str, Any], recording: Recording, checkpoint_every_epoch: bool,
                     pace_s: float = 0.0) -> None:
    """Report the recorded trial ``config[RECORD_KEY]`` epoch by epoch, from where a checkpoint left it
    (``pace_s``: a pause before each report, so a test can interrupt a replay half-way)."""
    trial = recording.trials[int(config[RECORD_KEY])]
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            start = int((Path(folder) / POSITION_FILE).read_text())
    for position in range(start, trial.epochs):
        if pace_s:
            time.sleep(pace_s)
        metrics = {**trial.curve[position], MetricKey.ADAPTER_PARAMS.value: trial.adapter_params,
                   MetricKey.DONE_BY_TRAINABLE.value: position + 1 == trial.epochs}
        if not checkpoint_every_epoch:
            tune.report(metrics)
            continue
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / POSITION_FILE).write_text(str(position + 1))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


class _Events(Callback):
    """Collects every reported epoch in the order Tune processed it (driver side)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, dict[str, Any]]] = []

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.events.append((trial.trial_id, int(trial.config[RECORD_KEY]), dict(result)))


def _distance(proposed: dict[str, Any], recorded: dict[str, Any], specs: dict[str, ParamSpec]) -> float:
    """How far a recorded configuration is from a proposal: the sum of each row's ``ParamSpec.distance``
    (1 per differing discrete value, a continuous row's gap as a fraction of its range)."""
    return sum(spec.distance(proposed.get(name), recorded.get(name)) for name, spec in specs.items())


def take_nearest(proposed: dict[str, Any], unused: list[int], recording: Recording,
                 specs: dict[str, ParamSpec]) -> int:
    """The recorded configuration nearest ``proposed`` among ``unused`` (ties: the first recorded),
    removed from ``unused``: what every replayed searcher runs for its proposal."""
    chosen = min(unused, key=lambda i: (_distance(proposed, recording.trials[i].config, specs), i))
    unused.remove(chosen)
    return chosen


def strategy_overrides(reduction_factor: float | None = None, max_t: int | None = None,
                       grace_period: int | None = None, num_bands: int | None = None,
                       grace_until_signal: bool | None = None) -> dict[str, Any]:
    """The scheduler settings a replay changes, as dotted space keys (None: the recorded value)."""
    given = {"scheduler.reduction_factor": reduction_factor, "scheduler.max_t": max_t,
             "scheduler.grace_period": grace_period, "scheduler.num_bands": num_bands,
             "scheduler.grace_until_signal": grace_until_signal}
    return {key: value for key, value in given.items() if value is not None}


class RecordedChoiceSearcher(Searcher):
    """A searcher limited to the recorded configurations: ``inner`` proposes, the nearest unused
    recorded configuration is run, and ``inner`` is told that configuration's results."""

    def __init__(self, inner: Searcher, recording: Recording, specs: dict[str, ParamSpec]) -> None:
        super().__init__(metric=inner.metric, mode=inner.mode)
        self.inner, self.recording, self.specs = inner, recording, specs
        self.unused = list(range(len(recording.trials)))

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the inner searcher carries its own objectives

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if not self.unused:
            return Searcher.FINISHED
        return {RECORD_KEY: take_nearest(self.inner.suggest(trial_id), self.unused, self.recording, self.specs)}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.inner.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.inner.on_trial_complete(trial_id, result=result, error=error)

    def save(self, checkpoint_path: str) -> None:
        inner_path = f"{checkpoint_path}.inner"
        self.inner.save(inner_path)
        state = {"unused": self.unused, "inner": Path(inner_path).read_bytes()}
        Path(inner_path).unlink()
        Path(checkpoint_path).write_bytes(pickle.dumps(state))

    def restore(self, checkpoint_path: str) -> None:
        state = pickle.loads(Path(checkpoint_path).read_bytes())
        inner_path = f"{checkpoint_path}.inner"
        Path(inner_path).write_bytes(state["inner"])
        self.inner.restore(inner_path)
        Path(inner_path).unlink()
        self.unused = state["unused"]


def recorded_structures(recording: Recording, space: SearchSpace) -> list[dict[str, Any]]:
    """The distinct TT-LoRA structures among the recorded configurations, first-seen order."""
    seen: dict[str, dict[str, Any]] = {}
    for trial in recording.trials:
        values = {name: trial.config.get(name) for name in STRUCTURAL_NAMES}
        seen.setdefault(repr(sorted(values.items(), key=lambda kv: kv[0])), values)
    return list(seen.values())


def random_order(recording: Recording, space: SearchSpace, seed: int, samples: int) -> list[int]:
    """The recorded configurations in the order random search with ``seed`` would propose them: Tune's
    own sampling of the recorded space (``BasicVariantGenerator``'s generator, seeded as the driver
    seeds it), each draw given the nearest recorded configuration not yet taken. With the recording's
    own seed every draw is a recorded configuration, in the recorded order."""
    from ray.tune.search.variant_generator import generate_variants

    from search.ray_compat.private_names import tune_random_state
    from search.space.tune_param_space import tune_param_space
    from vocab.methods import flat_trial_config

    rng = tune_random_state(seed)
    spec = {"config": tune_param_space(space, seed)}
    specs = dict(space.searched_params())
    unused, order = list(range(len(recording.trials))), []
    while len(order) < samples:
        for _, resolved in generate_variants(spec, random_state=rng):
            if len(order) == samples:
                break
            order.append(take_nearest(flat_trial_config(resolved["config"]), unused, recording, specs))
    return order


def _searcher_and_space(searcher: str, recording: Recording, space: SearchSpace, seed: int,
                        samples: int) -> tuple[Any, dict[str, Any]]:
    if searcher == "random":
        return None, {RECORD_KEY: tune.grid_search(random_order(recording, space, seed, samples))}
    inner = build_optuna(space, recorded_structures(recording, space))
    specs = dict(space.searched_params())
    return RecordedChoiceSearcher(inner, recording, specs), {}


def replay_tuner(recording: Recording, scheduler: str, searcher: str = "random", seed: int = 0,
                 overrides: dict[str, Any] | None = None, samples: int | None = None,
                 storage: str = ".", name: str = "replay", pace_s: float = 0.0) -> tuple[Any, "_Events"]:
    """A fresh replay ``Tuner`` (and the callback that collects its events) writing to storage/name."""
    space = recording_space(recording, {"scheduler.type": scheduler, "search.algorithm": searcher, "train.seed": seed,
                                        **(overrides or {})})
    samples = min(samples or len(recording.trials), len(recording.trials))
    sizes = [t.adapter_params for t in recording.trials]
    bands = list(space.scheduler.bands) if space.scheduler.bands else log_spaced_bands(sizes, space.scheduler.num_bands)
    sched = build_scheduler(space, bands)
    search_alg, param_space = _searcher_and_space(searcher, recording, space, seed, samples)
    events = _Events()
    settings = TunerSettings(name=name, storage_path=storage, metric=MetricKey.VAL_LOSS.value, mode="min",
                             num_samples=1 if search_alg is None else samples, callbacks=[events])
    tuner = build_tuner(replay_resources(recording, scheduler, pace_s), param_space, sched, search_alg, settings)
    return tuner, events


def start_replay_ray(concurrency: int = 1) -> None:
    """Ray for replays: ``concurrency`` slots of the custom resource ``SLOT_RESOURCE``, one per running
    trial. Slots, not ``max_concurrent_trials``: Tune's concurrency limit counts paused trials, so
    with HyperBand a paused trial would keep its bracket from ever filling (and nothing is cut)."""
    import logging

    import ray

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    ray.init(num_cpus=2, resources={SLOT_RESOURCE: concurrency}, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR, configure_logging=False)


def replay_slots() -> int:
    import ray

    slots = int(ray.cluster_resources().get(SLOT_RESOURCE, 0)) if ray.is_initialized() else 0
    if slots < 1:
        raise RuntimeError("replays need Ray started by search.replay.replay_search.start_replay_ray (its trial slots)")
    return slots


def replay_resources(recording: Recording, scheduler: str, pace_s: float = 0.0) -> Any:
    """The replay trainable as Tune takes it: one slot each, a hundredth of a CPU (trials cost nothing)."""
    return trainable_with(replay_trainable, {"cpu": 0.01, SLOT_RESOURCE: 1}, recording=recording,
                          checkpoint_every_epoch=scheduler == "hyperband", pace_s=pace_s)


def restore_replay_tuner(recording: Recording, experiment_dir: str, scheduler: str, pace_s: float = 0.0) -> Any:
    """An interrupted replay experiment, resumed as ``ttsearch run --resume`` resumes a search (its
    scheduler and searcher come back with their saved state)."""
    return restore_tuner(experiment_dir, replay_resources(recording, scheduler, pace_s))


def replay(recording: Recording, scheduler: str, searcher: str = "random", seed: int = 0,
           reduction_factor: float | None = None, max_t: int | None = None, grace_period: int | None = None,
           num_bands: int | None = None, samples: int | None = None,
           storage: str | None = None, grace_until_signal: bool | None = None) -> ReplayResult:
    """One replay of ``scheduler`` x ``searcher`` with ``seed`` (Ray started by ``start_replay_ray``,
    whose slots set how many trials run at once); the Tune experiment goes to a temporary folder under
    ``storage`` and is removed."""
    replay_slots()
    overrides = strategy_overrides(reduction_factor, max_t, grace_period, num_bands, grace_until_signal)
    with tempfile.TemporaryDirectory(dir=storage) as folder:
        tuner, events = replay_tuner(recording, scheduler, searcher, seed, overrides, samples, folder)
        if fit_tuner(tuner)[1]:  # Ctrl-C: Tune returned early; a partial replay is not a result
            raise KeyboardInterrupt
    return _summarise(recording, scheduler, searcher, seed, events.events)


def _summarise(recording: Recording, scheduler: str, searcher: str, seed: int,
               events: list[tuple[str, int, dict[str, Any]]]) -> ReplayResult:
    ref = recording_reference(recording)
    curve = anytime_hypervolume(((tid, float(r[MetricKey.ADAPTER_PARAMS.value]), float(r[MetricKey.BEST_SCORE.value]))
                                 for tid, _, r in events), ref)
    last: dict[int, dict[str, Any]] = {}
    epochs: dict[int, int] = {}
    for _, index, result in events:
        last[index] = result
        epochs[index] = int(result[MetricKey.EPOCH.value])
    selected = min(last.values(), key=lambda r: r[MetricKey.BEST_VAL_LOSS.value]) if last else None
    return ReplayResult(scheduler, searcher, seed, trial_epochs=len(events),
                        selected_score=float(selected[MetricKey.BEST_SCORE.value]) if selected else math.nan,
                        hypervolume=curve[-1] if curve else 0.0, curve=curve, epochs_by_record=epochs)


__all__ = [
    "replay",
    "strategy_overrides",
    "take_nearest",
    "start_replay_ray",
    "restore_replay_tuner",
    "replay_tuner",
    "replay_resources",
    "ReplayResult",
    "full_hypervolume",
    "recording_reference",
    "RECORD_KEY",
    "recording_space",
]
