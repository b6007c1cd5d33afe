"""Quality benchmark over seeds: TT-LoRA against LoRA r in {1, 2, 4, 8} on MRPC, SST-2 and STS-B.

Real data (../shared/data), the offline MiniLM (BERT 6 x 384, query + value), CPU, the real CLI for
the search (``ttsearch run``: embedded Ray, the trainable, the held-out arrangement: validation is a
stratified 10 % of train, the test split is the official dev set, never used to choose). Per task one
search holds TT-LoRA (shape, rank, alpha, learning rate sampled; only configurations at least 7x
smaller than LoRA r=8) and LoRA at each rank (learning rate sampled); no scheduler, every trial to its
own early stop. Then the confirmation stage (search/run/confirmation.py, the same code as
``ttsearch confirm``) re-trains with ``SEEDS`` new seeds, the same for every finalist: TT-LoRA's selected
trial (lowest val loss) and, at ``full`` scale, its front; LoRA's selected trial over every rank (what a
user would take); the selected trials of LoRA r=1 and r=8, the targets' references. Trials run in
bf16-mixed on a CPU with bf16 in hardware (``--precision``; 0.56-0.59x the seconds of fp32, same scores).

Printed per task and finalist: adapter parameters (head not counted), mean ± sd of the val and test
scores over the seeds, and the paired test difference (mean and 95 % interval, seed by seed) to the
selected LoRA r=8 and LoRA r=1. Then the issue's targets on confirmed means, met or missed by how much:
the best TT-LoRA finalist within 1 point of LoRA r=8 with >= 7x fewer parameters; TT-LoRA's best at
<= 10,000 parameters at or above LoRA r=1 (9,216 parameters on MiniLM's query + value). "Best" is by
mean validation score, as ``export`` picks: the test split only measures.

    python benchmarks/bench_quality.py                    # full scale, 3 rates per LoRA rank, bf16: 97 min measured on 2 cores (MRPC 54 + SST-2 20 + STS-B 23)
    python benchmarks/bench_quality.py --tasks sst2 stsb  # full scale without MRPC: 43 min measured
    python benchmarks/bench_quality.py --tasks sst2 --report-only   # re-print from an earlier run
    python benchmarks/bench_quality.py --lora-samples 1 --precision fp32   # the earlier rows (fp32, one rate per rank): 2 h 34 min
    python benchmarks/bench_quality.py --scale small      # 1,000 rows, LoRA r=1 and r=8, 3 epochs (90 min in fp32)
    python benchmarks/bench_quality.py --tasks stsb --tt-effective-lr 0.005 0.09   # TT-LoRA's alpha x lr as one number
    python benchmarks/bench_quality.py --tasks stsb mrpc --tt-lr 1e-3 1e-2   # TT-LoRA's rate range moved
    python benchmarks/bench_quality.py --tasks mrpc --tt-ranks 4 5   # TT-LoRA up to 10,000 params (9,360 at rank 5)
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = Path("/tmp/ttsearch_bench_quality")
SEEDS = 3


@dataclass(frozen=True)
class TaskPlan:
    """One task's search: rows (None: the full train split), sequence length, trials and epochs."""

    task: str
    limit_train: int | None
    max_length: int
    tt_samples: int  # TT-LoRA trials
    lora_samples: int  # trials per LoRA rank
    max_epochs: int
    # the head's own rate for every method (train.head_learning_rate); None: each trial's own rate.
    # STS-B's regression head at the adapter's rate stays near the label mean (docs/ARCHITECTURE.md,
    # "Training recipe": a regression space should set it; 2e-2 measured there, seeds 0-2)
    head_lr: float | None = None


# Every size of the benchmark, in one place.
SCALES: dict[str, dict[str, TaskPlan]] = {
    "full": {"mrpc": TaskPlan("mrpc", None, 128, 4, 3, 4), "sst2": TaskPlan("sst2", 2000, 64, 4, 3, 4),
             "stsb": TaskPlan("stsb", 2000, 96, 4, 3, 4, head_lr=2e-2)},
    "small": {"mrpc": TaskPlan("mrpc", 1000, 96, 3, 1, 3), "sst2": TaskPlan("sst2", 1000, 64, 3, 1, 3),
              "stsb": TaskPlan("stsb", 1000, 96, 3, 1, 3, head_lr=2e-2)},
}
LORA_RANKS = {"full": (1, 2, 4, 8), "small": (1, 8)}
# LoRA ranks confirmed besides LoRA's selected trial: the targets' references (r=8, and r=1 at TT-LoRA's size)
CONFIRMED_LORA_RANKS = (1, 8)
FRONT_FINALISTS = {"full": True, "small": False}  # TT-LoRA's front confirmed besides its selected trial
TTLORA_SPACE = [  # 6,144 and 8,448 params on query+value vs LoRA r=8's 73,728
    "search.shape=[[8, 6, 8, 8, 6, 8], auto]", "search.cores=4", "search.rank=4",
    "search.alpha=[4.0, 8.0, 16.0]", "search.learning_rate={loguniform: [3.0e-3, 2.0e-2]}",
    "search.max_params=10000",  # the targets' sizes: <= 10,000 (target 2) and >= 7x below 73,728 (target 1)
]


def lora_space(ranks: tuple[int, ...], samples: int) -> list[str]:
    """LoRA at each rank (a grid), ``samples`` trials per rank, alpha 16, lr around the LoRA recipes."""
    return [f"baselines.lora.rank={{grid: {list(ranks)}}}", "baselines.lora.alpha=16.0",
            "baselines.lora.learning_rate={loguniform: [5.0e-4, 5.0e-3]}", f"baselines.lora.num_samples={samples}"]


def ttlora_space(effective_lr: tuple[float, float] | None, tt_lr: tuple[float, float] | None = None,
                 tt_ranks: list[int] | None = None) -> list[str]:
    """TT-LoRA's rows; with ``effective_lr`` (low, high) alpha x lr is searched log-uniform as one number
    and each trial's rate is derived (search/space/recipe_rows.py), else alpha and lr apart, the rate
    log-uniform in ``tt_lr`` (low, high) when given, else in ``TTLORA_SPACE``'s range. ``tt_ranks``: the TT
    ranks drawn from (configurations above 10,000 params are never drawn), else ``TTLORA_SPACE``'s."""
    ranks = [] if tt_ranks is None else [f"search.rank={sorted(set(tt_ranks))}"]
    rows = [row for row in TTLORA_SPACE if not row.startswith("search.learning_rate=")] + ranks
    if effective_lr is not None:
        low, high = effective_lr
        return [*rows, "search.learning_rate=null", f"search.effective_lr={{loguniform: [{low}, {high}]}}"]
    if tt_lr is not None:
        return [*rows, f"search.learning_rate={{loguniform: [{tt_lr[0]}, {tt_lr[1]}]}}"]
    return [*TTLORA_SPACE, *ranks]


def run_search(plan: TaskPlan, scale: str, out: Path, lora_samples: int, head_lr: float | None = None,
               effective_lr: tuple[float, float] | None = None, precision: str = "fp32",
               tt_lr: tuple[float, float] | None = None, tt_ranks: list[int] | None = None) -> float:
    """One ``ttsearch run`` of TT-LoRA and the LoRA ranks; returns its wall seconds. ``head_lr``: the
    head's own rate (``train.head_learning_rate``), the same for every method (None: the plan's);
    ``lora_samples``: learning rates tried per LoRA rank; ``effective_lr``, ``tt_lr``, ``tt_ranks``: see ``ttlora_space``;
    ``precision``: ``train.precision`` of every trial (confirmation re-uses the search's space)."""
    head_lr = plan.head_lr if head_lr is None else head_lr
    sets = [
        f"name=quality_{plan.task}", f"task={plan.task}", f"storage.path={out}", f"num_samples={plan.tt_samples}",
        "scheduler.type=none", "scheduler.max_t=null", f"train.max_epochs={plan.max_epochs}", "train.patience=2",
        f"train.max_length={plan.max_length}", "data.limit_val=null", "data.limit_test=null",
        f"data.limit_train={'null' if plan.limit_train is None else plan.limit_train}", "resources.cpu=1",
        "confirm.seeds=0", f"train.precision={precision}", *ttlora_space(effective_lr, tt_lr, tt_ranks),
        *lora_space(LORA_RANKS[scale], lora_samples),
        *([f"train.head_learning_rate={head_lr}"] if head_lr is not None else []),
    ]
    command = [sys.executable, "-m", "ttsearch", "run", str(REPO / "spaces" / "quickstart.yaml"), "--data-dir", str(DATA)]
    for item in sets:
        command += ["--set", item]
    shutil.rmtree(out / f"quality_{plan.task}", ignore_errors=True)  # a fresh search, not a resume
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=bench_env(), check=True)
    return time.perf_counter() - started


def default_precision() -> str:
    """bf16-mixed where this CPU has bf16 in hardware (docs/ARCHITECTURE.md: 0.56-0.59x the seconds of
    fp32 per run, same scores), else fp32."""
    from search.trial.training import cpu_has_native_bf16

    return "bf16-mixed" if cpu_has_native_bf16() else "fp32"


def bench_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0",
            "TOKENIZERS_PARALLELISM": "false"}


def arm_of(method: str, values: dict) -> str:
    return f"LoRA r={int(values['rank'])}" if method == "lora" else ("TT-LoRA" if method == "ttlora" else method)


def _every_trial(exp) -> list:
    """Every trial of the search that ended without error, as a finalist (analysis.confirmation.Finalist),
    each method's in order of val loss (lowest first)."""
    from analysis.confirmation import select_finalists

    return select_finalists(exp, "top", top=len(exp.trials))


def lora_selected_arm(every: list) -> str | None:
    """The rank of LoRA's selected trial (lowest val loss over every rank) among ``_every_trial``: what a
    user would take; None without a LoRA trial."""
    lora = [f for f in every if f.method == "lora"]
    return arm_of("lora", lora[0].values) if lora else None


def arm_labels(every: list) -> dict[str, str]:
    """Trial id -> its row name in the tables: "TT-LoRA" (its selected trial), "TT-LoRA front" (its
    other trials), "LoRA r=K" (every trial of that rank; only each rank's selected one is confirmed)."""
    labels: dict[str, str] = {}
    for finalist in every:
        arm = arm_of(finalist.method, finalist.values)
        labels[finalist.trial_id] = "TT-LoRA front" if arm == "TT-LoRA" and arm in labels.values() else arm
    return labels


def finalists_by_arm(folder: Path, scale: str) -> list[tuple[str, object]]:
    """(arm, finalist) to confirm: TT-LoRA's selected trial (lowest val loss) and, at ``full`` scale, its
    front; LoRA's selected trial over every rank; the selected trial of each rank the targets name
    (``CONFIRMED_LORA_RANKS``). One arm per LoRA rank; the first of each arm is its lowest val loss."""
    from analysis import columns as col
    from analysis.loading import load_experiment
    from analysis.pareto import pareto_front

    exp = load_experiment(folder)
    every = _every_trial(exp)
    wanted = {"TT-LoRA", *(f"LoRA r={rank}" for rank in CONFIRMED_LORA_RANKS)}
    if (lora_arm := lora_selected_arm(every)) is not None:
        wanted.add(lora_arm)
    chosen: dict[str, tuple[str, object]] = {}
    for finalist in every:
        arm = arm_of(finalist.method, finalist.values)
        if arm in wanted:
            chosen.setdefault(arm, (arm, finalist))
    picked = list(chosen.values())
    if FRONT_FINALISTS[scale]:  # the front of TT-LoRA's trials that ended without error
        tt = exp.trials[exp.trials[col.TRIAL_ID].isin({f.trial_id for f in every if f.method == "ttlora"})]
        front_ids = set(pareto_front(tt)[col.TRIAL_ID]) if len(tt) else set()
        known = {f.trial_id for _, f in picked}
        picked += [("TT-LoRA front", f) for f in every if f.trial_id in front_ids and f.trial_id not in known]
    return picked


def confirm(folder: Path) -> float:
    """Re-train the finalists with ``SEEDS`` seeds (resumes or skips an earlier confirmation)."""
    from search.run.confirmation import confirmation_seeds, confirmation_space, run_confirmation

    scale = (folder / "bench_scale").read_text().strip()
    picked = finalists_by_arm(folder, scale)
    space, _ = confirmation_space(folder)
    started = time.perf_counter()
    run_confirmation(folder, [f for _, f in picked],
                     confirmation_seeds(space, SEEDS), None, False)
    return time.perf_counter() - started


def _cell(values: list[float]) -> str:
    from analysis.confirmation import SeedSummary

    mean, sd, _ = SeedSummary.spread(values)
    return f"{mean:.4f} ± {sd:.4f}" if math.isfinite(sd) else f"{mean:.4f}"


def _paired(a, b) -> str:
    from analysis.confirmation import paired_difference

    if b is None:
        return "-"
    mean, half, n = paired_difference(a, b)
    return f"{mean:+.2f} [{mean - half:+.2f}, {mean + half:+.2f}]" if n >= 2 and math.isfinite(half) else f"{mean:+.2f}"


def majority_test_score(folder: Path) -> float:
    """The held-out score of always predicting the most common class of the search's own train rows (NaN
    for regression): a finalist at this score has not learned the task. The splits are the search's, read
    from its resolved space (data folder, rows, seed)."""
    from collections import Counter

    import numpy as np

    from search.run.driver import space_to_resume
    from search.tasks import get_task
    from search.tasks.loading import load_splits
    from search.tasks.metrics import compute_score

    space, _ = space_to_resume(folder)
    spec, data = get_task(space.task), space.data
    if spec.is_regression:
        return math.nan
    splits = load_splits(spec, data.dir, train_split=data.train_split,
                         val_split=None if data.val_from_train else data.val_split, limit_train=data.limit_train,
                         limit_val=data.limit_val, seed=space.train.seed, test_split=data.test_split,
                         limit_test=data.limit_test, val_from_train=data.val_from_train)
    majority = Counter(e.label for e in splits["train"]).most_common(1)[0][0]
    labels = np.array([e.label for e in splits["test"]])
    return compute_score(spec, np.full(len(labels), majority), labels)[spec.metric_names[0]]


def print_task(task: str, folder: Path, seconds: str) -> None:
    """The per-finalist table over seeds and the two targets on confirmed means."""
    import pandas as pd

    from analysis.confirmation import SeedSummary, confirmation_trials, mean_val_score, summarise_seeds
    from analysis.loading import load_experiment

    exp = load_experiment(folder)
    every = _every_trial(exp)
    score, arms = exp.score_name, arm_labels(every)
    summaries = summarise_seeds(confirmation_trials(folder))
    by_arm = {arms.get(s.finalist, s.finalist): s for s in summaries}
    r8, r1 = by_arm.get("LoRA r=8"), by_arm.get("LoRA r=1")
    rows = [{"finalist": arms.get(s.finalist, s.finalist), "trial": s.finalist, "params": f"{s.adapter_params:,.0f}",
             f"val {score}": _cell(s.val_scores), f"test {score}": _cell(s.test_scores), "seeds": len(s.seeds),
             "test - LoRA r=8 (points, 95%)": _paired(s, r8), "test - LoRA r=1": _paired(s, r1)} for s in summaries]
    print(f"\n## {task}: {score}, {len(summaries)} finalists x {SEEDS} seeds{searched_rates(folder)}{seconds} ({folder})")
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"LoRA's selected trial (lowest val loss over every rank): {lora_selected_arm(every) or 'none'}")
    floor = majority_test_score(folder)
    learned = {s.finalist: not SeedSummary.spread(s.test_scores)[0] <= floor + 0.005 for s in summaries}
    if math.isfinite(floor):
        stuck = [arms.get(s.finalist, s.finalist) for s in summaries if SeedSummary.spread(s.test_scores)[0] <= floor + 0.005]
        print(f"majority-class test {score}: {floor:.4f}" + (f"; at it (not learned): {', '.join(stuck)}" if stuck else ""))
    tt = [s for s in summaries if s.method == "ttlora"]
    mean = {s.finalist: SeedSummary.spread(s.test_scores)[0] for s in summaries}
    mean_val = {s.finalist: mean_val_score(s) for s in summaries}  # picks, as export does (-inf: no val score)
    if r8 is not None and tt:
        best = max(tt, key=lambda s: (mean_val[s.finalist], -s.adapter_params))
        gap, ratio = 100 * (mean[best.finalist] - mean[r8.finalist]), r8.adapter_params / best.adapter_params
        met = gap >= -1.0 and ratio >= 7
        print(f"target 1 (TT-LoRA's best by mean val within 1 point of LoRA r=8 on test, >= 7x fewer): {'met' if met else 'missed'} "
              f"({gap:+.2f} points on mean test, {ratio:.1f}x fewer)"
              + ("" if learned[r8.finalist] else "; vacuous: LoRA r=8 is at the majority class"))
    small = [s for s in tt if s.adapter_params <= 10_000]
    if r1 is not None and small:
        best = max(small, key=lambda s: (mean_val[s.finalist], -s.adapter_params))
        gap = 100 * (mean[best.finalist] - mean[r1.finalist])
        print(f"target 2 (TT-LoRA's best by mean val at <= 10,000 params at or above LoRA r=1 on test): {'met' if gap >= 0 else 'missed'} "
              f"({gap:+.2f} points on mean test, {best.adapter_params:,.0f} vs {r1.adapter_params:,.0f} params)"
              + ("" if learned[r1.finalist] else "; vacuous: LoRA r=1 is at the majority class"))


def searched_rates(folder: Path) -> str:
    """How the search drew its trials, read from its resolved space through the typed loader: TT-LoRA's
    trials, the trials per LoRA rank, the precision, and TT-LoRA's alpha x lr when searched as one number."""
    from search.run.driver import space_to_resume
    from search.space.method_samples import method_samples

    space, _ = space_to_resume(folder)
    effective_lr, rate = space.searched_params()["effective_lr"], space.searched_params()["learning_rate"]
    product = f", TT-LoRA lr {rate.kind} {drawn_range(rate)}" if effective_lr.values == (None,) else \
        f", TT-LoRA alpha x lr searched as one number ({effective_lr.kind} {drawn_range(effective_lr)})"
    return (f", {space.num_samples} TT-LoRA trials (TT rank {drawn_range(space.searched_params()['rank'])}), "
            f"{method_samples(space, 'lora').draws} learning rate(s) per LoRA rank, {space.train.precision}{product}")


def drawn_range(spec: Any) -> str:
    """A searched row's range ("0.003-0.02"), or its values when it has no range."""
    return f"{spec.low}-{spec.high}" if spec.low is not None else str(list(spec.values))


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(SCALES["full"]), choices=list(SCALES["full"]))
    parser.add_argument("--scale", choices=list(SCALES), default="full")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--report-only", action="store_true", help="print the tables of an earlier run in --out")
    parser.add_argument("--head-lr", type=float, default=None,
                        help="the head's own learning rate for every method (default: the task's plan: "
                             "2e-2 for STS-B, else each trial's own rate)")
    parser.add_argument("--lora-samples", type=_positive_int, default=None,
                        help="learning rates sampled per LoRA rank (default: the plan's, 3 at full scale, "
                             "1 at small); each rank's selected trial is its lowest val loss among them")
    parser.add_argument("--precision", choices=["fp32", "bf16-mixed"], default=default_precision(),
                        help="train.precision of every trial (default: bf16-mixed on a CPU with bf16 in "
                             "hardware, 0.56-0.59x the seconds of fp32 per run here; else fp32)")
    parser.add_argument("--tt-samples", type=_positive_int, default=None,
                        help="TT-LoRA trials in the search (default: the plan's, 4 at full scale, 3 at small)")
    parser.add_argument("--tt-effective-lr", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                        help="search TT-LoRA's alpha x lr log-uniform in [LOW, HIGH] as one number (rate "
                             "derived per trial) instead of alpha and lr apart")
    parser.add_argument("--tt-lr", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                        help="TT-LoRA's learning rate log-uniform in [LOW, HIGH] (default: TTLORA_SPACE's)")
    parser.add_argument("--tt-ranks", type=_positive_int, nargs="+", default=None,
                        help="TT ranks drawn from (default 4; configurations above 10,000 params never drawn: "
                             "rank 5 adds 9,360 params on the 8x6x8x8x6x8 shape)")
    args = parser.parse_args()
    for flag, pair in (("--tt-effective-lr", args.tt_effective_lr), ("--tt-lr", args.tt_lr)):
        if pair is not None and not 0 < pair[0] < pair[1]:
            parser.error(f"{flag}: expected 0 < LOW < HIGH, got {pair}")
    if args.tt_effective_lr is not None and args.tt_lr is not None:
        parser.error("--tt-lr and --tt-effective-lr: give one (with --tt-effective-lr the rate is derived)")
    os.environ.update(bench_env())
    seconds: dict[str, str] = {}
    for task in args.tasks:
        folder = args.out / f"quality_{task}"
        if args.report_only:
            seconds[task] = ""
            continue
        plan = SCALES[args.scale][task]
        plan = plan if args.tt_samples is None else replace(plan, tt_samples=args.tt_samples)
        searched = run_search(plan, args.scale, args.out, args.lora_samples or plan.lora_samples, args.head_lr,
                              args.tt_effective_lr, args.precision, args.tt_lr, args.tt_ranks)
        (folder / "bench_scale").write_text(args.scale)
        confirmed = confirm(folder)
        seconds[task] = f", search {searched:.0f} s + confirmation {confirmed:.0f} s"
        import ray
        ray.shutdown()
    print(f"\n# bench_quality ({args.scale}): TT-LoRA vs LoRA r={'/'.join(map(str, LORA_RANKS[args.scale]))} "
          f"(MiniLM, query+value, CPU); finalists re-trained with {SEEDS} seeds")
    for task in args.tasks:
        folder = args.out / f"quality_{task}"
        if (folder / "confirm").is_dir():
            print_task(task, folder, seconds[task])
        else:
            print(f"\n## {task}: no confirmed experiment at {folder}")


if __name__ == "__main__":
    main()
