"""Zero-start vs Gaussian (the paper's) core init, under the trainable's own recipe (search/trial/training.py):
same model, data, LR schedule (the default), clipping, early stopping and seeds; picks the default.

Offline MiniLM, TT-LoRA [8,6,8,8,6,8] rank 5, alpha 8 on query+value, lr 5e-3 (benchmarks/recipe_runs.py).
Held-out arrangement: validation = 10% of train picks the best epoch, test = the official dev set.

    python benchmarks/compare_init.py --seeds 0 1 2
    python benchmarks/compare_init.py --tasks stsb --inits zero gaussian unit_norm --threads 2
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
    parser.add_argument("--inits", nargs="+", default=["zero", "zero_largest", "gaussian", "unit_norm"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    def variant(init: str):
        def make(plan: DataPlan, seed: int):
            ttlora = TTLoRAConfig(targets=["query", "value"], shape=[8, 6, 8, 8, 6, 8], rank=5, alpha=8.0,
                                  init=init, seed=seed)
            return ttlora, recipe(plan, seed)
        return make

    compare({init: variant(init) for init in args.inits}, args.tasks, args.seeds)


if __name__ == "__main__":
    main()
