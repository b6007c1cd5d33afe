"""Searching alpha x lr as one number (``effective_lr``) against alpha and lr apart: which fills the front?

Issue 19, item 4. Per seed (0-3), two live searches on benchmarks/front_space.yaml (MiniLM offline, SST-2 640
train / 256 validation rows, TT-LoRA of 528..153,600 adapter parameters, random search, no scheduler:
every trial to its own early stop), the same number of trials each:

* ``independent``: the space as it is: alpha in {1, 4, 16}, lr log-uniform in [1e-3, 3e-2], so alpha x lr
  spans [0.001, 0.48];
* ``product``: the same alpha rows, ``effective_lr`` log-uniform in [0.005, 0.09] (below the corner the
  issue reports, alpha x lr >~ 0.09), each trial at lr = effective_lr / alpha.

A seed draws the same shapes, ranks and alphas, in the same order, in both arms: only the rates differ,
so the seeds pair.

Each search is kept as a recording (benchmarks/data/effective_lr/), so the tables re-print without
training. Printed: per arm and seed the trials, trial-epochs, stuck trials (predictions never took two
classes), the whole search's hypervolume and its selected trial (lowest val loss; held-out accuracy
when the folder is still there); random searches of k trials (k trials drawn from the arm's pooled
trials, many draws: mean ± sd of the hypervolume, and how often the product arm's draw beats the
independent arm's); and replays of the default strategy (MO-TPE + MO-ASHA) and random + ASHA on each
recording (``ttsearch replay``'s machinery).

    python benchmarks/compare_effective_lr.py --record          # 4 seeds x 2 arms x 24 trials, ~80 min on 2 cores
    python benchmarks/compare_effective_lr.py                   # the tables from the committed recordings
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.bench_front import run_search  # noqa: E402  (`ttsearch run` of the front benchmark's space)

RECORDINGS = REPO / "benchmarks" / "data" / "effective_lr"
OUT = Path("/tmp/ttsearch_bench_front")  # where bench_front.run_search writes
ARMS = {
    "independent": [],
    "product": ["search.learning_rate=null", "search.effective_lr={loguniform: [0.005, 0.09]}"],
}
SUBSET_SIZES = (8, 12, 16, 24)
SUBSET_DRAWS = 1000
REPLAYED = (("mo_asha", "optuna_mo"), ("asha", "random"))
REPLAY_SEEDS = 3


def folder_name(arm: str, seed: int) -> str:
    return f"effective_lr_{arm}_seed{seed}"


def record(seeds: list[int], samples: int) -> None:
    """One random search per arm and seed (skipped when its recording exists), kept as a recording."""
    from analysis.recording import recording_from_experiment

    RECORDINGS.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        for arm, sets in ARMS.items():
            target = RECORDINGS / f"{folder_name(arm, seed)}.json"
            if target.exists():
                print(f"{target.name}: recorded earlier (delete it to record again)")
                continue
            seconds = run_search(folder_name(arm, seed), [*sets, "search.algorithm=random", f"num_samples={samples}",
                                                          f"train.seed={seed}"])
            recording, skipped = recording_from_experiment(OUT / folder_name(arm, seed))
            recording.source = f"benchmarks/front_space.yaml, arm {arm}, seed {seed} (compare_effective_lr.py --record)"
            recording.write(target)
            print(f"{arm} seed {seed}: {len(recording.trials)} trials, {recording.trial_epochs} trial-epochs in "
                  f"{seconds / 60:.1f} min" + (f"; left out: {skipped}" if skipped else ""), flush=True)


def read_recordings() -> dict[str, list[tuple[int, object]]]:
    """arm -> [(seed, Recording)] of the committed recordings."""
    from vocab.recording import Recording

    found: dict[str, list[tuple[int, object]]] = {arm: [] for arm in ARMS}
    for arm in ARMS:
        for path in sorted(RECORDINGS.glob(f"effective_lr_{arm}_seed*.json")):
            found[arm].append((int(path.stem.rsplit("seed", 1)[1]), Recording.read(path)))
    return found


def alpha_lr(trial) -> float:
    return float(trial.config["alpha"]) * float(trial.config["learning_rate"])


def stuck(trial) -> bool:
    """The trial's validation predictions never took two classes."""
    return max(int(epoch.get("val_classes_predicted", 0)) for epoch in trial.curve) <= 1


def selected_test(arm: str, seed: int) -> float:
    """Held-out accuracy of the search's selected trial, from its folder (NaN when it is gone)."""
    from analysis import columns as col
    from analysis.loading import load_experiment

    folder = OUT / folder_name(arm, seed)
    if not folder.is_dir():
        return math.nan
    trials = load_experiment(folder).trials
    return float(trials.loc[trials[col.BEST_VAL_LOSS].astype(float).idxmin()][col.BEST_TEST_SCORE])


def search_table(found: dict[str, list[tuple[int, object]]]) -> None:
    from search.replay.replay_search import full_hypervolume

    print("\n## The searches (random search, every trial to its own early stop)")
    header = (f"{'arm':<12} {'seed':>4} {'trials':>6} {'trial-epochs':>12} {'alpha x lr':>14} {'stuck':>6} "
              f"{'hypervolume':>11} {'selected val acc':>16} {'its test acc':>12}")
    print(header + "\n" + "-" * len(header))
    for arm, recordings in found.items():
        for seed, rec in recordings:
            products = [alpha_lr(t) for t in rec.trials]
            best = min(rec.trials, key=lambda t: t.curve[-1]["best_val_loss"])  # the search's selected trial
            best_val = best.curve[-1]["best_score"]  # its score at its lowest val loss
            print(f"{arm:<12} {seed:>4} {len(rec.trials):>6} {rec.trial_epochs:>12} "
                  f"{min(products):>6.3f}-{max(products):<7.3f} {sum(map(stuck, rec.trials)):>6} "
                  f"{full_hypervolume(rec):>11.4f} {best_val:>16.4f} {selected_test(arm, seed):>12.4f}")
    by_seed = {arm: {seed: full_hypervolume(rec) for seed, rec in recs} for arm, recs in found.items()}
    paired = [by_seed["product"][s] - by_seed["independent"][s] for s in sorted(by_seed["product"])
              if s in by_seed["independent"]]
    if paired:
        print(f"hypervolume, product - independent, seed by seed: {', '.join(f'{d:+.4f}' for d in paired)} "
              f"(mean {statistics.fmean(paired):+.4f})")


def stuck_table(found: dict[str, list[tuple[int, object]]]) -> None:
    """Stuck / trials per adapter size and per alpha, each arm's trials pooled over seeds."""
    from benchmarks.dead_corner import SIZE_BINS

    pooled = {arm: [t for _, rec in recs for t in rec.trials] for arm, recs in found.items()}
    print("\n## Stuck trials (never two classes) / trials, pooled over seeds")
    print(f"{'adapter params / alpha':<24} " + " ".join(f"{arm:>12}" for arm in ARMS))
    groups = [(f"{low:,.0f}-{high:,.0f}", lambda t, low=low, high=high: low <= t.adapter_params < high)
              for low, high in zip(SIZE_BINS, SIZE_BINS[1:])]
    alphas = sorted({float(t.config["alpha"]) for trials in pooled.values() for t in trials})
    groups += [(f"alpha {a:g}", lambda t, a=a: float(t.config["alpha"]) == a) for a in alphas]
    for name, inside in groups:
        cells = []
        for trials in pooled.values():
            chosen = [t for t in trials if inside(t)]
            cells.append(f"{sum(map(stuck, chosen))}/{len(chosen)}")
        print(f"{name:<24} " + " ".join(f"{c:>12}" for c in cells))


def subset_hypervolumes(recordings: list[tuple[int, object]], k: int, rng: random.Random) -> list[float]:
    """Hypervolumes of ``SUBSET_DRAWS`` random searches of k trials drawn from the pooled trials."""
    from search.replay.replay_search import recording_reference
    from vocab.front_volume import hypervolume

    ref = recording_reference(recordings[0][1])
    points = [(t.adapter_params, t.curve[-1]["best_score"]) for _, rec in recordings for t in rec.trials]
    return [hypervolume(rng.sample(points, k), ref) for _ in range(SUBSET_DRAWS)]


def subset_table(found: dict[str, list[tuple[int, object]]]) -> None:
    print(f"\n## Random searches of k trials: {SUBSET_DRAWS} draws from each arm's pooled trials "
          "(hypervolume, mean ± sd; P = share of paired draws where product > independent)")
    header = f"{'k':>3} " + " ".join(f"{arm:>18}" for arm in ARMS) + f" {'P(product wins)':>16}"
    print(header + "\n" + "-" * len(header))
    for k in SUBSET_SIZES:
        if any(sum(len(r.trials) for _, r in recs) < k for recs in found.values()):
            continue
        draws = {arm: subset_hypervolumes(recs, k, random.Random(k)) for arm, recs in found.items()}
        wins = statistics.fmean(p > i for p, i in zip(draws["product"], draws["independent"]))
        cells = " ".join(f"{statistics.fmean(d):>9.4f} ± {statistics.stdev(d):<6.4f}" for d in draws.values())
        print(f"{k:>3} {cells} {wins:>16.2f}")


def replay_table(found: dict[str, list[tuple[int, object]]]) -> None:
    import logging

    import ray

    from search.replay.replay_search import replay, start_replay_ray

    logging.getLogger("ray").setLevel(logging.ERROR)
    start_replay_ray(1)
    print(f"\n## Replays on each recording ({REPLAY_SEEDS} replay seeds each; mean ± sd over recordings x seeds)")
    header = f"{'strategy':<22} {'arm':<12} {'runs':>4} {'trial-epochs':>16} {'hypervolume':>18} {'selected val acc':>18}"
    print(header + "\n" + "-" * len(header))
    for scheduler, searcher in REPLAYED:
        for arm, recordings in found.items():
            runs = [replay(rec, scheduler, searcher, seed=s) for _, rec in recordings for s in range(REPLAY_SEEDS)]
            print(f"{searcher + ' + ' + scheduler:<22} {arm:<12} {len(runs):>4} "
                  f"{spread([r.trial_epochs for r in runs], 1):>16} {spread([r.hypervolume for r in runs], 4):>18} "
                  f"{spread([r.selected_score for r in runs], 4):>18}", flush=True)
    ray.shutdown()


def spread(values: list[float], digits: int) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {sd:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="run the searches whose recordings are missing")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--samples", type=int, default=24, help="trials per search")
    parser.add_argument("--no-replay", action="store_true")
    args = parser.parse_args()
    if args.record:
        record(args.seeds, args.samples)
    found = read_recordings()
    if not all(found.values()):
        sys.exit(f"no recordings under {RECORDINGS}: run with --record")
    search_table(found)
    stuck_table(found)
    subset_table(found)
    if not args.no_replay:
        replay_table(found)


if __name__ == "__main__":
    main()
