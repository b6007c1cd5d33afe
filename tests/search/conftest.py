"""Fixtures of the end-to-end search tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.search.helpers import ONE_TRIAL_THREE_EPOCHS, run_cli, trial_dirs


@pytest.fixture(scope="session")
def uninterrupted_trial(tmp_path_factory: pytest.TempPathFactory, shared_data_dir: Path) -> Path:
    """The trial folder of one uninterrupted ``ONE_TRIAL_THREE_EPOCHS`` run: what a trial that crashed or
    was killed and then resumed must train again, epoch for epoch (run once per session)."""
    storage = tmp_path_factory.mktemp("uninterrupted")
    proc = run_cli(["run", "spaces/quickstart.yaml", "--data-dir", str(shared_data_dir), *ONE_TRIAL_THREE_EPOCHS,
                    "--storage", str(storage)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    (trial,) = trial_dirs(storage / "quickstart")
    return trial
