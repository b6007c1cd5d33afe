"""One fine-tuning run with the trainable's own recipe (search/training.py), outside Tune, for the
comparison benchmarks (LR schedule, core init). Same data loading, tokenisation, optimizer, schedule,
clipping, dropout seeding, early stopping and best-epoch selection (lowest val loss) as a trial.

The data uses the held-out arrangement: validation = a stratified fraction of train (chooses the best
epoch), test = the official dev set (reported at the best epoch, never used to choose).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402

from search.space import TrainSection  # noqa: E402
from search.tasks import encode_splits, get_task, load_splits, prepare_tokenizer  # noqa: E402
from search.training import build_optimizer, evaluate, seed_dropout, steps_per_epoch, train_one_epoch  # noqa: E402
from ttlora_core import TTLoRAConfig, apply_ttlora  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@dataclass(frozen=True)
class DataPlan:
    task: str
    limit_train: int | None = None
    limit_val: int | None = None
    val_from_train: float = 0.1
    max_length: int = 128


@dataclass
class RunResult:
    best_epoch: int
    best_val_loss: float
    val_score: float  # at the best epoch
    test_score: float  # at the best epoch
    epochs: int
    seconds: float


def encoded_data(plan: DataPlan, tokenizer, seed: int):
    splits = load_splits(plan.task, DATA, limit_train=plan.limit_train, limit_val=plan.limit_val, seed=seed,
                         test_split="validation", val_from_train=plan.val_from_train)
    return encode_splits(splits, tokenizer, plan.max_length)


def run(model_path: str, plan: DataPlan, ttlora: TTLoRAConfig, train: TrainSection, encoded) -> RunResult:
    """Fine-tune once; the base model is loaded fresh with a head seeded by ``train.seed``."""
    from transformers import AutoModelForSequenceClassification

    task = get_task(plan.task)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(train.seed)
        model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=task.num_labels)
    apply_ttlora(model, ttlora)
    device = torch.device("cpu")
    optimizer, scheduler = build_optimizer(model, train, steps_per_epoch(encoded["train"], train.batch_size))
    started = time.perf_counter()
    best = RunResult(0, math.inf, math.nan, math.nan, 0, 0.0)
    stale = 0
    for epoch in range(1, train.max_epochs + 1):
        seed_dropout(train.seed, epoch)
        train_one_epoch(model, optimizer, scheduler, encoded["train"], train, device, epoch)
        val = evaluate(model, encoded["validation"], train, device, plan.task)
        best.epochs = epoch
        if val.loss < best.best_val_loss:
            test = evaluate(model, encoded["test"], train, device, plan.task)
            best.best_epoch, best.best_val_loss, best.val_score, best.test_score = epoch, val.loss, val.score, test.score
            stale = 0
        else:
            stale += 1
            if stale >= train.patience:
                break
    best.seconds = time.perf_counter() - started
    return best


def tokenizer_for(model_path: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    prepare_tokenizer(tokenizer)
    return tokenizer
