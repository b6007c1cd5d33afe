"""Where TT-LoRA trials never leave the majority class: alpha x learning rate against adapter size.

Under Adam the size of a TT-LoRA update scales with alpha x lr; above some value a trial stays at the
majority class. This reads a recording or an experiment folder run with ``scheduler: none`` (every
trial to its own early stop: ``ttsearch replay``'s input) and prints each TT-LoRA trial's alpha x lr,
adapter parameters, epoch-1 and best validation score and whether it was stuck, then the stuck share
per (alpha x lr, size) cell and the best separating rule of the form alpha x lr x params > c.

Stuck: the best validation score is within 1 point of the majority-class rate. That rate is the most
common epoch-1 score (a trial that predicts one class scores exactly it; with many such trials it is
the mode), so use recordings with a dozen or more trials.

    python benchmarks/dead_corner.py                                  # the committed SST-2 recording
    python benchmarks/dead_corner.py /tmp/ttsearch_bench_quality/quality_mrpc
"""
from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RECORDING = REPO / "benchmarks" / "data" / "front_recording.json"
STUCK_MARGIN = 0.01  # stuck: the best score within 1 point of the majority-class rate
LR_BINS = (0.0, 0.01, 0.03, 0.1, 0.3, float("inf"))  # alpha x lr
SIZE_BINS = (0, 2_000, 10_000, 30_000, float("inf"))  # adapter parameters


def trial_rows(source: Path) -> tuple[list[dict], float, str]:
    """(TT-LoRA trials as rows, the majority-class rate, the task) of a recording file or folder."""
    from analysis.recording import load_recording

    recording, _ = load_recording(source)
    rows = []
    for trial in recording.trials:
        config = trial.config
        if config.get("method", "ttlora") != "ttlora" or not trial.curve:
            continue
        rows.append({"trial": trial.trial_id, "alpha_lr": float(config["alpha"]) * float(config["learning_rate"]),
                     "alpha": float(config["alpha"]), "lr": float(config["learning_rate"]),
                     "params": float(trial.adapter_params), "epoch1": float(trial.curve[0]["score"]),
                     "best": max(float(e["score"]) for e in trial.curve)})
    majority = majority_rate(r["epoch1"] for r in rows)
    for row in rows:
        row["stuck"] = row["best"] <= majority + STUCK_MARGIN
    return rows, majority, recording.task


def majority_rate(epoch1_scores: Iterable[float]) -> float:
    """The most common epoch-1 score, to 6 decimals: the majority-class rate when many trials start there."""
    scores = [round(float(score), 6) for score in epoch1_scores]
    return statistics.mode(scores) if scores else float("nan")


def _bin(value: float, edges: tuple[float, ...]) -> int:
    return next(i for i in range(len(edges) - 1) if edges[i] <= value < edges[i + 1])


def print_cells(rows: list[dict]) -> None:
    """Stuck / trials per (alpha x lr, adapter size) cell."""
    head = "alpha x lr \\ params".ljust(20) + "".join(
        f"{f'{SIZE_BINS[i]:,.0f}-{SIZE_BINS[i + 1]:,.0f}':>18}" for i in range(len(SIZE_BINS) - 1))
    print(head)
    for i in range(len(LR_BINS) - 1):
        cells = []
        for j in range(len(SIZE_BINS) - 1):
            inside = [r for r in rows if _bin(r["alpha_lr"], LR_BINS) == i and _bin(r["params"], SIZE_BINS) == j]
            cells.append(f"{sum(r['stuck'] for r in inside)}/{len(inside)} stuck" if inside else "-")
        print(f"{LR_BINS[i]:g}-{LR_BINS[i + 1]:g}".ljust(20) + "".join(f"{c:>18}" for c in cells))


def best_rule(rows: list[dict]) -> tuple[float, int]:
    """The c with fewest misclassified trials for "stuck iff alpha x lr x params > c" (trials stuck at a
    small alpha x lr, too slow rather than too fast, count as errors too)."""
    products = sorted(r["alpha_lr"] * r["params"] for r in rows)
    candidates = [0.0, *[(a + b) / 2 for a, b in zip(products, products[1:])], products[-1] + 1] if products else [0.0]
    errors = [(sum((r["alpha_lr"] * r["params"] > c) != r["stuck"] for r in rows), c) for c in candidates]
    wrong, c = min(errors)
    return c, wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=RECORDING)
    args = parser.parse_args()
    rows, majority, task = trial_rows(args.source)
    print(f"{args.source}: {len(rows)} TT-LoRA trials, task {task}, majority-class rate {majority:.4f}")
    for r in sorted(rows, key=lambda r: r["alpha_lr"]):
        print(f"  alpha x lr {r['alpha_lr']:.4f} (alpha {r['alpha']:g}, lr {r['lr']:.2e})  {r['params']:>9,.0f} params  "
              f"epoch 1 {r['epoch1']:.4f}  best {r['best']:.4f}{'  STUCK' if r['stuck'] else ''}")
    print_cells(rows)
    c, wrong = best_rule(rows)
    print(f"best rule: stuck iff alpha x lr x adapter params > {c:,.0f} ({wrong} of {len(rows)} trials misclassified)")
    alone = min(((sum((r["alpha_lr"] > t) != r["stuck"] for r in rows), t) for t in sorted({r["alpha_lr"] for r in rows})),
                default=(0, 0.0))
    print(f"for comparison, alpha x lr alone: stuck iff > {alone[1]:.4f} ({alone[0]} of {len(rows)} misclassified)")


if __name__ == "__main__":
    main()
