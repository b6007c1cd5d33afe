"""The training recipe of one trial, outside Tune: optimizer, LR schedule, precision, one epoch, one eval.

``search/trial/trainable.py`` runs it under Tune; ``benchmarks/compare_init.py`` and
``benchmarks/compare_lr_schedule.py`` run the same functions, so what they compare is what a search
trains (docs/ARCHITECTURE.md, "Life of a trial").

LR schedule: ``train.lr_schedule`` ``linear`` (linear warmup over ``warmup_ratio`` of the steps, then
linear decay to 0, the Hugging Face Trainer's shape) or ``constant`` (the same warmup, then flat).
The total step count is ``max_epochs x steps per epoch``: a trial that early stopping or a scheduler
ends sooner never reaches the end of its decay, so every trial sees the same LR at the same epoch
whatever its fate, and HyperBand compares trials on equal terms.
"""
from __future__ import annotations

import contextlib
import functools
import math
import platform
import time
from dataclasses import dataclass
from typing import Sequence

import torch

from search.space.schema import TrainSection
from search.tasks import EncodedSplit, compute_score, get_task, predictions_from


class DivergedError(FloatingPointError):
    """A non-finite loss: the trial ends as ``diverged`` with what it earned so far (no retry)."""


@dataclass
class EpochResult:
    train_loss: float
    tokens: int  # non-padding training tokens
    train_seconds: float  # training steps only (no eval)
    token_positions: int = 0  # token positions the batches carried, padding included (rows x batch length)


@dataclass
class EvalResult:
    loss: float
    score: float
    scores: dict[str, float]
    seconds: float
    tokens: int = 0  # non-padding tokens evaluated
    token_positions: int = 0  # token positions of the batches, padding included
    classes_predicted: int = 0  # distinct classes among the predictions (0: regression, no classes)


def steps_per_epoch(split: EncodedSplit, batch_size: int) -> int:
    return max(1, math.ceil(len(split) / batch_size))


def lr_multiplier(step: int, total_steps: int, warmup_steps: int, schedule: str) -> float:
    """The LR factor after ``step`` optimizer steps: linear warmup, then linear decay or flat."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps  # the first step already gets 1/warmup of the LR, not 0
    if schedule == "constant":
        return 1.0
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def build_optimizer(model: torch.nn.Module, train: TrainSection, steps_in_epoch: int,
                    head_parameters: Sequence[torch.nn.Parameter] = ()
                    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over the trainable parameters and its per-step LR schedule (both checkpointed by the
    trainable, so a resumed or paused trial continues the same schedule). With
    ``train.head_learning_rate`` the ``head_parameters`` (head and saved modules) form a second group
    at that rate; the schedule scales both groups alike."""
    head_ids = {id(p) for p in head_parameters} if train.head_learning_rate is not None else set()
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    head = [p for p in head_parameters if p.requires_grad and id(p) in head_ids]
    groups = [{"params": body, "lr": train.learning_rate}]
    if head:
        groups.append({"params": head, "lr": train.head_learning_rate})
    optimizer = torch.optim.AdamW(groups, lr=train.learning_rate, weight_decay=train.weight_decay)
    total = train.max_epochs * steps_in_epoch
    warmup = int(math.ceil(train.warmup_ratio * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_multiplier(step, total, warmup, train.lr_schedule))
    return optimizer, scheduler


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 matmuls natively: AVX512-BF16 or AMX on x86 (oneDNN's own bf16
    query also says yes for plain AVX512, where bf16 is emulated), oneDNN's query elsewhere (aarch64).
    Without them bf16 is slower than float32, so bf16-mixed stays float32 there."""
    try:
        if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without these queries
        return False


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The dtype a trial's matmuls autocast to, None: no autocast (the model's own dtype). ``bf16-mixed``:
    bf16 on CUDA and on a CPU with native bf16 (0.56-0.59x the seconds of fp32 per MiniLM run here:
    docs/ARCHITECTURE.md), weights and optimizer state float32."""
    if precision == "bf16-mixed" and (device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())):
        return torch.bfloat16
    return None


def compute_dtype(model: torch.nn.Module, train: TrainSection, device: torch.device) -> str:
    """What a trial's matmuls run in (``MetricKey.COMPUTE_DTYPE``): the autocast dtype, else the dtype of
    the model's first floating-point parameter (the base model's), e.g. "bfloat16", "float32"."""
    dtype = autocast_dtype(device, train.precision)
    if dtype is None:
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    return str(dtype).removeprefix("torch.")


def precision_text(precision: str, model_dtype: str) -> str:
    """What ``train.precision`` means for a trial's matmuls, by device, for ``ttsearch plan``: the rule of
    ``autocast_dtype`` on a CUDA GPU and on this machine's CPU (a cluster's other hosts may differ: each
    trial reports ``compute_dtype``)."""
    if precision != "bf16-mixed":
        return f"{precision}: matmuls in the model's dtype ({model_dtype})"
    on_cpu = autocast_dtype(torch.device("cpu"), precision)
    cpu = ("bfloat16 (bf16 in hardware)" if on_cpu is not None
           else f"{model_dtype} (no bf16 in hardware: emulated bf16 would be slower)")
    return (f"{precision}: matmuls in bfloat16 on a CUDA GPU, {cpu} on this machine's CPU; "
            f"frozen weights stay {model_dtype}, trained parameters and optimizer state float32")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast to ``autocast_dtype(device, precision)``, or no autocast."""
    dtype = autocast_dtype(device, precision)
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def _on(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def train_one_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LambdaLR, split: EncodedSplit, train: TrainSection,
                    device: torch.device, epoch: int) -> EpochResult:
    """One pass over ``split`` in an order seeded by (seed, epoch): length-grouped batches with
    ``train.group_by_length`` (``EncodedSplit.batch_order``), else a plain shuffle. Raises DivergedError
    on a non-finite loss before the step that would spread it into the weights."""
    model.train()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    total_loss, steps, tokens, positions = torch.zeros((), device=device), 0, 0, 0
    started = time.perf_counter()
    order = "grouped" if train.group_by_length else "shuffle"
    for batch in split.batches(train.batch_size, order=order, seed=train.seed * 100_003 + epoch):
        tokens += int(batch["attention_mask"].sum())  # on the host batch: no device sync
        positions += batch["attention_mask"].numel()
        batch = _on(batch, device)
        with autocast(device, train.precision):
            loss = model(**batch).loss
        if not torch.isfinite(loss):
            raise DivergedError(f"non-finite training loss ({float(loss)}) at epoch {epoch}, step {steps}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if train.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, train.grad_clip)
        optimizer.step()
        scheduler.step()
        total_loss += loss.detach()  # summed on the device; read once per epoch
        steps += 1
    mean_loss = float(total_loss) / max(steps, 1)  # also waits for the device's last step
    return EpochResult(mean_loss, tokens, time.perf_counter() - started, positions)


def evaluate(model: torch.nn.Module, split: EncodedSplit, train: TrainSection, device: torch.device,
             task_name: str, order: str = "by_length") -> EvalResult:
    """Mean loss, the task score and all task metrics of ``split`` (no gradients, eval mode).

    Rows run longest first (``order="by_length"``), so each batch carries little padding; the logits
    are put back in file order before scoring (a metric does not depend on the order: tested).
    ``order="file"`` is the plain file order (benchmarks compare the two)."""
    model.eval()
    started = time.perf_counter()
    total_loss, total_items, tokens, positions = torch.zeros((), device=device), 0, 0, 0
    logits_all, rows_all = [], []
    with torch.no_grad():
        for rows in split.batch_order(train.eval_batch_size, order):
            batch = split.batch(rows)
            tokens += int(batch["attention_mask"].sum())
            positions += batch["attention_mask"].numel()
            batch = _on(batch, device)
            with autocast(device, train.precision):
                out = model(**batch)
            n = batch["labels"].shape[0]
            total_loss += out.loss.detach().float() * n  # summed on the device; read once
            total_items += n
            logits_all.append(out.logits.float().cpu())
            rows_all.append(rows)
    file_order = torch.argsort(torch.cat(rows_all))  # (N,) position of each file row in the run order
    logits = torch.cat(logits_all)[file_order].numpy()  # (N, num_labels) in file order
    labels = split.labels.numpy()  # (N,)
    task = get_task(task_name)
    predictions = predictions_from(task, logits)  # (N,) class ids (argmax), or scores for regression
    scores = compute_score(task, predictions, labels)
    classes = 0 if task.is_regression else len(set(predictions.tolist()))
    return EvalResult(float(total_loss) / max(total_items, 1), float(scores[task.score_name]), scores,
                      time.perf_counter() - started, tokens, positions, classes)


def seed_dropout(seed: int, epoch: int) -> None:
    """Seed the global generator (dropout draws from it) per epoch, so a rerun or a restarted trial
    replays the same masks."""
    torch.manual_seed(seed * 100_003 + epoch)


__all__ = ["DivergedError", "EpochResult", "EvalResult", "build_optimizer", "lr_multiplier", "steps_per_epoch",
           "train_one_epoch", "evaluate", "autocast", "autocast_dtype", "compute_dtype", "cpu_has_native_bf16",
           "seed_dropout"]
