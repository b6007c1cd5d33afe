"""The first rung (issue 19, item 5): grace period 1, 2, 3, or 1 with ``grace_until_signal`` (the first
rung waits until some trial's validation predictions take more than one class), replayed on three
recordings with Tune's own schedulers and searchers (``ttsearch replay`` machinery; no training).

* SST-2: benchmarks/data/front_recording.json (48 trials, recorded before trials reported
  ``val_classes_predicted``): an epoch counts as one class when its val accuracy equals the recording's
  majority-class rate (the most common epoch-1 score, to 6 decimals); that is an inference, said so.
* MRPC: benchmarks/data/grace_recording_mrpc.json (benchmarks/grace_space_mrpc.yaml, ``--record mrpc``):
  the signal as the trials reported it.
* STS-B: benchmarks/data/grace_recording_stsb.json (benchmarks/grace_space_stsb.yaml, ``--record stsb``):
  regression, no classes: grace 1, 2 and 3 only, and no learners-lost count.
* Any other recording file by path, e.g. compare_effective_lr.py's SST-2 recordings, which report the
  signal.

Per (recording, strategy, first rung), mean ± sd over seeds: trial-epochs, the front's hypervolume,
trial-epochs to 95 % of the recording's hypervolume, the selected trial's val score, and **learners
lost**: trials the replay ended while every score so far sat within 1 point of the majority-class
score, though the recorded curve later rose above it (what a coin-toss first rung costs).

    python benchmarks/bench_grace.py --seeds 3
    python benchmarks/bench_grace.py --record stsb     # re-record STS-B (about 30 min on 2 cores), then replay
    python benchmarks/bench_grace.py --recordings benchmarks/data/effective_lr/*independent*.json  # other recordings
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_front import DATA, env  # noqa: E402
from benchmarks.dead_corner import STUCK_MARGIN, majority_rate  # noqa: E402
from search.replay.replay_search import ReplayResult  # noqa: E402
from vocab.experiment_folder import MetricKey  # noqa: E402
from vocab.recording import Recording  # noqa: E402

SST2 = REPO / "benchmarks" / "data" / "front_recording.json"
MRPC = REPO / "benchmarks" / "data" / "grace_recording_mrpc.json"
STSB = REPO / "benchmarks" / "data" / "grace_recording_stsb.json"
# what --record TASK runs, and where its recording goes
RECORDED = {task: (REPO / "benchmarks" / f"grace_space_{task}.yaml", REPO / "benchmarks" / "data" / f"grace_recording_{task}.json")
            for task in ("mrpc", "stsb")}
NAMED = {"sst2": SST2, "mrpc": MRPC, "stsb": STSB}
OUT = Path("/tmp/ttsearch_bench_grace")
STRATEGIES = [("mo_asha", "optuna_mo"), ("asha", "random")]  # the default, and plain ASHA
RUNGS = [(1, False), (2, False), (3, False), (1, True)]  # (grace_period, grace_until_signal)
CLASSES = MetricKey.VAL_CLASSES_PREDICTED.value


def majority_score(recording: Recording) -> float:
    """The majority-class score, by dead_corner's rule (the most common epoch-1 val score)."""
    return majority_rate(t.curve[0]["score"] for t in recording.trials)


def with_inferred_signal(recording: Recording) -> Recording:
    """Curves without ``val_classes_predicted`` get it from the score: 1 at the majority-class score."""
    if all(CLASSES in e for t in recording.trials for e in t.curve):
        return recording
    majority = majority_score(recording)
    trials = [replace(t, curve=[{**e, CLASSES: 1 if round(float(e["score"]), 6) == majority else 2} for e in t.curve])
              for t in recording.trials]
    return replace(recording, trials=trials)


def is_regression(recording: Recording) -> bool:
    """Regression trials report 0 classes (no majority class, every report is the signal)."""
    return all(int(e.get(CLASSES, -1)) == 0 for t in recording.trials for e in t.curve)


def learners_lost(recording: Recording, result: ReplayResult) -> int:
    """Trials ended while still at the majority-class score that the recording shows learning later."""
    floor = majority_score(recording) + STUCK_MARGIN  # above it: left the majority class
    lost = 0
    for index, epochs in result.epochs_by_record.items():
        scores = [float(e["score"]) for e in recording.trials[index].curve]
        if epochs < len(scores) and max(scores[:epochs]) <= floor < max(scores):
            lost += 1
    return lost


def record(task: str) -> None:
    """One search with no scheduler on ``task`` (mrpc or stsb); its compact recording replaces the task's."""
    space, target = RECORDED[task]
    started = time.perf_counter()
    command = [sys.executable, "-m", "ttsearch", "run", str(space), "--data-dir", str(DATA), "--set",
               f"storage.path={OUT}"]
    subprocess.run(command, cwd=REPO, env=env(), check=True)
    from analysis.recording import recording_from_experiment

    recording, skipped = recording_from_experiment(OUT / f"grace_recording_{task}")
    recording.source = f"benchmarks/{space.name} (recorded by benchmarks/bench_grace.py --record {task})"
    recording.write(target)
    print(f"recorded {len(recording.trials)} trials, {recording.trial_epochs} trial-epochs in "
          f"{(time.perf_counter() - started) / 60:.1f} min; left out: {skipped or 'none'}")


def spread(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4g} ± {sd:.2g}"


def replay_table(name: str, recording: Recording, seeds: int) -> None:
    from search.replay.replay_search import full_hypervolume, replay
    from search.replay.summary import REACH_FRACTION
    from vocab.front_volume import epochs_to_reach

    full_hv = full_hypervolume(recording)
    regression = is_regression(recording)
    stuck = sum(1 for t in recording.trials if int(t.curve[0].get(CLASSES, 2)) == 1)
    classes = "regression: no classes, so no signal rung and no learners lost" if regression else \
        f"majority-class score {majority_score(recording):.4f}, {stuck} trials at one class after epoch 1"
    print(f"\n## {name}: {len(recording.trials)} trials, {recording.trial_epochs} trial-epochs, {classes}; "
          f"hypervolume {full_hv:.4f}")
    header = (f"{'strategy':<22} {'first rung':<14} {'trial-epochs':>14} {'hypervolume':>16} {'epochs to 95%':>14} "
              f"{'reached':>7} {'selected val':>16} {'learners lost':>14}")
    print(header + "\n" + "-" * len(header), flush=True)
    for scheduler, searcher in STRATEGIES:
        for grace, until_signal in RUNGS:
            if regression and until_signal:
                continue
            results = [replay(recording, scheduler, searcher, seed=s, grace_period=grace,
                              grace_until_signal=until_signal or None) for s in range(seeds)]
            reach = [epochs_to_reach(r.curve, REACH_FRACTION * full_hv) for r in results]
            reached = [float(e) for e in reach if e is not None]
            rung = f"{grace} + signal" if until_signal else f"{grace}"
            print(f"{searcher + ' + ' + scheduler:<22} {rung:<14} {spread([r.trial_epochs for r in results]):>14} "
                  f"{spread([r.hypervolume for r in results]):>16} {spread(reached) if reached else 'never':>14} "
                  f"{len(reached):>3}/{seeds:<3} {spread([r.selected_score for r in results]):>16} "
                  f"{'n/a' if regression else spread([learners_lost(recording, r) for r in results]):>14}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--record", choices=sorted(RECORDED), help="Re-record a task's curves first (about 30 minutes).")
    parser.add_argument("--recordings", nargs="+", default=["sst2", "mrpc", "stsb"],
                        help="sst2, mrpc, stsb (the committed recordings) or paths of other recording files")
    args = parser.parse_args()
    if args.record:
        record(args.record)
    import logging

    import ray

    from search.replay.replay_search import start_replay_ray

    logging.getLogger("ray").setLevel(logging.ERROR)
    start_replay_ray(1)
    try:
        for name in args.recordings:
            path = NAMED.get(name, Path(name))
            recording = Recording.read(path)
            replay_table(f"{recording.task.upper()} ({path.name})", with_inferred_signal(recording), args.seeds)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
