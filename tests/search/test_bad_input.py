"""Helpers of the bad-input tests (the cases are in ``test_bad_input_catalogue.py``), and the plan of the
quickstart space as it should read."""
from __future__ import annotations

from pathlib import Path

import pytest

from ttsearch.main import main

QUICKSTART = Path(__file__).resolve().parents[2] / "spaces" / "quickstart.yaml"


def run_main(args: list[str]) -> int:
    """The CLI's exit code (``main`` returns on success and exits on errors)."""
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_plan_quickstart(capsys: pytest.CaptureFixture) -> None:
    assert run_main(["plan", str(QUICKSTART), "--set", "scheduler.type=hyperband", "--set",
                     "scheduler.reduction_factor=2"]) == 0
    out = capsys.readouterr().out
    assert "12 matrices" in out and "LoRA r=8 = 73,728" in out
    # [8,6,8,8,6,8] rank 4 on 12 matrices of 384x384: (1*8*4 + 4*6*4 + 4*8*4*2 + 4*6*4 + 4*8*1) * 12 = 6,144
    assert "8x6x8x8x6x8" in out and "6,144" in out
    assert "10 trials per band" in out  # max_t 4, reduction factor 2
    assert "bracket s=0: up to 3 trials, no cut (full budget)" in out
    assert "bracket s=2: up to 4 trials, first cut after 1 epoch(s)" in out
