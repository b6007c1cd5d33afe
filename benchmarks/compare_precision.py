"""float32 against bf16-mixed on a CPU with native bf16 (AMX / AVX512-BF16), with the trainable's recipe:
what a trial's ``train.precision: bf16-mixed`` buys on CPU, and what it costs in score.

Offline MiniLM, TT-LoRA [8,6,8,8,6,8] rank 4, alpha 8 on query+value, AdamW lr 5e-3, 3 epochs, one thread
like a ``resources.cpu: 1`` trial (benchmarks/recipe_runs.py: held-out arrangement, validation = 10 % of
train, test = the official dev set). Per seed both precisions run on the same data, float32 first. Prints
one row per run, mean ± sd per precision, the paired test difference, and the seconds ratio per seed.

    python benchmarks/compare_precision.py --tasks mrpc --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.recipe_runs import PLANS, DataPlan, Variant, compare, recipe  # noqa: E402
from search.space.schema import TrainSection  # noqa: E402
from search.trial.training import cpu_has_native_bf16  # noqa: E402
from ttlora_core import TTLoRAConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["mrpc"], choices=sorted(PLANS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if not cpu_has_native_bf16():
        sys.exit("compare_precision: this CPU has no native bf16 (bf16-mixed runs float32 here); nothing to compare")
    torch.set_num_threads(args.threads)

    def variant(precision: str) -> Variant:
        def make(plan: DataPlan, seed: int) -> tuple[TTLoRAConfig, TrainSection]:
            ttlora = TTLoRAConfig(targets=["query", "value"], shape=[8, 6, 8, 8, 6, 8], rank=4, alpha=8.0, seed=seed)
            return ttlora, recipe(plan, seed, precision=precision)
        return make

    rows = compare({"fp32": variant("fp32"), "bf16-mixed": variant("bf16-mixed")}, args.tasks, args.seeds)
    print("\nseconds bf16-mixed / fp32, seed by seed (same data, same recipe)")
    for task in args.tasks:
        ratios = [b.seconds / f.seconds for f, b in zip(rows[(task, "fp32")], rows[(task, "bf16-mixed")])]
        print(f"{task:<5} {', '.join(f'{r:.2f}' for r in ratios)}  mean {statistics.mean(ratios):.2f}")


if __name__ == "__main__":
    main()
