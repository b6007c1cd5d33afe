"""LR schedules compared on real data with the trainable's recipe: which one is the default.

Offline MiniLM, TT-LoRA [8,6,8,8,6,8] rank 5, alpha 8 on query+value, AdamW lr 5e-3, batch 32,
gradient clipping 1.0, early stop after 2 epochs without val-loss improvement, at most 3 epochs
(benchmarks/recipe_runs.py). Held-out arrangement: validation = 10% of train (stratified; picks the
best epoch), test = the official dev set. Prints one row per run and mean ± sd per (task, schedule).

    python benchmarks/compare_lr_schedule.py --seeds 0 1 2
    python benchmarks/compare_lr_schedule.py --tasks mrpc --seeds 0 --schedules constant:0 linear:0.06
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.recipe_runs import PLANS, DataPlan, compare, recipe  # noqa: E402
from ttlora_core import TTLoRAConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["mrpc", "sst2"], choices=sorted(PLANS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--schedules", nargs="+", default=["constant:0", "linear:0.06"],
                        help="schedule:warmup_ratio pairs")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    def variant(schedule: str, warmup: float):
        def make(plan: DataPlan, seed: int):
            ttlora = TTLoRAConfig(targets=["query", "value"], shape=[8, 6, 8, 8, 6, 8], rank=5, alpha=8.0, seed=seed)
            return ttlora, recipe(plan, seed, lr_schedule=schedule, warmup_ratio=warmup)
        return make

    variants = {item: variant(item.split(":")[0], float(item.split(":")[1])) for item in args.schedules}
    compare(variants, args.tasks, args.seeds)


if __name__ == "__main__":
    main()
