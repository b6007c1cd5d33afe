"""The Tune function trainable: one trial fine-tunes the base model with its method (TT-LoRA or a
baseline, search/trial/model.py), one epoch per report.

Each epoch (the recipe is ``search/trial/training.py``): train, evaluate, ``tune.report`` (metrics of
``vocab.experiment_folder.MetricKey``) with a checkpoint holding what the method trains (current and
best: the adapter, or for BitFit / full fine-tuning the trained tensors), the optimizer and LR-schedule
state and the trial state. A resumed or restarted
trial continues from ``tune.get_checkpoint()``; HyperBand pauses trials between rounds, so this is
what keeps a search moving (docs/ARCHITECTURE.md, "Ray Tune facts"). The trial stops itself after
``patience`` epochs without val-loss improvement or at ``max_epochs``. With a test split, the held-out
split is scored once, on the best adapter, when the trial ends by itself, and reported in its final
report, never used for a decision; a trial a scheduler stops is scored after the search
(search/run/heldout_pass.py) if it matters (front members, each method's selected trial).

A non-finite loss or an out-of-memory error ends the trial at once (``diverged`` / ``out_of_memory``)
with its best epoch, scores and adapter kept: a restart would replay the same seeded epochs. A
checkpoint that cannot be written (a full disk) ends it as ``storage_failed``, keeping the last
checkpoint written. Other crashes restart from the last checkpoint (``train.max_failures``).

For TT-LoRA the frozen base model is cached per worker process (``reuse_actors=True`` keeps the
process across trials): a new TT-LoRA trial only unloads the previous adapter and restores the head's
initial weights; a baseline trial loads its own copy (search/trial/model.py).
"""
from __future__ import annotations

import gc
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from ray import tune

from search.space.schema import SearchSpace
from search.tasks import EncodedSplits, get_task
from search.trial.config import train_settings_for
from search.trial.epoch_report import EpochCosts, EpochReporter
from search.trial.fault_injection import checkpoint_write_limit, inject_faults
from search.trial.host_memory import release_freed_memory
from search.trial.model import build_trial_model
from search.trial.model_cache import BaseModelCache, TrialModelSpec
from search.trial.state import TrialState
from search.trial.training import (
    DivergedError,
    EpochResult,
    EvalResult,
    build_optimizer,
    compute_dtype,
    evaluate,
    seed_dropout,
    steps_per_epoch,
    train_one_epoch,
)
from vocab.experiment_folder import (
    ADAPTER_DIR,
    BEST_ADAPTER_DIR,
    OPTIMIZER_FILE,
    TRIAL_STATE_FILE,
    MetricKey,
    StopReason,
)
from vocab.methods import flat_trial_config

_MODEL_CACHE = BaseModelCache()


@dataclass
class SharedTrialInputs:
    """What every trial of an experiment shares; passed once through ``tune.with_parameters``
    (Ray's object store), so data is tokenised once per experiment, not once per trial."""

    space: SearchSpace  # validated once by the driver; trials do not re-validate it
    model_path: str  # resolved local folder or hub id
    encoded: EncodedSplits
    pad_token_id: int | None = None  # decoder models: the tokenizer's pad id, set on model.config
    faults: dict[str, int] = field(default_factory=dict)  # search/trial/fault_injection.py: kind -> epoch (tests only)


def pick_device(space: SearchSpace) -> torch.device:
    """CUDA when the trial holds a GPU share; a trial that holds one but sees no CUDA device fails
    (training on CPU while Ray reserves a GPU would waste the GPU and mislead the timings)."""
    if space.resources.gpu <= 0:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError(
            f"resources.gpu={space.resources.gpu} but this trial sees no CUDA device "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}, torch {torch.__version__}, "
            f"CUDA build {torch.version.cuda}): install a CUDA build of torch on the workers, or set resources.gpu=0")
    torch.backends.cuda.matmul.allow_tf32 = True  # TF32 matmuls: fp32 weights at tensor-core speed
    torch.backends.cudnn.allow_tf32 = True
    return torch.device("cuda")


def adapter_file_bytes(directory: Path) -> int:
    """Bytes of the adapter as written (cores + head + saved modules, with its JSON header)."""
    return sum(p.stat().st_size for p in directory.iterdir() if p.is_file())


def _read_dir_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def _write_dir_bytes(directory: Path, files: dict[str, bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)


def run_trial(config: dict[str, Any], shared: SharedTrialInputs) -> None:
    """The Tune function trainable (see module docstring)."""
    release_freed_memory()  # the previous trial's, in this reused worker (search/trial/host_memory.py)
    run = _start_trial(config, shared)
    if not _restore(run):
        return  # restored after its final report: nothing left to train
    while run.state.epoch < run.train.max_epochs:
        if _run_epoch(run):
            return


@dataclass
class _TrialRun:
    """One running trial: its settings, model, optimizer and what it has earned so far."""

    shared: SharedTrialInputs
    train: Any  # search.space.schema.TrainSection with the trial's sampled values
    device: torch.device
    trial_model: Any  # search.trial.model.TrialModel
    optimizer: torch.optim.Optimizer
    lr_scheduler: torch.optim.lr_scheduler.LambdaLR
    reporter: EpochReporter
    state: TrialState = field(default_factory=TrialState)
    best_adapter_files: dict[str, bytes] = field(default_factory=dict)
    saved_state: TrialState | None = None  # the state in the last checkpoint written

    def evaluate(self, split: str) -> EvalResult:
        return evaluate(self.trial_model.model, self.shared.encoded[split], self.train, self.device,
                        self.shared.space.task)

    @property
    def has_test(self) -> bool:
        return "test" in self.shared.encoded.splits


def _start_trial(config: dict[str, Any], shared: SharedTrialInputs) -> _TrialRun:
    """Settings, device, model (the method's way), optimizer and LR schedule of a new trial."""
    setup_started = time.perf_counter()
    space = shared.space
    task = get_task(space.task)
    config = flat_trial_config(config)
    train = train_settings_for(space, config)
    torch.set_num_threads(train.torch_threads or max(1, int(space.resources.cpu)))
    device = pick_device(space)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trial_model = build_trial_model(
        space, config, TrialModelSpec(shared.model_path, task.num_labels, space.model.dtype, train.seed, str(device),
                                      shared.pad_token_id), _MODEL_CACHE)
    optimizer, lr_scheduler = build_optimizer(trial_model.model, train,
                                              steps_per_epoch(shared.encoded["train"], train.batch_size),
                                              trial_model.head_parameters)
    reporter = EpochReporter(task.score_name, trial_model.method, trial_model.counts,
                              space.resources.gpu if device.type == "cuda" else 0.0, time.perf_counter() - setup_started,
                              trial_model.base_model_reused, device,
                              compute_dtype(trial_model.model, train, device))
    return _TrialRun(shared, train, device, trial_model, optimizer, lr_scheduler, reporter)


def _restore(run: _TrialRun) -> bool:
    """Continue from Tune's checkpoint, if any. False when the trial had already made its final report."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return True
    with checkpoint.as_directory() as ckpt_dir:
        ckpt = Path(ckpt_dir)
        run.state = TrialState(**json.loads((ckpt / TRIAL_STATE_FILE).read_text()))
        if run.state.finished:  # restored after its final report (a diverged trial has no optimizer.pt)
            return False
        run.trial_model.load(ckpt / ADAPTER_DIR)
        saved = torch.load(ckpt / OPTIMIZER_FILE, weights_only=True)
        if "optimizer" in saved:
            run.optimizer.load_state_dict(saved["optimizer"])
            run.lr_scheduler.load_state_dict(saved["lr_scheduler"])
        else:  # a checkpoint from before LR schedules: the bare optimizer state, a constant LR
            run.optimizer.load_state_dict(saved)
        run.best_adapter_files = _read_dir_bytes(ckpt / BEST_ADAPTER_DIR)
    run.saved_state = replace(run.state)
    return run.state.epoch < run.train.max_epochs and run.state.epochs_without_improvement < run.train.patience


def _run_epoch(run: _TrialRun) -> bool:
    """Train, validate, checkpoint and report one epoch. True when the trial has ended."""
    state, epoch = run.state, run.state.epoch + 1
    seed_dropout(run.train.seed, epoch)
    ended: tuple[StopReason, str] | None = None
    started_unix = time.time()
    try:
        trained = train_one_epoch(run.trial_model.model, run.optimizer, run.lr_scheduler,
                                  run.shared.encoded["train"], run.train, run.device, epoch)
        inject_faults(run.shared.faults, epoch)
        val = run.evaluate("validation")
        if not math.isfinite(val.loss):
            raise DivergedError(f"non-finite validation loss at epoch {epoch}")
    except DivergedError as exc:
        ended = (StopReason.DIVERGED, str(exc))
    except (torch.cuda.OutOfMemoryError, MemoryError) as exc:
        ended = (StopReason.OUT_OF_MEMORY, str(exc).splitlines()[0] if str(exc) else "out of memory")
    if ended is not None:  # outside the except: its traceback no longer holds the activations
        _free_memory(run.device)
        _end_without_retry(run, *ended)
        return True

    state.epoch = epoch
    improved = val.loss < state.best_val_loss
    if improved:
        state.best_val_loss, state.best_score, state.best_epoch = val.loss, val.score, epoch
        state.epochs_without_improvement = 0
    else:
        state.epochs_without_improvement += 1
    stop = StopReason.RUNNING
    if state.epochs_without_improvement >= run.train.patience:
        stop = StopReason.EARLY_STOP
    elif epoch >= run.train.max_epochs:
        stop = StopReason.MAX_EPOCHS
    state.finished = stop is not StopReason.RUNNING
    _checkpoint_and_report(run, stop, trained, val, improved, started_unix)
    return state.finished


def _checkpoint_and_report(run: _TrialRun, stop: StopReason, trained: EpochResult, val: EvalResult,
                           improved: bool, started_unix: float) -> None:
    """Write the checkpoint (current and best adapter, optimizer, trial state) and report the epoch.
    A trial that ends here scores the held-out split once, on its best adapter (``_score_test``). A
    checkpoint that cannot be written (a full disk) ends the trial at once (``_end_storage_failed``)."""
    with tempfile.TemporaryDirectory(prefix="ttsearch_ckpt_") as tmp:
        try:
            with checkpoint_write_limit(run.shared.faults, run.state.epoch):
                metrics = _write_checkpoint(run, Path(tmp), stop, trained, val, improved, started_unix)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))
            run.saved_state = replace(run.state)
        except Exception as exc:  # noqa: BLE001 - only storage errors are handled; the rest re-raised
            if not is_storage_error(exc):
                raise
            _end_storage_failed(run, trained, val, started_unix, exc)  # outside the limit again: it can report


def _write_checkpoint(run: _TrialRun, ckpt: Path, stop: StopReason, trained: EpochResult, val: EvalResult,
                      improved: bool, started_unix: float) -> dict[str, Any]:
    """Fill the checkpoint folder ``ckpt``; return the epoch's report."""
    started = time.perf_counter()
    run.trial_model.save(ckpt / ADAPTER_DIR)
    if improved:
        run.best_adapter_files = _read_dir_bytes(ckpt / ADAPTER_DIR)
    _write_dir_bytes(ckpt / BEST_ADAPTER_DIR, run.best_adapter_files)
    torch.save({"optimizer": run.optimizer.state_dict(), "lr_scheduler": run.lr_scheduler.state_dict()},
               ckpt / OPTIMIZER_FILE)
    checkpoint_seconds = time.perf_counter() - started
    test = _score_test(run, ckpt / BEST_ADAPTER_DIR, model_is_best=improved) if run.state.finished else None
    started = time.perf_counter()
    (ckpt / TRIAL_STATE_FILE).write_text(json.dumps(asdict(run.state), indent=1))
    checkpoint_seconds += time.perf_counter() - started
    return run.reporter.metrics(run.state, stop, trained, EpochCosts(val, test, checkpoint_seconds, started_unix),
                                adapter_file_bytes(ckpt / ADAPTER_DIR))


def is_storage_error(exc: BaseException) -> bool:
    """A write that failed for want of space or a file-size limit. Python's own writes raise OSError;
    safetensors and torch.save raise their own types, saying so in the message ("I/O error: ... (os
    error 27)", "file write failed")."""
    if isinstance(exc, OSError):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in ("os error", "i/o error", "file write failed", "no space left"))


def _end_storage_failed(run: _TrialRun, trained: EpochResult, val: EvalResult, started_unix: float,
                        exc: BaseException) -> None:
    """End a trial whose checkpoint could not be written: one closing report without a checkpoint, so
    the last checkpoint written stays the trial's (a restart would meet the same full disk)."""
    saved = run.saved_state or TrialState()  # the best epoch whose adapter is in storage (none: nothing saved)
    run.state.best_epoch, run.state.best_val_loss, run.state.best_score = saved.best_epoch, saved.best_val_loss, saved.best_score
    run.state.best_test_loss, run.state.best_test_score = saved.best_test_loss, saved.best_test_score
    run.state.finished = True
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).strip().splitlines()[-1][:200]
    message = f"could not write the checkpoint of epoch {run.state.epoch}: {reason}"
    metrics = run.reporter.metrics(run.state, StopReason.STORAGE_FAILED, trained, EpochCosts(val, None, 0.0, started_unix),
                                   0)
    tune.report({**metrics, MetricKey.END_MESSAGE.value: message})


def _score_test(run: _TrialRun, best_adapter_dir: Path, model_is_best: bool) -> EvalResult | None:
    """The held-out split, once per trial, on the best adapter (loaded unless the model is at its best
    epoch now); sets the state's test fields. None without a test split or a best epoch, or when the
    best adapter cannot be evaluated (out of memory: the trial keeps its other results)."""
    if not run.has_test or not run.state.best_epoch:
        return None
    try:
        if not model_is_best:
            run.trial_model.load(best_adapter_dir)
        test = run.evaluate("test")
    except (torch.cuda.OutOfMemoryError, MemoryError):
        _free_memory(run.device)
        return None
    run.state.best_test_loss, run.state.best_test_score = test.loss, test.score
    return test


def _end_without_retry(run: _TrialRun, reason: StopReason, message: str) -> None:
    """End a trial that diverged or ran out of memory: one final report that keeps its best epoch,
    scores and adapter (a restart would replay the same seeded epochs and fail the same way); the
    held-out split is scored on that best adapter."""
    state, best_adapter_files = run.state, run.best_adapter_files
    state.finished = True
    adapter_bytes = sum(len(data) for data in best_adapter_files.values())  # the adapter it keeps
    if not best_adapter_files:  # failed in its first epoch: nothing worth a checkpoint
        metrics = run.reporter.metrics(state, reason, None, EpochCosts(), adapter_bytes)
        tune.report({**metrics, MetricKey.END_MESSAGE.value: message})
        return
    with tempfile.TemporaryDirectory(prefix="ttsearch_ckpt_") as tmp:
        ckpt = Path(tmp)
        _write_dir_bytes(ckpt / ADAPTER_DIR, best_adapter_files)
        _write_dir_bytes(ckpt / BEST_ADAPTER_DIR, best_adapter_files)
        test = _score_test(run, ckpt / BEST_ADAPTER_DIR, model_is_best=False)
        (ckpt / TRIAL_STATE_FILE).write_text(json.dumps(asdict(state), indent=1))
        metrics = run.reporter.metrics(state, reason, None, EpochCosts(test=test), adapter_bytes)
        tune.report({**metrics, MetricKey.END_MESSAGE.value: message}, checkpoint=tune.Checkpoint.from_directory(tmp))


def _free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


__all__ = ["run_trial", "SharedTrialInputs", "TrialState",
           "pick_device", "adapter_file_bytes"]
