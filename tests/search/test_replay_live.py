"""A replay decides as the live search did (slow: real training): record a small search with no
scheduler, run the same space live with ASHA (same seed, one trial at a time) and replay ASHA on the
recording: every trial stops at the same epoch; the same with ``scheduler.grace_until_signal``. (A killed live search resuming with the same decisions:
test_resume_live.py, a file of its own so the two long tests can run on two test workers.)"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.search.helpers import SMALL_QUICKSTART, run_cli

pytestmark = pytest.mark.slow
QUICKSTART = "spaces/quickstart.yaml"
COMMON = [*SMALL_QUICKSTART, "--set", "num_samples=4", "--set", "train.max_epochs=3", "--set", "scheduler.max_t=3",
          "--set", "train.patience=3", "--set", "resources.max_concurrent_trials=1", "--set", "scheduler.reduction_factor=2",
          "--set", "search.algorithm=random",  # the quickstart's own is optuna_mo; the replay below is of random search
          "--set", "scheduler.grace_period=1",  # rungs at epochs 1 and 2 (the default, 2, has one): more decisions to match
          "--set", "resources.cpu=2"]  # one trial at a time: it may use both cores


def _epochs_by_config(experiment: Path) -> dict[str, int]:
    out = {}
    for result_file in experiment.glob("trial_*/result.json"):
        rows = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
        config = {k: v for k, v in rows[0]["config"].items() if not k.startswith("_")}
        out[json.dumps(config, sort_keys=True)] = len(rows)
    return out


def test_replay_makes_the_live_searches_stop_decisions(tmp_path: Path, shared_data_dir: Path) -> None:
    import ray

    from analysis.recording import recording_from_experiment
    from search.replay.replay_search import replay, start_replay_ray

    def run(name: str, scheduler: str, *extra: str) -> Path:
        proc = run_cli(["run", QUICKSTART, "--storage", str(tmp_path), "--data-dir", str(shared_data_dir), *COMMON,
                        "--set", f"name={name}", "--set", f"scheduler.type={scheduler}", *extra])
        assert proc.returncode == 0, proc.stderr[-3000:]
        return tmp_path / name

    recorded = run("recorded", "none")
    live = {(False, "asha"): _epochs_by_config(run("live_asha", "asha")),
            (True, "asha"): _epochs_by_config(run("live_signal", "asha", "--set", "scheduler.grace_until_signal=true"))}
    recording, skipped = recording_from_experiment(recorded)
    assert not skipped and len(recording.trials) == 4
    assert all(e["val_classes_predicted"] in (1, 2) for t in recording.trials for e in t.curve)  # kept for replays
    keys = [json.dumps({**t.config, "method": "ttlora"}, sort_keys=True) for t in recording.trials]
    start_replay_ray(1)
    try:
        for (until_signal, scheduler), live_epochs in live.items():
            replayed = replay(recording, scheduler, "random", seed=0,  # the live searches' seed
                              grace_until_signal=until_signal or None)
            assert {keys[i]: n for i, n in replayed.epochs_by_record.items()} == live_epochs, (scheduler, until_signal)
        assert sum(live[(False, "asha")].values()) < recording.trial_epochs  # ASHA did cut something here
    finally:
        ray.shutdown()
