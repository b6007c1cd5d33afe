"""Bad input exits with code 2 before Ray starts, names the file and field, and loses nothing."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from ttsearch.main import main

QUICKSTART = Path(__file__).resolve().parents[2] / "spaces" / "quickstart.yaml"


def run_main(args: list[str]) -> int:
    """The CLI's exit code (``main`` returns on success and exits on errors)."""
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture()
def storage(tmp_path: Path) -> Path:
    return tmp_path / "results"


def _run(storage: Path, shared_data_dir: Path, *extra: str) -> list[str]:
    return ["run", str(QUICKSTART), "--storage", str(storage), "--data-dir", str(shared_data_dir), *extra]


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        (["--set", "train.colour=red"], ["quickstart.yaml", "train.colour: unknown key"]),
        (["--set", "search.shape=[[16,16,16,16,16,16]]"],
         ["quickstart.yaml: search.shape", "16, 16, 16, 16, 16, 16", "384"]),
        (["--set", "search.shape=[[8,6,8,8,6,8],[7,7]]"], ["search.shape[1]", "7, 7"]),
        (["--set", "task=glue/nope"], ["nope", "mrpc"]),
        (["--set", "model.name_or_path=/nonexistent/model-folder"], ["model.name_or_path", "/nonexistent/model-folder"]),
        (["--set", "ttlora.targets=[no_such_module]"], ["ttlora.targets", "no_such_module"]),
        pytest.param(["--set", "resources.gpu=0.25"], ["resources.gpu: resources.gpu=0.25", "no CUDA GPU", "resources.gpu=0"],
                     marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")),
        (["--set", "ttlora.modules_to_save=[nope]"], ["quickstart.yaml: ttlora.modules_to_save", "'nope'"]),
        (["--set", "search.lr_schedule=cosine"], ["search.lr_schedule", "'cosine' is not one of linear, constant"]),
        (["--set", "search.warmup_ratio=[0.1, 1.0]"], ["search.warmup_ratio", "1.0 must be < 1"]),
        (["--set", "data.val_from_train=0.1", "--set", "data.val_split=validation"],
         ["data", "val_split and data.val_from_train"]),
        (["--set", "data.test_split=train"], ["share", "rows of 'train'"]),
        # baselines: an unknown method, a parameter of another method, targets PEFT cannot find
        (["--set", "baselines.adalora.rank=4"], ["quickstart.yaml", "baselines.adalora: unknown method",
                                                  "expected one of lora, vera, ia3, lokr, bitfit, full"]),
        (["--set", "baselines.bitfit.rank=4"], ["quickstart.yaml", "baselines.bitfit.rank: BitFit has no parameter 'rank'",
                                                 "its parameters: learning_rate"]),
        (["--set", "baselines.lora.shape=[16, 24, 24, 16]"], ["baselines.lora.shape: LoRA has no parameter 'shape'",
                                                               "rank, alpha, dropout"]),
        (["--set", "baselines.lora.targets=[q_proj]"], ["quickstart.yaml: baselines.lora.targets", "LoRA cannot adapt",
                                                        "expected module-name suffixes"]),
        (["--set", "baselines.vera.rank=0"], ["baselines.vera.rank", "below the minimum 1"]),
        (["--set", "baselines.lora.targets=re:(query"], ["baselines.lora.targets", "not a valid regular expression"]),
        (["--set", "ttlora.enabled=false"], ["ttlora.enabled is false and no baselines"]),
        (["--set", "model.dtype=bfloat16", "--set", "baselines.full={}"],
         ["baselines.full", "no float32 master copy", "model.dtype: float32"]),
    ],
)
def test_bad_space_exits_2_before_ray(storage: Path, shared_data_dir: Path, capsys: pytest.CaptureFixture,
                                      overrides: list[str], fragments: list[str]) -> None:
    assert_exits_2_before_ray(storage, shared_data_dir, capsys, overrides, fragments)


def assert_exits_2_before_ray(storage: Path, shared_data_dir: Path, capsys: pytest.CaptureFixture,
                              overrides: list[str], fragments: list[str]) -> None:
    """``ttsearch run`` quickstart with ``overrides`` exits 2, its error holds every fragment, and
    nothing was written (so no Ray started)."""
    assert run_main(_run(storage, shared_data_dir, *overrides)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    for fragment in fragments:
        assert fragment in err, err
    assert not storage.exists()


def test_malformed_yaml_and_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsearch: {rank: [4, 5}\n")
    assert run_main(["run", str(bad)]) == 2
    assert "bad.yaml: malformed YAML at line 2" in capsys.readouterr().err
    assert run_main(["plan", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: file not found" in capsys.readouterr().err


def test_missing_data_folder(storage: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "no-data-here"
    empty.mkdir()
    assert run_main(["run", str(QUICKSTART), "--storage", str(storage), "--data-dir", str(empty)]) == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "SST-2" in err
    assert not storage.exists()


def test_existing_experiment_needs_resume_and_is_not_touched(storage: Path, shared_data_dir: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    """An experiment folder that holds a search is refused without --resume; its files stay as they were."""
    experiment = storage / "quickstart"
    experiment.mkdir(parents=True)
    (experiment / "tuner.pkl").write_bytes(b"placeholder: Tuner.can_restore looks for this file")
    before = sorted(p.name for p in experiment.iterdir())
    assert run_main(_run(storage, shared_data_dir)) == 2
    err = capsys.readouterr().err
    assert "already holds a search" in err and "--resume" in err
    assert sorted(p.name for p in experiment.iterdir()) == before
    shutil.rmtree(experiment)
    assert run_main(_run(storage, shared_data_dir, "--resume")) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_resume_command_needs_an_experiment_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run_main(["resume", str(tmp_path)]) == 2
    assert "not an experiment folder" in capsys.readouterr().err


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
