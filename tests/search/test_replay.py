"""Replay on the committed recording (benchmarks/data/front_recording.json) through a real Ray runtime.

The recording is real: MiniLM on SST-2 rows, every trial trained to its own stop. Tests use its first
``SMALL`` trials, so each replay takes a few seconds (the SIGKILL-and-resume ones are marked slow:
about 40 s each). The replay of a live search's own recording
(same scheduler, same seed, same decisions) is in test_replay_live.py (slow: it trains).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from search.replay.replay_search import full_hypervolume, replay, replay_tuner, restore_replay_tuner
from tests.search.helpers import wait_until_quiet
from tests.search.test_bad_input import run_main
from vocab.experiment_folder import EXPERIMENT_META_FILE, RESOLVED_SPACE_FILE, ExperimentMeta
from vocab.recording import Recording

REPO = Path(__file__).resolve().parents[2]
RECORDING_FILE = REPO / "benchmarks" / "data" / "front_recording.json"
SMALL = 10


@pytest.fixture(scope="module")
def recording() -> Recording:
    full = Recording.read(RECORDING_FILE)
    return replace(full, trials=full.trials[:SMALL])


@pytest.fixture(scope="module")
def ray_session():
    import ray

    from search.replay.replay_search import start_replay_ray

    start_replay_ray(1)
    yield
    ray.shutdown()


def test_the_committed_recording_is_complete() -> None:
    full = Recording.read(RECORDING_FILE)
    assert len(full.trials) >= 48 and full.max_epochs == 6 and full.score_name == "accuracy"
    assert all(1 <= t.epochs <= 6 and t.adapter_params > 0 for t in full.trials)
    assert len({t.adapter_params for t in full.trials}) >= 10  # many sizes: a front to fill


def test_no_scheduler_replays_the_whole_recording(recording: Recording, ray_session: None) -> None:
    result = replay(recording, "none", "random", seed=3)
    assert result.trial_epochs == recording.trial_epochs
    assert result.epochs_by_record == {i: t.epochs for i, t in enumerate(recording.trials)}
    assert result.hypervolume == pytest.approx(full_hypervolume(recording))
    assert len(result.curve) == result.trial_epochs


@pytest.mark.parametrize(("scheduler", "searcher"), [("hyperband", "random"), ("asha", "random"),
                                                     ("banded", "optuna_mo"), ("mo_asha", "optuna")])
def test_replay_is_deterministic(recording: Recording, ray_session: None, scheduler: str, searcher: str) -> None:
    first = replay(recording, scheduler, searcher, seed=1, reduction_factor=2)
    again = replay(recording, scheduler, searcher, seed=1, reduction_factor=2)
    assert first.epochs_by_record == again.epochs_by_record and first.curve == again.curve
    assert first.trial_epochs <= recording.trial_epochs
    assert first.trial_epochs < recording.trial_epochs  # every scheduler here cuts trials of this recording
    assert set(first.epochs_by_record) == set(range(SMALL))  # the searcher chose each recorded configuration once


def _folder_epochs(experiment: Path) -> dict[int, int]:
    """record index -> epochs reported, from the trial folders Tune wrote."""
    out: dict[int, int] = {}
    for result_file in experiment.glob("*/result.json"):
        rows = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
        if rows:
            index = int(rows[0]["config"]["record_index"])
            assert index not in out, f"configuration {index} was trained twice"
            out[index] = len(rows)
    return out


_KILLABLE = """
import os, sys, time
from pathlib import Path
os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
from search.replay import replay_search
from vocab.recording import Recording
from dataclasses import replace
rec = Recording.read(sys.argv[1]); rec = replace(rec, trials=rec.trials[:int(sys.argv[5])])
half, marker = int(sys.argv[6]), Path(sys.argv[7])
record = replay_search._Events.on_trial_result
def slowed_after_half(self, *args, **kwargs):
    record(self, *args, **kwargs)
    if len(self.events) >= half:  # from here on each result holds the driver 3 s: the kill lands first
        marker.touch()
        time.sleep(3)
replay_search._Events.on_trial_result = slowed_after_half
replay_search.start_replay_ray(1)
tuner, _ = replay_search.replay_tuner(rec, sys.argv[2], "optuna_mo", 0, {"scheduler.reduction_factor": 2},
                                      storage=sys.argv[3], name=sys.argv[4], pace_s=0.4)
tuner.fit()
"""


@pytest.mark.slow
@pytest.mark.timeout(300)  # without the scheduler's memory a resumed HyperBand waits forever: fail, not hang
@pytest.mark.parametrize("scheduler", ["hyperband", "asha", "banded", "mo_asha"])
def test_resume_after_sigkill_keeps_the_scheduler_and_searcher_memory(recording: Recording, ray_session: None,
                                                                      tmp_path: Path, scheduler: str) -> None:
    """Kill a replay (driver and its Ray) half-way, resume it: no configuration runs twice, finished ones
    are not rerun, and every stop decision equals the uninterrupted replay's with the same seed."""
    tuner, _ = replay_tuner(recording, scheduler, "optuna_mo", 0, {"scheduler.reduction_factor": 2},
                            storage=str(tmp_path), name="whole")
    tuner.fit()
    uninterrupted = _folder_epochs(tmp_path / "whole")

    experiment = tmp_path / "killed"
    half, marker = sum(uninterrupted.values()) // 2, tmp_path / "half_reported"
    driver = subprocess.Popen([sys.executable, "-c", _KILLABLE, str(RECORDING_FILE), scheduler, str(tmp_path), "killed",
                               str(SMALL), str(half), str(marker)], cwd=REPO, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # kill once the driver has seen half of the results and some reached the folder (Tune syncs lazily)
        deadline = time.monotonic() + 180
        while not (marker.exists() and experiment.is_dir() and _folder_epochs(experiment)):
            assert driver.poll() is None, "the replay to kill ended on its own"
            if time.monotonic() > deadline:
                pytest.fail("the replay to kill made no progress in 180 s")
            time.sleep(0.2)
        wait_until_quiet(experiment)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    before = _folder_epochs(experiment)
    assert 0 < sum(before.values()) < sum(uninterrupted.values())

    restore_replay_tuner(recording, str(experiment), scheduler).fit()
    after = _folder_epochs(experiment)
    assert after == uninterrupted


def test_replay_refuses_a_folder_run_with_a_scheduler(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "hb"
    folder.mkdir()
    meta = ExperimentMeta(name="hb", space_file="x.yaml", model="m", model_family="bert", task="sst2",
                          score_name="accuracy", scheduler="hyperband", target_dims={"q": [4, 4]})
    (folder / EXPERIMENT_META_FILE).write_text(meta.to_json())
    (folder / RESOLVED_SPACE_FILE).write_text("name: hb\n")
    assert run_main(["replay", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "ran with scheduler 'hyperband'" in err and "scheduler: none" in err
    assert run_main(["replay", str(tmp_path / "missing")]) == 2
    assert "no such experiment folder or recording file" in capsys.readouterr().err
    assert run_main(["replay", str(RECORDING_FILE), "--scheduler", "bohb"]) == 2
    assert "bohb" in capsys.readouterr().err
    assert run_main(["replay", str(RECORDING_FILE), "--max-t", "9"]) == 2
    assert "exceeds the recorded epoch limit 6" in capsys.readouterr().err
    assert run_main(["replay", str(RECORDING_FILE), "--scheduler", "hyperband", "--grace-until-signal"]) == 2
    assert "--grace-until-signal" in capsys.readouterr().err
    assert run_main(["replay", str(RECORDING_FILE), "--scheduler", "asha", "--max-t", "2", "--grace-period", "3"]) == 2
    assert "scheduler.grace_period=3 exceeds the search's max_t=2" in capsys.readouterr().err


def test_a_shorter_replay_moves_the_recorded_first_rung_down_to_its_max_t(recording: Recording) -> None:
    """A recording made with the default first rung (2) replayed with --max-t 1: the rung follows the
    shorter budget (Ray's ASHA needs grace <= max_t) unless --grace-period is given."""
    from search.replay.replay_search import recording_space

    at_two = replace(recording, space_yaml=recording.space_yaml.replace("grace_period: 1", "grace_period: 2"))
    assert recording_space(at_two, {"scheduler.type": "asha"}).scheduler.grace_period == 2
    assert recording_space(at_two, {"scheduler.type": "asha", "scheduler.max_t": 1}).scheduler.grace_period == 1
    assert recording_space(at_two, {"scheduler.type": "asha", "scheduler.max_t": 3}).scheduler.grace_period == 2


def test_replay_command_prints_each_seed_and_a_summary(tmp_path: Path, recording: Recording, ray_session: None,
                                                       capsys: pytest.CaptureFixture) -> None:
    small = tmp_path / "small.json.gz"
    recording.write(small)
    assert run_main(["replay", str(small), "--scheduler", "asha", "--scheduler", "banded", "--seeds", "2",
                     "--reduction-factor", "2"]) == 0
    out = capsys.readouterr().out
    assert f"recording front_recording: {SMALL} configurations" in out
    assert "choose among the recorded configurations only" in out and "reference point: 1,769,472 params" in out
    assert out.count("random + asha ") == 3 and out.count("random + banded ") == 3  # 2 seeds + the summary
    assert Recording.read(small).trial_epochs == recording.trial_epochs


def _stuck_after_epoch_one(recording: Recording) -> Recording:
    """The recording with every trial predicting one class at epoch 1 and two from epoch 2 on: the
    situation seen on small MRPC splits (the recorded scores are kept; only the signal is set)."""
    trials = [replace(t, curve=[{**epoch, "val_classes_predicted": 1 if i == 0 else 2} for i, epoch in enumerate(t.curve)])
              for t in recording.trials]
    return replace(recording, trials=trials)


def test_grace_until_signal_in_a_replay_cuts_nothing_before_the_signal(recording: Recording, ray_session: None) -> None:
    """ASHA under Tune, on recorded curves: with grace 1 it cuts trials after epoch 1; waiting for the
    signal (epoch 2 for every trial here) no trial that trained 2 epochs is cut before its second."""
    stuck = _stuck_after_epoch_one(recording)
    plain = replay(stuck, "asha", "random", seed=1, reduction_factor=2, grace_period=1)
    waiting = replay(stuck, "asha", "random", seed=1, reduction_factor=2, grace_period=1, grace_until_signal=True)
    trained = {i: t.epochs for i, t in enumerate(stuck.trials)}
    assert any(plain.epochs_by_record[i] == 1 < trained[i] for i in trained)  # cut at the epoch-1 rung
    assert all(waiting.epochs_by_record[i] >= min(2, trained[i]) for i in trained)
    assert waiting.trial_epochs > plain.trial_epochs
    assert waiting.trial_epochs < stuck.trial_epochs  # the moved rung still cuts
