"""The Tune function trainable: one trial fine-tunes the base model with TT-LoRA, one epoch per report.

Each epoch: train, evaluate, ``tune.report`` (metrics of ``results_schema.MetricKey``) with a checkpoint
holding only the adapter (current and best) plus optimizer and trial state — never the base model.
A resumed or restarted trial continues from ``tune.get_checkpoint()``; HyperBand pauses trials between
rounds, so this is what keeps a search moving (docs/ARCHITECTURE.md, "Life of a trial"). The trial stops itself after ``patience``
epochs without val-loss improvement or at ``max_epochs``.

The frozen base model is cached per worker process (``reuse_actors=True`` keeps the process across
trials): a new trial only unloads the previous adapter and restores the head's initial weights.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from ray import tune

from search.model_cache import BaseModelCache, TrialModelSpec
from search.space import SearchSpace, TrainSection
from search.tasks import EncodedSplits, compute_score, get_task
from search.trial_config import train_settings_for, ttlora_config_for
from ttlora_core import count_parameters, load_adapter, save_adapter
from vocab.experiment_folder import (
    ADAPTER_DIR,
    BEST_ADAPTER_DIR,
    OPTIMIZER_FILE,
    TRIAL_STATE_FILE,
    MetricKey,
    StopReason,
)

_MODEL_CACHE = BaseModelCache()

# Fault injection for the restart test: a trial raises once at this epoch, the first time it gets there.
FAIL_ONCE_ENV = "TTSEARCH_FAIL_ONCE_AT_EPOCH"


@dataclass
class TrialState:
    """Everything besides tensors that a resumed trial needs (stored as JSON in each checkpoint)."""

    epoch: int = 0  # epochs finished
    best_epoch: int = 0
    best_val_loss: float = math.inf
    best_score: float = -math.inf
    epochs_without_improvement: int = 0


@dataclass
class SharedTrialInputs:
    """What every trial of an experiment shares; passed once through ``tune.with_parameters``
    (Ray's object store), so data is tokenised once per experiment, not once per trial."""

    space: SearchSpace  # validated once by the driver; trials do not re-validate it
    model_path: str  # resolved local folder or hub id
    encoded: EncodedSplits
    pad_token_id: int | None = None  # decoder models: the tokenizer's pad id, set on model.config
    fail_once_at_epoch: int | None = None


def _pick_device(space: SearchSpace) -> torch.device:
    if space.resources.gpu > 0 and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def _evaluate(model: torch.nn.Module, encoded: EncodedSplits, train: TrainSection, device: torch.device,
              task_name: str) -> tuple[float, float, dict[str, float]]:
    """Mean val loss, the task score and all task metrics."""
    model.eval()
    total_loss, total_items = 0.0, 0
    logits_all, labels_all = [], []
    with torch.no_grad():
        for batch in encoded["validation"].batches(train.eval_batch_size, shuffle=False):
            batch = {k: v.to(device) for k, v in batch.items()}
            out = model(**batch)
            n = batch["labels"].shape[0]
            total_loss += float(out.loss) * n
            total_items += n
            logits_all.append(out.logits.float().cpu())
            labels_all.append(batch["labels"].cpu())
    logits = torch.cat(logits_all).numpy()  # (N, num_labels)
    labels = torch.cat(labels_all).numpy()  # (N,)
    task = get_task(task_name)
    scores = compute_score(task, logits, labels)
    return total_loss / max(total_items, 1), float(scores[task.score_name]), scores


def _train_one_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, encoded: EncodedSplits,
                     train: TrainSection, device: torch.device, epoch: int) -> tuple[float, int]:
    """One pass over the train split in a seeded order; returns mean loss and non-pad tokens seen."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    total_loss, steps, tokens = 0.0, 0, 0
    for batch in encoded["train"].batches(train.batch_size, shuffle=True, seed=train.seed * 100_003 + epoch):
        batch = {k: v.to(device) for k, v in batch.items()}
        loss = model(**batch).loss
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss ({float(loss)}) at epoch {epoch}, step {steps}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if train.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, train.grad_clip)
        optimizer.step()
        total_loss += float(loss)
        steps += 1
        tokens += int(batch["attention_mask"].sum())
    return total_loss / max(steps, 1), tokens


def _read_dir_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def _write_dir_bytes(directory: Path, files: dict[str, bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)


def run_trial(config: dict[str, Any], shared: SharedTrialInputs) -> None:
    """The Tune function trainable (see module docstring)."""
    setup_started = time.perf_counter()
    space = shared.space
    task = get_task(space.task)
    train = train_settings_for(space, config)
    torch.set_num_threads(train.torch_threads or max(1, int(space.resources.cpu)))
    device = _pick_device(space)
    ttlora_cfg = ttlora_config_for(space, config)

    model = _MODEL_CACHE.acquire(
        TrialModelSpec(shared.model_path, task.num_labels, space.model.dtype, train.seed, str(device),
                       shared.pad_token_id),
        ttlora_cfg,
    )
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=train.learning_rate, weight_decay=train.weight_decay)
    counts = count_parameters(model)
    tt_params = counts["ttlora"]

    state = TrialState()
    best_adapter_files: dict[str, bytes] = {}
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as ckpt_dir:
            ckpt = Path(ckpt_dir)
            state = TrialState(**json.loads((ckpt / TRIAL_STATE_FILE).read_text()))
            load_adapter(model, ckpt / ADAPTER_DIR)
            optimizer.load_state_dict(torch.load(ckpt / OPTIMIZER_FILE, weights_only=True))
            best_adapter_files = _read_dir_bytes(ckpt / BEST_ADAPTER_DIR)

    if state.epoch >= train.max_epochs or state.epochs_without_improvement >= train.patience:
        return  # restored after its final report: nothing left to train
    gpus = space.resources.gpu if device.type == "cuda" else 0.0
    setup_seconds = time.perf_counter() - setup_started
    while state.epoch < train.max_epochs:
        epoch = state.epoch + 1
        started = time.perf_counter()
        # Dropout draws from this worker's global generator: seed it per epoch so a rerun (an exported
        # best.yaml) or a restarted trial replays the same masks.
        torch.manual_seed(train.seed * 100_003 + epoch)
        train_loss, tokens = _train_one_epoch(model, optimizer, shared.encoded, train, device, epoch)
        if shared.fail_once_at_epoch == epoch:
            _inject_failure_once(epoch)
        val_loss, score, _ = _evaluate(model, shared.encoded, train, device, space.task)
        seconds = time.perf_counter() - started
        if not math.isfinite(val_loss):
            raise FloatingPointError(f"non-finite validation loss at epoch {epoch}")

        state.epoch = epoch
        improved = val_loss < state.best_val_loss
        if improved:
            state.best_val_loss, state.best_score, state.best_epoch = val_loss, score, epoch
            state.epochs_without_improvement = 0
        else:
            state.epochs_without_improvement += 1

        stop = StopReason.RUNNING
        if state.epochs_without_improvement >= train.patience:
            stop = StopReason.EARLY_STOP
        elif epoch >= train.max_epochs:
            stop = StopReason.MAX_EPOCHS

        metrics = {
            MetricKey.EPOCH.value: epoch,
            MetricKey.TRAIN_LOSS.value: train_loss,
            MetricKey.VAL_LOSS.value: val_loss,
            MetricKey.SCORE.value: score,
            MetricKey.SCORE_NAME.value: task.score_name,
            MetricKey.BEST_EPOCH.value: state.best_epoch,
            MetricKey.BEST_VAL_LOSS.value: state.best_val_loss,
            MetricKey.BEST_SCORE.value: state.best_score,
            MetricKey.TTLORA_PARAMS.value: tt_params,
            MetricKey.HEAD_PARAMS.value: counts["head"],
            MetricKey.TRAINABLE_PARAMS.value: counts["total_trainable"],
            MetricKey.ADAPTER_BYTES_16BIT.value: tt_params * 2,
            MetricKey.EPOCH_SECONDS.value: seconds,
            MetricKey.TOKENS_PER_SECOND.value: tokens / seconds if seconds > 0 else 0.0,
            MetricKey.GPU_SECONDS.value: seconds * gpus,
            MetricKey.TRIAL_SETUP_SECONDS.value: setup_seconds,
            MetricKey.BASE_MODEL_REUSED.value: _MODEL_CACHE.last_was_reused,
            MetricKey.STOP_REASON.value: stop.value,
            MetricKey.DONE_BY_TRAINABLE.value: stop is not StopReason.RUNNING,
        }
        with tempfile.TemporaryDirectory(prefix="ttsearch_ckpt_") as tmp:
            ckpt = Path(tmp)
            save_adapter(model, ckpt / ADAPTER_DIR)
            if improved:
                best_adapter_files = _read_dir_bytes(ckpt / ADAPTER_DIR)
            _write_dir_bytes(ckpt / BEST_ADAPTER_DIR, best_adapter_files)
            torch.save(optimizer.state_dict(), ckpt / OPTIMIZER_FILE)
            (ckpt / TRIAL_STATE_FILE).write_text(json.dumps(asdict(state), indent=1))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))
        if stop is not StopReason.RUNNING:
            return


def _inject_failure_once(epoch: int) -> None:
    """Raise the first time this trial reaches ``epoch`` (a marker in the trial folder survives the
    restart, the checkpoint from before the failure does not know about it)."""
    marker = Path(tune.get_context().get_trial_dir()) / ".ttsearch_injected_failure"
    if not marker.exists():
        marker.write_text(f"failed once at epoch {epoch}\n")
        raise RuntimeError(f"injected failure at epoch {epoch} ({FAIL_ONCE_ENV})")


def fail_once_epoch_from_env() -> int | None:
    value = os.environ.get(FAIL_ONCE_ENV)
    return int(value) if value else None


__all__ = ["run_trial", "SharedTrialInputs", "TrialState", "fail_once_epoch_from_env"]
