"""Rows and the final table of ``benchmarks/gpu_check.sh``: one place that reads what the steps wrote.

The shell script appends tab-separated rows (step, result, seconds, tokens/s, peak memory) to a file;
this module adds the rows it has to read from files, and prints the table:

    python benchmarks/gpu_check_table.py bench-rows BENCH_JSON [--dry-run]   # bench_model.py --json output
    python benchmarks/gpu_check_table.py trial-rows EXPERIMENT_DIR           # one row per trial of a search
    python benchmarks/gpu_check_table.py table ROWS_TSV                      # the aligned table

Per trial, tokens/s is the mean of the epochs' ``tokens_per_second`` and peak memory the largest
``peak_gpu_memory_bytes`` in its ``result.json`` ("n/a" while the trainable does not report it).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vocab.experiment_folder import TUNE_ERROR_FILE, TUNE_PARAMS_FILE, TUNE_RESULT_FILE, MetricKey  # noqa: E402

COLUMNS = ("step", "result", "seconds", "tokens/s", "peak memory")
DRY = "dry-run"
# The trainable's per-epoch peak of torch.cuda.max_memory_allocated (MetricKey.PEAK_GPU_MEMORY_BYTES where
# the trainable reports it); spelled out so the check also reads folders of trainables without it.
PEAK_MEMORY_KEY = "peak_gpu_memory_bytes"
# bench_model.py's train variants shown in the table: frozen (gradients through the layers), LoRA, TT-LoRA
BENCH_VARIANTS = ("frozen, activation grads", "PEFT LoRA r=8", "TT-LoRA auto")


def gib(value: float | None) -> str:
    """Bytes as GiB with two decimals; "n/a" when not measured."""
    return "n/a" if value is None else f"{value / 2**30:.2f} GiB"


def rate(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:,.0f}"


def row(*cells: str) -> str:
    """One tab-separated row; tabs and newlines inside a cell become spaces (leading indent kept)."""
    return "\t".join(str(cell).replace("\t", " ").replace("\n", " ").rstrip() for cell in cells)


def bench_rows(bench_json: Path, dry_run: bool) -> list[str]:
    """One row per train variant of ``bench_model.py --json``: median ms per step, tokens/s, peak memory."""
    report = json.loads(bench_json.read_text())
    settings = report["settings"]
    rows = []
    for name in BENCH_VARIANTS:
        variant = report["train"][name]
        step = f"  bench train {name}"
        if dry_run:
            rows.append(row(step, "ok", DRY, DRY, DRY))
            continue
        result = f"{variant['seconds'] * 1e3:.1f} ms/step ({settings['batch']}x{settings['seq']} tokens)"
        rows.append(row(step, result, "-", rate(variant["tokens_per_second"]), gib(variant["peak_memory_bytes"])))
    return rows


def _trial_lines(trial: Path) -> list[dict[str, Any]]:
    path = trial / TUNE_RESULT_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def trial_row(trial: Path) -> str:
    """Outcome, wall seconds, mean tokens/s and peak memory of one trial folder."""
    lines = _trial_lines(trial)
    last = lines[-1] if lines else {}
    name = f"  trial {last.get('trial_id', trial.name[:40])}"
    if (trial / TUNE_ERROR_FILE).exists() or not lines:
        return row(name, "FAILED" if (trial / TUNE_ERROR_FILE).exists() else "no report", "-", "n/a", "n/a")
    speeds = [line[MetricKey.TOKENS_PER_SECOND.value] for line in lines
              if line.get(MetricKey.TOKENS_PER_SECOND.value)]
    peaks = [line[PEAK_MEMORY_KEY] for line in lines if isinstance(line.get(PEAK_MEMORY_KEY), (int, float))]
    result = (f"{last.get(MetricKey.STOP_REASON.value, '?')}, {len(lines)} epoch(s), "
              f"best val_loss {last.get(MetricKey.BEST_VAL_LOSS.value, math.nan):.4f}")
    seconds = last.get("time_total_s")
    return row(name, result, f"{seconds:.1f}" if isinstance(seconds, (int, float)) else "-",
               rate(sum(speeds) / len(speeds) if speeds else None), gib(max(peaks) if peaks else None))


def trial_rows(experiment: Path) -> list[str]:
    """One row per trial folder of ``experiment`` (a row saying so when there is none)."""
    trials = sorted(p for p in experiment.glob("*") if p.is_dir() and (p / TUNE_PARAMS_FILE).exists()) \
        if experiment.is_dir() else []
    return [trial_row(t) for t in trials] or [row("  trials", f"none found in {experiment}", "-", "n/a", "n/a")]


def print_table(rows_file: Path) -> None:
    """The rows of ``rows_file`` under the header, columns padded to their widest cell."""
    rows = [COLUMNS] + [tuple((line.split("\t") + [""] * len(COLUMNS))[:len(COLUMNS)])
                        for line in rows_file.read_text().splitlines() if line.strip()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]

    def render(cells: tuple[str, ...]) -> str:
        return " | ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    print(render(rows[0]))
    print("-+-".join("-" * w for w in widths))
    for cells in rows[1:]:
        print(render(cells))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench-rows")
    bench.add_argument("bench_json", type=Path)
    bench.add_argument("--dry-run", action="store_true")
    sub.add_parser("trial-rows").add_argument("experiment", type=Path)
    sub.add_parser("table").add_argument("rows_file", type=Path)
    args = parser.parse_args(argv)
    if args.command == "bench-rows":
        print("\n".join(bench_rows(args.bench_json, args.dry_run)))
    elif args.command == "trial-rows":
        print("\n".join(trial_rows(args.experiment)))
    else:
        print_table(args.rows_file)


if __name__ == "__main__":
    main()
