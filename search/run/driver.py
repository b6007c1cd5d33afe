"""The search driver: validate everything, tokenise once, then run (or resume) a Ray Tune experiment.

Order matters for the user: every check that can fail on bad input (space, model, shapes, task, data
folder) runs before Ray starts, so a typo costs seconds and exits with code 2; nothing in an existing
experiment folder is touched until the input is known to be good.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.plan.space_plan import Plan, build_plan
from search.space.schema import SearchSpace, dump_space_yaml
from search.tasks import encode_splits, get_task, load_splits, prepare_tokenizer, resolve_data_dir
from search.trial.model_source import load_model_config, resolve_model_path
from vocab.errors import Interrupted, UsageError
from vocab.experiment_folder import (
    EXPERIMENT_META_FILE,
    FOLDER_FORMAT_VERSION,
    RAY_LOG_DIR,
    RESOLVED_SPACE_FILE,
    ExperimentMeta,
)
from vocab.version import package_version

LOG = logging.getLogger("ttsearch")
# Tune warnings that mean a setting is not applied (e.g. `max_concurrent_trials` ... `will be ignored`):
# shown on the console besides ray_logs/driver.log
CONSOLE_TUNE_WARNINGS = ("will be ignored", "max_concurrent_trials")


@dataclass
class PreparedExperiment:
    """Everything known before Ray starts."""

    space: SearchSpace
    space_file: str
    plan: Plan
    experiment_dir: str  # local path or URI: <storage>/<name>
    storage_path: str
    model_path: str
    encoded: Any  # search.tasks.EncodedSplits
    pad_token_id: int | None


def is_uri(path: str) -> bool:
    return "://" in path


def experiment_location(space: SearchSpace) -> tuple[str, str]:
    """(storage_path, experiment_dir) with local paths made absolute."""
    storage = space.storage.path
    if not is_uri(storage):
        storage = str(Path(storage).expanduser().resolve())
    return storage, f"{storage.rstrip('/')}/{space.name}"


def check_local_storage(storage: str, where: str) -> None:
    """A local storage path must be a folder, or creatable: its nearest existing ancestor a writable folder."""
    if is_uri(storage):
        return
    path = Path(storage)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        what = "is a file" if existing == path else f"lies under a file ({existing})"
        raise UsageError(f"storage path {storage} {what}", where=where, expected="a folder (created if missing)")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write under {existing}", where=where, expected="a folder you can write to")


def with_absolute_paths(space: SearchSpace, data_dir: Path | None) -> SearchSpace:
    """The space with local paths made absolute (data folder, a local model folder, storage), so the
    experiment's space.yaml, and a best.yaml exported from it, run from any working directory."""
    model = space.model
    local_model = Path(model.name_or_path).expanduser()
    if not model.name_or_path.startswith("package:") and local_model.is_dir():
        model = model.model_copy(update={"name_or_path": str(local_model.resolve())})
    data = space.data.model_copy(update={"dir": str(data_dir.resolve()) if data_dir is not None else None})
    storage = space.storage
    if not is_uri(storage.path):
        storage = storage.model_copy(update={"path": str(Path(storage.path).expanduser().resolve())})
    return space.model_copy(update={"model": model, "data": data, "storage": storage})


def check_local_gpus(space: SearchSpace, address: str | None) -> None:
    """An embedded local Ray on a machine without a GPU cannot place a trial that asks for one: say so
    before Ray starts (it would otherwise wait for resources forever)."""
    if address is not None or space.resources.gpu <= 0:
        return
    import torch

    if not torch.cuda.is_available():
        raise UsageError(f"resources.gpu={space.resources.gpu} but this machine has no CUDA GPU and no --address was "
                         "given", where="resources.gpu",
                         expected="resources.gpu=0 (--set resources.gpu=0) on a CPU machine, or --address of a GPU cluster")


def prepare(space: SearchSpace, space_file: str, data_dir_cli: str | None = None) -> PreparedExperiment:
    """Validate and tokenise. Raises UsageError (exit 2) on any bad input; starts no Ray."""
    check_local_storage(experiment_location(space)[0], f"{space_file}: storage.path")  # before the slow steps
    model_config = load_model_config(space.model.name_or_path)  # once: plan and tokenizer both need it
    plan = build_plan(space, space_file, model_config=model_config)
    task = get_task(space.task)
    data_dir = resolve_data_dir(data_dir_cli, space.data.dir)
    data = space.data
    splits = load_splits(task, data_dir, train_split=data.train_split,
                         val_split=None if data.val_from_train else data.val_split,
                         limit_train=data.limit_train, limit_val=data.limit_val, seed=space.train.seed,
                         test_split=data.test_split, limit_test=data.limit_test, val_from_train=data.val_from_train)
    model_path = resolve_model_path(space.model.name_or_path)
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot load the tokenizer of {space.model.name_or_path!r}: {str(exc).splitlines()[0]}",
                         where="model.name_or_path") from None
    pad_token_id = prepare_tokenizer(tokenizer, model_config).pad_token_id
    encoded = encode_splits(splits, tokenizer, space.train.max_length)
    space = with_absolute_paths(space, data_dir)
    storage, experiment_dir = experiment_location(space)
    return PreparedExperiment(space, space_file, plan, experiment_dir, storage, model_path, encoded, pad_token_id)


def write_text(location: str, text: str) -> None:
    """Write a text file to a local path or a storage URI (s3://, gs://, ... through pyarrow.fs)."""
    if not is_uri(location):
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        Path(location).write_text(text)
        return
    import pyarrow.fs

    filesystem, path = pyarrow.fs.FileSystem.from_uri(location)
    filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with filesystem.open_output_stream(path) as stream:
        stream.write(text.encode())


def read_text(location: str) -> str:
    if not is_uri(location):
        return Path(location).read_text()
    import pyarrow.fs

    filesystem, path = pyarrow.fs.FileSystem.from_uri(location)
    with filesystem.open_input_stream(path) as stream:
        return stream.read().decode()


def mark_finished(prepared: PreparedExperiment) -> None:
    """Record in ExperimentMeta that the search ended (analysis tells finished from interrupted by it)."""
    location = f"{prepared.experiment_dir.rstrip('/')}/{EXPERIMENT_META_FILE}"
    meta = ExperimentMeta.from_json(read_text(location))
    meta.finished_unix = time.time()
    write_text(location, meta.to_json())


def write_experiment_files(prepared: PreparedExperiment, extra: dict[str, Any] | None = None) -> None:
    """The experiment folder's own files: ExperimentMeta (``extra`` in its ``extra``) and the resolved
    space (read by analysis/)."""
    space, plan = prepared.space, prepared.plan
    meta = ExperimentMeta(
        name=space.name, space_file=prepared.space_file, model=space.model.name_or_path,
        model_family=plan.model_family, task=plan.task, score_name=plan.score_name,
        metric=space.scheduler.metric, mode="min" if space.scheduler.metric == "val_loss" else "max",
        scheduler=space.scheduler.type, num_samples=space.num_samples, max_epochs=space.train.max_epochs,
        patience=space.train.patience, target_dims=plan.target_dims, created_unix=time.time(),
        ttsearch_version=package_version(), methods=space.methods(), search_algorithm=space.search.algorithm,
        has_test_split="test" in prepared.encoded.splits, format_version=FOLDER_FORMAT_VERSION, extra=extra or {},
    )
    base = prepared.experiment_dir.rstrip("/")
    write_text(f"{base}/{EXPERIMENT_META_FILE}", meta.to_json())
    write_text(f"{base}/{RESOLVED_SPACE_FILE}", dump_space_yaml(space))
    if not is_uri(base):
        (Path(base) / RAY_LOG_DIR).mkdir(parents=True, exist_ok=True)


def space_to_resume(experiment_dir: str | Path) -> tuple[SearchSpace, str]:
    """The space of the experiment folder ``ttsearch resume`` was given (its resolved ``space.yaml``,
    with the folder as its storage and name), and that file's path."""
    from search.space.schema import load_space

    folder = Path(experiment_dir).resolve()
    space_file = folder / RESOLVED_SPACE_FILE
    if not space_file.is_file():
        raise UsageError("not an experiment folder (no space.yaml)", where=str(folder),
                         expected="a folder written by `ttsearch run`")
    return load_space(space_file, [f"storage.path={folder.parent}", f"name={folder.name}"]), str(space_file)


def experiment_exists(experiment_dir: str) -> bool:
    from search.strategies.tuner import can_restore

    return can_restore(experiment_dir)


def route_ray_logs(experiment_dir: str) -> None:
    """Ray's Python loggers write to <experiment>/ray_logs/driver.log instead of the terminal."""
    if is_uri(experiment_dir):
        return
    log_dir = Path(experiment_dir) / RAY_LOG_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_dir / "driver.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    console = logging.StreamHandler()  # the few Tune warnings that change what runs, also on the console
    console.setLevel(logging.WARNING)
    console.addFilter(lambda record: any(text in record.getMessage() for text in CONSOLE_TUNE_WARNINGS))
    console.setFormatter(logging.Formatter("ttsearch: Ray Tune warning: %(message)s"))
    for name in ("ray", "ray.tune", "ray.train", "ray.data"):
        logger = logging.getLogger(name)
        logger.handlers = [handler, console]
        logger.propagate = False


def start_ray(address: str | None, experiment_dir: str) -> None:
    """Connect to ``address`` or start an embedded local Ray using this machine's CPUs/GPUs."""
    import ray

    from search.ray_compat.private_names import ray_session_dir

    if ray.is_initialized():
        return
    # Ray's own console output is replaced by search/run/progress.py; the legacy output engine with
    # verbose=0 is the one that stays silent.
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    route_ray_logs(experiment_dir)
    ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING,
             include_dashboard=False if address is None else None, configure_logging=False)
    if not is_uri(experiment_dir):
        session = ray_session_dir()
        link = Path(experiment_dir) / RAY_LOG_DIR / "session_latest"
        try:
            link.unlink(missing_ok=True)
            link.symlink_to(session / "logs", target_is_directory=True)
        except OSError:
            pass


def check_cluster_storage(prepared: PreparedExperiment) -> None:
    """A multi-node cluster needs storage every node can reach (Ray stopped syncing to the head in 2.7)."""
    import ray

    from cluster.storage import check_storage_for_cluster

    node_count = sum(1 for node in ray.nodes() if node.get("Alive"))
    check_storage_for_cluster(prepared.storage_path, node_count, declared_shared=prepared.space.storage.shared,
                              where=f"{prepared.space_file}: storage.path")


def trial_dirname(trial: Any) -> str:
    """A trial's folder name: ``trial_<id>`` (Tune's default name carries the config and gets long)."""
    return f"trial_{trial.trial_id}"


def build_trainable(prepared: PreparedExperiment) -> Any:
    from search.strategies.tuner import trainable_with
    from search.trial.fault_injection import faults_from_env
    from search.trial.trainable import SharedTrialInputs, run_trial

    shared = SharedTrialInputs(
        space=prepared.space, model_path=prepared.model_path, encoded=prepared.encoded,
        pad_token_id=prepared.pad_token_id, faults=faults_from_env(),
    )
    resources = {"cpu": prepared.space.resources.cpu, "gpu": prepared.space.resources.gpu}
    return trainable_with(run_trial, resources, shared=shared)


def run_experiment(prepared: PreparedExperiment, address: str | None = None, resume: bool = False,
                   live: bool | None = None) -> Any:
    """Run a new experiment, or resume an interrupted one without rerunning finished trials. One search
    per folder: the folder's lock is held from before Ray starts until the search returns."""
    from search.run.experiment_lock import lock_experiment

    exists = experiment_exists(prepared.experiment_dir)
    if exists and not resume:
        raise UsageError(f"experiment folder {prepared.experiment_dir} already holds a search",
                         where="name", expected="--resume to continue it, or another name (--name or name=)")
    if resume and not exists:
        raise UsageError(f"nothing to resume at {prepared.experiment_dir}", where="--resume",
                         expected="an experiment folder written by an earlier `ttsearch run`")
    check_local_gpus(prepared.space, address)
    with lock_experiment(prepared.experiment_dir) as lock:
        if lock.took_over is not None:
            LOG.warning("took over a stale lock on %s (its holder, %s, is gone)", prepared.experiment_dir,
                        lock.took_over.describe())
        return _fit(prepared, address, exists, live)


def _fit(prepared: PreparedExperiment, address: str | None, exists: bool, live: bool | None) -> Any:
    """Start Ray, build (or restore) the Tuner, fit, score the held-out split where it matters, mark the end;
    ``Interrupted`` (nothing after the fit) when Ctrl-C stopped it."""
    from search.run.heldout_pass import score_heldout
    from search.run.legacy_modules import install_legacy_module_names
    from search.run.progress import ProgressTable
    from search.strategies.tuner import fit_tuner, restore_tuner

    start_ray(address, prepared.experiment_dir)
    check_cluster_storage(prepared)
    if not exists:
        write_experiment_files(prepared)
    progress = ProgressTable(prepared.plan.score_name, live=live, methods=prepared.space.methods())
    trainable = build_trainable(prepared)
    if exists:
        install_legacy_module_names()  # a folder of an older version names our classes by their old modules
        tuner = restore_tuner(prepared.experiment_dir, trainable)
    else:
        tuner = _new_tuner(prepared, trainable, progress)
    result_grid, interrupted = fit_tuner(tuner)
    if interrupted:  # Ctrl-C: Tune saved its state; the held-out pass and the end mark wait for resume
        raise Interrupted(f"the search in {prepared.experiment_dir}", f"ttsearch resume {prepared.experiment_dir}"
                          + (f" --address {address}" if address else ""))
    score_heldout(prepared, result_grid)  # trials a scheduler stopped that matter; resumable
    try:
        mark_finished(prepared)
    except (OSError, ValueError) as exc:  # the search is done and saved; only the end mark is missing
        LOG.warning("could not mark %s finished (%s); `ttsearch report` shows it as stopped, the results are kept",
                    prepared.experiment_dir, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return result_grid


def _new_tuner(prepared: PreparedExperiment, trainable: Any, progress: Any) -> Any:
    """The Tuner of a new experiment: scheduler (with its memory), searcher, limits, stop rule, checkpoints."""
    from search.space.tune_param_space import tune_num_samples, tune_param_space
    from search.strategies.factory import build_scheduler, build_search_alg
    from search.strategies.tuner import TunerSettings, build_tuner

    space = prepared.space
    metric = space.scheduler.metric
    scheduler = build_scheduler(space, prepared.plan.param_bands)
    search_alg, param_space = build_search_alg(space, prepared.plan, tune_param_space(space))
    settings = TunerSettings(name=space.name, storage_path=prepared.storage_path, metric=metric,
                             mode="min" if metric == "val_loss" else "max", num_samples=tune_num_samples(space),
                             callbacks=[progress], max_concurrent_trials=space.resources.max_concurrent_trials,
                             trial_dirname_creator=trial_dirname, max_failures=space.train.max_failures)
    return build_tuner(trainable, param_space, scheduler, search_alg, settings)
