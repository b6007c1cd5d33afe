"""The head's own learning rate (``train.head_learning_rate``) against the adapter's, under the trainable's
recipe (search/trial/training.py): same model, data, schedule, clipping, early stopping and seeds.

Offline MiniLM, TT-LoRA [8,6,8,8,6,8] rank 5, alpha 8, on query+value at lr 5e-3, the start
``--init`` (default the library's, ``gaussian``; the SST-2 figures in docs/ARCHITECTURE.md were
measured with ``zero``); the classifier head at the same rate (``same``, the default) or its own
(benchmarks/recipe_runs.py). Held-out arrangement: validation = 10% of train picks the best epoch,
test = the official dev set.

    python benchmarks/compare_head_lr.py --seeds 0 1 2
    python benchmarks/compare_head_lr.py --tasks stsb --head-lrs 2e-2 5e-2 --threads 2
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.recipe_runs import PLANS, DataPlan, compare, recipe  # noqa: E402
from ttlora_core import TTLoRAConfig  # noqa: E402
from ttlora_core.config import INIT_CHOICES  # noqa: E402

HEAD_LRS = [1e-3, 2e-2]  # besides "same" (the adapter's rate), which always runs first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["sst2", "mrpc"], choices=sorted(PLANS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--head-lrs", nargs="+", type=float, default=HEAD_LRS)
    parser.add_argument("--init", default=TTLoRAConfig().init, choices=INIT_CHOICES)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    def variant(head_lr: float | None):
        def make(plan: DataPlan, seed: int):
            ttlora = TTLoRAConfig(targets=["query", "value"], shape=[8, 6, 8, 8, 6, 8], rank=5, alpha=8.0,
                                  init=args.init, seed=seed)
            return ttlora, recipe(plan, seed, head_learning_rate=head_lr)
        return make

    variants = {"same": variant(None), **{f"head {lr:g}": variant(lr) for lr in args.head_lrs}}
    compare(variants, args.tasks, args.seeds)


if __name__ == "__main__":
    main()
