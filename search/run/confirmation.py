"""The confirmation stage: a search's finalists re-trained with new seeds (``ttsearch confirm``, or
``confirm.seeds`` in the space after ``ttsearch run``); docs/ARCHITECTURE.md, "Confirmation over seeds".

One more Tune experiment inside the experiment folder (``<experiment>/confirm``): one trial per
(finalist, seed), the finalist's sampled values fixed and its seed in place of ``train.seed``
(``vocab.methods.SEED_KEY``: the data order, the head and adapter initialisation and dropout all follow
it). Every finalist gets the same seeds, so methods compare seed by seed. No scheduler: each trial runs
to its own early stop and scores the held-out split on its best adapter. The experiment's lock is held
throughout; a killed or interrupted confirmation resumes (finished seeds are not trained again), one
with a failed seed retries that seed, a finished one is skipped, and a different request (other
finalists or seeds) is a usage error rather than a mix.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from search.run.driver import (
    PreparedExperiment,
    build_trainable,
    check_cluster_storage,
    experiment_exists,
    mark_finished,
    prepare,
    space_to_resume,
    start_ray,
    trial_dirname,
    write_experiment_files,
)
from search.run.outcome import RunOutcome, run_outcome
from search.space.schema import SearchSpace, load_space
from vocab.errors import Interrupted, UsageError
from vocab.experiment_folder import CONFIRM_DIR, EXPERIMENT_META_FILE, ExperimentMeta
from vocab.finalist import Finalist
from vocab.methods import FINALIST_KEY, METHOD_KEY, METHOD_NAME_KEY, SEED_KEY

REQUEST_KEY = "confirmation"  # ExperimentMeta.extra of the confirmation folder: the request it runs


def confirmation_seeds(space: SearchSpace, count: int) -> list[int]:
    """``count`` seeds after the search's own (``confirm.first_seed`` when set)."""
    first = space.confirm.first_seed if space.confirm.first_seed is not None else space.train.seed + 1
    return list(range(first, first + count))


def _folder_meta(folder: Path) -> ExperimentMeta | None:
    """The folder's ExperimentMeta (None: there is none)."""
    meta_file = folder / EXPERIMENT_META_FILE
    return ExperimentMeta.from_json(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else None


def check_not_a_confirmation(experiment_dir: str | Path) -> None:
    """A usage error when ``experiment_dir`` is a confirmation folder (it has a space.yaml too) rather
    than the search that holds it. Whether the search has finished is the reader's call
    (``analysis.confirmation.require_finished_search``)."""
    folder = Path(experiment_dir)
    meta = _folder_meta(folder)
    if meta is not None and REQUEST_KEY in meta.extra:
        raise UsageError("this is a confirmation folder, not a search", where=str(folder),
                         expected=f"the experiment folder that holds it ({folder.resolve().parent})")


def confirmation_space(experiment_dir: str | Path) -> tuple[SearchSpace, str]:
    """The search's resolved space, pointed at ``<experiment>/confirm``, with no scheduler (each trial to
    its own early stop) and random search (the finalists are fixed: nothing is proposed)."""
    _, space_file = space_to_resume(experiment_dir)
    folder = Path(space_file).parent
    overrides = [f"storage.path={folder}", f"name={CONFIRM_DIR}", "scheduler.type=none", "scheduler.max_t=null",
                 "search.algorithm=random", "search.max_params=null"]
    return load_space(space_file, overrides), space_file


def confirmation_param_space(finalists: list[Finalist], seeds: list[int]) -> dict[str, Any]:
    """One grid branch per (seed, finalist), seed-major so every finalist's first seed runs first."""
    from ray import tune

    branches = [{METHOD_NAME_KEY: f.method, **f.values, SEED_KEY: seed, FINALIST_KEY: f.trial_id}
                for seed in seeds for f in finalists]
    return {METHOD_KEY: tune.grid_search(branches)}


def _request(finalists: list[Finalist], seeds: list[int]) -> dict[str, Any]:
    return {"finalists": [f.request() for f in finalists], "seeds": list(seeds)}


def _earlier_request(prepared: PreparedExperiment) -> tuple[dict[str, Any] | None, bool]:
    """(the request the confirmation folder runs, whether it finished); (None, False) when there is none."""
    meta = _folder_meta(Path(prepared.experiment_dir))
    if meta is None:
        return None, False
    return meta.extra.get(REQUEST_KEY), meta.finished_unix is not None


def run_confirmation(experiment_dir: str | Path, finalists: list[Finalist], seeds: list[int],
                     address: str | None = None, live: bool | None = None,
                     continue_with: str | None = None) -> RunOutcome | None:
    """Re-train ``finalists`` with ``seeds``; None when this exact confirmation had already finished.
    ``continue_with``: the command that resumes it, named when Ctrl-C stops it."""
    from search.run.experiment_lock import lock_experiment

    check_not_a_confirmation(experiment_dir)
    if not finalists or not seeds:
        raise UsageError("nothing to confirm (no finalist or no seed)", where=str(experiment_dir),
                         expected="a finished search with at least one trial that reported an epoch, and --seeds >= 1")
    space, space_file = confirmation_space(experiment_dir)
    prepared = prepare(space, space_file)
    request = _request(finalists, seeds)
    earlier, finished = _earlier_request(prepared)
    if earlier is not None and earlier != request:
        raise UsageError(f"{prepared.experiment_dir} holds another confirmation ({len(earlier['finalists'])} "
                         f"finalists, seeds {earlier['seeds']})", where="--seeds/--finalists",
                         expected="the same request to resume it, or remove that folder for a new one")
    if earlier is not None and finished:
        return None
    with lock_experiment(str(Path(space_file).parent)):
        return _fit(prepared, finalists, seeds, address, live, resume=earlier is not None,
                    continue_with=continue_with or f"ttsearch confirm {experiment_dir}")


def _fit(prepared: PreparedExperiment, finalists: list[Finalist], seeds: list[int],
         address: str | None, live: bool | None, resume: bool, continue_with: str) -> RunOutcome:
    """Fit the confirmation's Tuner (restored when ``resume``); marked finished only when every seed of
    every finalist ended without an error. Ctrl-C: ``Interrupted`` naming ``continue_with``."""
    from search.run.legacy_modules import install_legacy_module_names
    from search.run.progress import ProgressTable
    from search.strategies.factory import build_scheduler, random_search
    from search.strategies.tuner import TunerSettings, build_tuner, fit_tuner, restore_tuner

    start_ray(address, prepared.experiment_dir)
    check_cluster_storage(prepared)
    space = prepared.space
    trainable = build_trainable(prepared)
    if resume and experiment_exists(prepared.experiment_dir):
        install_legacy_module_names()
        tuner = restore_tuner(prepared.experiment_dir, trainable)
    else:
        write_experiment_files(prepared, extra={REQUEST_KEY: _request(finalists, seeds)})
        metric = space.scheduler.metric
        settings = TunerSettings(name=space.name, storage_path=prepared.storage_path, metric=metric,
                                 mode="min" if metric == "val_loss" else "max", num_samples=1,
                                 callbacks=[ProgressTable(prepared.plan.score_name, live=live, methods=space.methods())],
                                 max_concurrent_trials=space.resources.max_concurrent_trials,
                                 trial_dirname_creator=trial_dirname,
                                 max_failures=space.train.max_failures)
        tuner = build_tuner(trainable, confirmation_param_space(finalists, seeds), build_scheduler(space, []),
                            random_search(space), settings)
    grid, interrupted = fit_tuner(tuner)
    if interrupted:
        raise Interrupted(f"the confirmation in {prepared.experiment_dir}", continue_with)
    outcome = run_outcome(grid)
    if not outcome.failed:  # a failed seed would break the pairing: a rerun retries it (resume_errored)
        mark_finished(prepared)
    return outcome


__all__ = ["Finalist", "check_not_a_confirmation", "confirmation_seeds", "confirmation_space", "confirmation_param_space",
           "run_confirmation", "REQUEST_KEY"]
