"""Front benchmark: which scheduler x searcher fills the compression-vs-accuracy front cheapest?

Three steps (each can run alone):

1. ``--record``: one real search with no scheduler (benchmarks/front_space.yaml: MiniLM offline, SST-2
   640/256 rows, 48 TT-LoRA configurations of 528..153,600 adapter parameters, up to 6 epochs each),
   about an hour on 2 cores; its compact copy (configs and per-epoch curves) replaces
   benchmarks/data/front_recording.json.
2. default: replay the committed recording (``ttsearch replay`` machinery: real Ray Tune schedulers and
   searchers, recorded curves instead of training) for every strategy and ``--seeds`` seeds; print,
   per strategy, trial-epochs, selected score and hypervolume, the trial-epochs needed to reach 95% of
   the whole recording's hypervolume, the hypervolume at equal trial-epochs, and the target check:
   the best new strategy reaches random + HyperBand's final hypervolume with at most 1/3 of its
   trial-epochs.
3. ``--live STRATEGY``: the check on real training: one search with that strategy and one with random +
   HyperBand on the recording's task and space, the same number of trials each; both tables.

    python benchmarks/bench_front.py                      # replays, about a minute per strategy
    python benchmarks/bench_front.py --record             # re-record (an hour), then replay
    python benchmarks/bench_front.py --grace-period 2     # the replays with the default first rung (the recording has 1)
    python benchmarks/bench_front.py --live banded:optuna_mo --live-samples 24
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"
SPACE = REPO / "benchmarks" / "front_space.yaml"
RECORDING = REPO / "benchmarks" / "data" / "front_recording.json"
OUT = Path("/tmp/ttsearch_bench_front")

PAPER = ("hyperband", "random", None)
# (scheduler, searcher, reduction factor; None = the space's 3): the paper's; ASHA, banded ASHA and
# multi-objective ASHA with random search; the model-based searchers without a scheduler and with them.
STRATEGIES = [("none", "random", None), PAPER, ("asha", "random", None), ("banded", "random", None),
              ("mo_asha", "random", None), ("mo_asha", "random", 2), ("mo_asha", "random", 6),
              ("none", "optuna_mo", None), ("banded", "optuna_mo", None), ("mo_asha", "optuna_mo", None),
              ("mo_asha", "optuna_mo", 6)]
TARGET_RATIO = 1 / 3


def label(strategy: tuple[str, str, float | None]) -> str:
    scheduler, searcher, eta = strategy
    return f"{searcher} + {scheduler}" + (f" (eta {eta:g})" if eta else "")


def env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0",
            "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}


def run_search(name: str, sets: list[str]) -> float:
    command = [sys.executable, "-m", "ttsearch", "run", str(SPACE), "--data-dir", str(DATA), "--set", f"name={name}",
               "--set", f"storage.path={OUT}"]
    for item in sets:
        command += ["--set", item]
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env(), check=True)
    return time.perf_counter() - started


def record() -> None:
    seconds = run_search("front_recording", [])
    from analysis.recording import recording_from_experiment

    recording, skipped = recording_from_experiment(OUT / "front_recording")
    recording.source = "benchmarks/front_space.yaml (recorded by benchmarks/bench_front.py --record)"
    recording.write(RECORDING)
    print(f"recorded {len(recording.trials)} trials, {recording.trial_epochs} trial-epochs in {seconds / 60:.1f} min "
          f"-> {RECORDING}" + (f"; left out: {skipped}" if skipped else ""))


def replays(seeds: int, grace_period: int | None = None) -> None:
    import logging

    import ray

    from search.replay.replay_search import full_hypervolume, replay, start_replay_ray
    from search.replay.summary import mean_value_at, summarise, summary_lines
    from vocab.front_volume import epochs_to_reach
    from vocab.recording import Recording

    recording = Recording.read(RECORDING)
    full_hv = full_hypervolume(recording)
    print(f"recording: {len(recording.trials)} configurations, {recording.trial_epochs} trial-epochs, "
          f"hypervolume {full_hv:.4f} (whole recording); searchers choose among the recorded configurations")
    logging.getLogger("ray").setLevel(logging.ERROR)
    start_replay_ray(1)
    results = {}
    for strategy in STRATEGIES:
        scheduler, searcher, eta = strategy
        started = time.perf_counter()
        results[strategy] = [replay(recording, scheduler, searcher, seed=s, reduction_factor=eta, grace_period=grace_period)
                              for s in range(seeds)]
        print(f"  replayed {label(strategy)}: {seeds} seeds in {time.perf_counter() - started:.0f} s", flush=True)
    ray.shutdown()
    for strategy, rs in results.items():  # one label per strategy in the summary table
        for r in rs:
            r.scheduler = label(strategy).split(" + ", 1)[1]
    flat = [r for rs in results.values() for r in rs]
    print("\n## Replays (mean ± sd over seeds; trial-epochs = epochs trained, all trials together)")
    print("\n".join(summary_lines(summarise(flat, full_hv), full_hv)))

    paper = results[PAPER]
    paper_epochs = statistics.fmean(r.trial_epochs for r in paper)
    budgets = sorted({round(paper_epochs * f) for f in (1 / 3, 1 / 2, 1.0)})
    print(f"\n## Equal trial-epochs: mean hypervolume after N trial-epochs (random + HyperBand spends {paper_epochs:.0f} "
          f"on average, ending at {statistics.fmean(r.hypervolume for r in paper):.4f}); then, per seed, the "
          "trial-epochs a strategy needs to reach that seed's random + HyperBand final hypervolume, as a share of "
          "HyperBand's")
    header = f"{'strategy':<30} " + " ".join(f"{'N=' + str(b):>10}" for b in budgets) + \
        f" {'reached':>8} {'share of HB epochs':>20}"
    print(header + "\n" + "-" * len(header))
    best = None
    for strategy, rs in results.items():
        shares = [epochs_to_reach(r.curve, hb.hypervolume) for r, hb in zip(rs, paper)]
        ratios = [e / hb.trial_epochs for e, hb in zip(shares, paper) if e is not None]
        cells = " ".join(f"{mean_value_at(rs, b):>10.4f}" for b in budgets)
        spread = f"{statistics.fmean(ratios):.2f} ± {statistics.stdev(ratios) if len(ratios) > 1 else 0:.2f}" \
            if ratios else "n/a"
        print(f"{label(strategy):<30} {cells} {len(ratios):>4}/{len(rs):<3} {spread:>20}")
        every_seed = len(ratios) == len(rs)
        if strategy != PAPER and strategy[0] != "none" and every_seed:
            mean = statistics.fmean(ratios)
            if best is None or mean < best[1]:
                best = (label(strategy), mean)
    if best is None:
        print("\ntarget: no new strategy reached random + HyperBand's final hypervolume on every seed: MISSED")
    else:
        verdict = "met" if best[1] <= TARGET_RATIO else "MISSED"
        print(f"\ntarget (reach random + HyperBand's final hypervolume with <= 1/3 of its trial-epochs, every seed): "
              f"best new strategy {best[0]} needs {best[1]:.2f} of them: {verdict}")


def live(strategy: str, samples: int) -> None:
    """Two real searches, the same trials each: ``strategy`` (scheduler:searcher) and random + HyperBand."""
    from analysis.hypervolume import experiment_hypervolume
    from analysis.loading import load_experiment

    scheduler, searcher = strategy.split(":")
    runs = {f"live_{scheduler}_{searcher}": (scheduler, searcher), "live_hyperband_random": PAPER[:2]}
    rows = []
    for name, (sched, srch) in runs.items():
        seconds = math.nan
        if (OUT / name).is_dir() and load_experiment(OUT / name).status == "finished":
            print(f"{name}: finished earlier, read as it is (delete {OUT / name} to run it again)")
        else:
            seconds = run_search(name, [f"scheduler.type={sched}", f"search.algorithm={srch}",
                                        f"num_samples={samples}"])
        exp = load_experiment(OUT / name)
        if math.isnan(seconds) and exp.meta and exp.meta.finished_unix:
            seconds = exp.meta.finished_unix - exp.meta.created_unix
        trials = exp.trials
        selected = trials.loc[trials["best_val_loss"].astype(float).idxmin()]
        rows.append((f"{srch} + {sched}", len(trials), int(trials["epochs"].sum()), float(selected["best_score"]),
                     float(selected["best_test_score"]), experiment_hypervolume(exp), seconds / 60))
    print(f"\n## Live: {samples} trials each, MiniLM / SST-2 (640 train, 256 validation), up to 6 epochs")
    header = (f"{'strategy':<24} {'trials':>6} {'trial-epochs':>12} {'selected val acc':>16} {'its test acc':>12} "
              f"{'hypervolume (val)':>17} {'minutes':>8}")
    print(header + "\n" + "-" * len(header))
    for name, count, epochs, val, test, hv, minutes in rows:
        print(f"{name:<24} {count:>6} {epochs:>12} {val:>16.4f} {test:>12.4f} {hv:>17.4f} {minutes:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="re-record the recording first (about an hour)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--no-replay", action="store_true")
    parser.add_argument("--grace-period", type=int, default=None,
                        help="the ASHA schedulers' first rung in the replays (default: the recording's, 1)")
    parser.add_argument("--live", metavar="SCHEDULER:SEARCHER", default=None)
    parser.add_argument("--live-samples", type=int, default=24)
    args = parser.parse_args()
    if args.record:
        record()
    if not args.no_replay:
        replays(args.seeds, args.grace_period)
    if args.live:
        live(args.live, args.live_samples)


if __name__ == "__main__":
    main()
