"""`ttsearch plan`: HyperBand brackets as Ray builds them, memory per trial and the GPU-fraction warning."""
from __future__ import annotations

import json
import math

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
def test_asha_rungs_are_the_epochs_rays_bracket_can_cut_at(max_t: int, grace: int, eta: float) -> None:
    """Ray's ASHA bracket decides at the first epoch >= each milestone, once an epoch; at max_t the trial
    ends whatever the rung says, so only milestones whose epoch is below max_t can cut."""
    from search.ray_compat.private_names import AshaBracket, asha_bracket_rungs

    milestones = [m for m, _ in asha_bracket_rungs(AshaBracket(grace, max_t, eta, 0))]
    assert asha_rungs(max_t, grace, eta) == sorted({math.ceil(m) for m in milestones if math.ceil(m) < max_t})


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
