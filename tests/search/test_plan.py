"""`ttsearch plan`: HyperBand brackets as Ray builds them, memory per trial and the GPU-fraction warning,
what the precision computes in."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from ray.tune.schedulers import HyperBandScheduler

from search.plan.space_plan import asha_rungs, hyperband_brackets
from tests.search.helpers import REPO_ROOT
from tests.search.test_bad_input import run_main


@pytest.mark.parametrize(("max_t", "eta"), [(9, 3), (20, 3), (3, 3), (27, 3), (16, 2)])
def test_brackets_match_rays_hyperband(max_t: int, eta: float) -> None:
    scheduler = HyperBandScheduler(metric="val_loss", mode="min", max_t=max_t, reduction_factor=eta)
    ours = {(b.bracket, b.trials, b.first_rung_epochs) for b in hyperband_brackets(max_t, eta)}
    theirs = {(s, scheduler._get_n0(s), scheduler._get_r0(s)) for s in range(scheduler._s_max_1)
              if scheduler._get_r0(s) > 0}
    assert ours == theirs


@pytest.mark.parametrize(("max_t", "grace", "eta"), [(4, 2, 3), (4, 1, 3), (9, 1, 3), (4, 1, 1.2), (4, 1, 1.5),
                                                   (3, 1, 2.5), (10, 2, 2), (2, 2, 3), (1, 1, 3), (30, 3, 1.7)])
def test_asha_rungs_are_the_epochs_at_which_rays_bracket_stops_a_trial(max_t: int, grace: int, eta: float) -> None:
    """Behaviour, not Ray's formula: four trials that score well at every epoch fill the rungs of a real
    ASHA bracket, then one that scores badly reports every epoch below max_t (at max_t the trial ends
    anyway); the epochs at which Ray answers STOP are the rungs the plan prints."""
    from ray.tune.schedulers import TrialScheduler

    from search.ray_compat.private_names import AshaBracket

    bracket = AshaBracket(grace, max_t, eta, 0)
    for good in range(4):
        for epoch in range(1, max_t + 1):
            bracket.on_result(SimpleNamespace(trial_id=f"good{good}"), epoch, 1.0)
    bad = SimpleNamespace(trial_id="bad")
    stops = [epoch for epoch in range(1, max_t) if bracket.on_result(bad, epoch, -1.0) == TrialScheduler.STOP]
    assert asha_rungs(max_t, grace, eta) == stops


def test_plan_json_has_memory_and_warns_for_a_small_gpu_fraction(capsys: pytest.CaptureFixture) -> None:
    args = ["plan", str(REPO_ROOT / "spaces" / "llama2_boolq.yaml"), "--json", "--gpu", "H100-80GB", "--set", "search.rank=5",
            "--set", "search.shape=[16,16,16,16,16,16]"]
    assert run_main([*args, "--set", "resources.gpu=0.5", "--set", "train.batch_size=8"]) == 0
    fits = json.loads(capsys.readouterr().out)
    assert fits["rows"][0]["tt_params"] == 112_640
    assert 12 * 2**30 < fits["memory_bytes"] < 40 * 2**30  # 7B bf16 weights (12.6 GiB) + activations
    assert fits["memory_warning"] is None
    assert run_main([*args, "--set", "resources.gpu=0.1", "--set", "train.batch_size=8"]) == 0
    squeezed = json.loads(capsys.readouterr().out)
    assert "resources.gpu = 0.1 of an H100-80GB" in squeezed["memory_warning"]


def test_plan_says_what_each_precision_computes_in(capsys: pytest.CaptureFixture) -> None:
    """The plan's precision line follows the trial's rule: fp32 stays in the model's dtype; bf16-mixed is
    bfloat16 on a CUDA GPU, and on this CPU exactly when it has bf16 in hardware."""
    from search.trial.training import cpu_has_native_bf16

    space = str(REPO_ROOT / "spaces" / "quickstart.yaml")
    assert run_main(["plan", space]) == 0
    assert "Precision: fp32: matmuls in the model's dtype (float32)" in capsys.readouterr().out
    assert run_main(["plan", space, "--set", "train.precision=bf16-mixed"]) == 0
    line = next(text for text in capsys.readouterr().out.splitlines() if text.startswith("Precision:"))
    assert line.startswith("Precision: bf16-mixed: matmuls in bfloat16 on a CUDA GPU, ")
    on_cpu = "bfloat16 (bf16 in hardware) on this machine's CPU" if cpu_has_native_bf16() else \
        "float32 (no bf16 in hardware: emulated bf16 would be slower) on this machine's CPU"
    assert on_cpu in line and line.endswith("(each trial reports compute_dtype)")


def test_plan_notes_a_confirm_top_that_its_finalists_do_not_use(capsys: pytest.CaptureFixture) -> None:
    """``confirm.top`` counts only with ``finalists: top``; otherwise a note (not an error: resolved spaces
    written by earlier versions may hold such a pair, and must still resume)."""
    space = str(REPO_ROOT / "spaces" / "quickstart.yaml")
    assert run_main(["plan", space, "--set", "confirm.top=3"]) == 0
    assert "Note: confirm.top is used with confirm.finalists: top only (this space: selected, so 3" in capsys.readouterr().out
    assert run_main(["plan", space, "--set", "confirm.top=3", "--set", "confirm.finalists=top"]) == 0
    assert "confirm.top" not in capsys.readouterr().out
