"""The bad-input catalogue: every bad input we know of, each held to one rule.

``ttsearch`` run in-process on the input exits 2 in under 30 s, before Ray starts, printing no traceback
and under 2 KB, with a message that names the file or field (every fragment of the case) and nothing
already done lost (the storage folder is not created; a given file is left as it was).
``python -m tests.search.test_bad_input_catalogue`` prints the table (case, exit code, seconds, message).
"""
from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from tests.search.test_bad_input import QUICKSTART, run_main

REPO = Path(__file__).resolve().parents[2]
ALIAS_BOMB = """name: bomb
extends: {quickstart}
description: &a9 [&a0 [x, x, x, x, x, x, x, x, x, x], *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]
a1: &a1 [*a9, *a9, *a9, *a9, *a9, *a9, *a9, *a9, *a9, *a9]
a2: &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]
a3: &a3 [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]
a4: &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]
a5: &a5 [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]
"""
MAX_OUTPUT_BYTES = 2048
MAX_SECONDS = 30.0
ArgsMaker = Callable[[Path, Path], list[str]]  # (a fresh folder, the shared data folder) -> CLI arguments


@dataclass(frozen=True)
class BadInput:
    """One catalogued input: the CLI arguments it makes, and the fragments its message must hold."""

    name: str
    make_args: ArgsMaker
    fragments: tuple[str, ...]
    kept_files: tuple[str, ...] = field(default=())  # files (under the fresh folder) that must not change


def run_quickstart(*sets: str) -> ArgsMaker:
    """``run`` quickstart with ``--set`` overrides, storage under the fresh folder (must stay absent)."""
    overrides = [arg for item in sets for arg in ("--set", item)]
    return lambda tmp, data: ["run", str(QUICKSTART), "--storage", str(tmp / "results"), "--data-dir", str(data),
                              *overrides]


def plan_quickstart(*sets: str) -> ArgsMaker:
    return lambda tmp, data: ["plan", str(QUICKSTART), *[arg for item in sets for arg in ("--set", item)]]


def with_file(name: str, content: bytes | str, *command: str) -> ArgsMaker:
    """Writes ``content`` to ``name`` in the fresh folder, then runs ``command`` with its path last."""
    def make(tmp: Path, data: Path) -> list[str]:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return [*command, str(path)]
    return make


def bad_model_folder(tmp: Path, data: Path) -> list[str]:
    from transformers import BertConfig

    folder = tmp / "bad-model"
    BertConfig(hidden_size=30, num_attention_heads=4, num_hidden_layers=1, intermediate_size=8,
               vocab_size=50).save_pretrained(folder)
    return ["plan", str(QUICKSTART), "--set", f"model.name_or_path={folder}"]


def storage_is_a_file(tmp: Path, data: Path) -> list[str]:
    (tmp / "results").write_text("not a folder")
    return ["run", str(QUICKSTART), "--storage", str(tmp / "results"), "--data-dir", str(data)]


def existing_search(*extra: str) -> ArgsMaker:
    def make(tmp: Path, data: Path) -> list[str]:
        experiment = tmp / "results" / "quickstart"
        experiment.mkdir(parents=True)
        (experiment / "tuner.pkl").write_bytes(b"placeholder: Tuner.can_restore looks for this file")
        return ["run", str(QUICKSTART), "--storage", str(tmp / "results"), "--data-dir", str(data), *extra]
    return make


def resume_without_search(tmp: Path, data: Path) -> list[str]:
    return ["run", str(QUICKSTART), "--storage", str(tmp / "results"), "--data-dir", str(data), "--resume"]


def missing_data(tmp: Path, data: Path) -> list[str]:
    (tmp / "no-data-here").mkdir()
    return ["run", str(QUICKSTART), "--storage", str(tmp / "results"), "--data-dir", str(tmp / "no-data-here")]


def truncated_gzip(tmp: Path, data: Path) -> list[str]:
    whole = gzip.compress((REPO / "benchmarks" / "data" / "front_recording.json").read_bytes())
    (tmp / "cut.json.gz").write_bytes(whole[: len(whole) // 2])
    return ["replay", str(tmp / "cut.json.gz")]


def not_an_experiment(command: str) -> ArgsMaker:
    def make(tmp: Path, data: Path) -> list[str]:
        (tmp / "notes.txt").write_text("hello")
        return [command, str(tmp)]
    return make


RECORDING_WITH_EMPTY_CURVE = (
    b'{"format": "ttsearch-recording/1", "name": "x", "task": "sst2", "score_name": "accuracy", "model": "m", '
    b'"max_epochs": 2, "patience": 1, "full_params": 10, "trials": [{"trial_id": "a", "config": {}, '
    b'"adapter_params": 5, "stop_reason": "max_epochs", "curve": []}]}')

SPACE_CASES = [  # values in the space, through --set
    BadInput("unknown key", run_quickstart("train.colour=red"), ("quickstart.yaml", "train.colour: unknown key")),
    BadInput("shape not the matrix size", run_quickstart("search.shape=[[16,16,16,16,16,16]]"),
             ("quickstart.yaml: search.shape", "16, 16, 16, 16, 16, 16", "384")),
    BadInput("second shape wrong", run_quickstart("search.shape=[[8,6,8,8,6,8],[7,7]]"), ("search.shape[1]", "7, 7")),
    BadInput("unknown task", run_quickstart("task=glue/nope"), ("nope", "mrpc")),
    BadInput("missing model folder", run_quickstart("model.name_or_path=/nonexistent/model-folder"),
             ("model.name_or_path", "/nonexistent/model-folder")),
    BadInput("unknown target", run_quickstart("ttlora.targets=[no_such_module]"), ("ttlora.targets", "no_such_module")),
    BadInput("unknown saved module", run_quickstart("ttlora.modules_to_save=[nope]"),
             ("quickstart.yaml: ttlora.modules_to_save", "'nope'")),
    BadInput("unknown lr schedule", run_quickstart("search.lr_schedule=cosine"),
             ("search.lr_schedule", "'cosine' is not one of linear, constant")),
    BadInput("warmup ratio 1", run_quickstart("search.warmup_ratio=[0.1, 1.0]"), ("search.warmup_ratio", "1.0 must be < 1")),
    BadInput("two validation sources", run_quickstart("data.val_from_train=0.1", "data.val_split=validation"),
             ("data", "val_split and data.val_from_train")),
    BadInput("test split is train", run_quickstart("data.test_split=train"), ("share", "rows of 'train'")),
    BadInput("unknown method", run_quickstart("baselines.adalora.rank=4"),
             ("quickstart.yaml", "baselines.adalora: unknown method", "expected one of lora, vera, ia3, lokr, bitfit, full")),
    BadInput("parameter of another method", run_quickstart("baselines.bitfit.rank=4"),
             ("baselines.bitfit.rank: BitFit has no parameter 'rank'", "its parameters: learning_rate")),
    BadInput("TT parameter on LoRA", run_quickstart("baselines.lora.shape=[16, 24, 24, 16]"),
             ("baselines.lora.shape: LoRA has no parameter 'shape'", "rank, alpha, dropout")),
    BadInput("targets PEFT cannot find", run_quickstart("baselines.lora.targets=[q_proj]"),
             ("quickstart.yaml: baselines.lora.targets", "LoRA cannot adapt", "expected module-name suffixes")),
    BadInput("rank 0", run_quickstart("baselines.vera.rank=0"), ("baselines.vera.rank", "below the minimum 1")),
    BadInput("bad target regex", run_quickstart("baselines.lora.targets=re:(query"),
             ("baselines.lora.targets", "not a valid regular expression")),
    BadInput("nothing to train", run_quickstart("ttlora.enabled=false"), ("ttlora.enabled is false and no baselines",)),
    BadInput("full fine-tuning in bf16", run_quickstart("model.dtype=bfloat16", "baselines.full={}"),
             ("baselines.full", "no float32 master copy", "model.dtype: float32")),
    BadInput("unknown search algorithm", run_quickstart("search.algorithm=bohb"),
             ("search.algorithm", "unknown search algorithm 'bohb'", "random, optuna, optuna_mo")),
    BadInput("max_params below every size", run_quickstart("search.max_params=1000"),
             ("quickstart.yaml: search.max_params", "below every TT-LoRA configuration", "6,144")),
    BadInput("negative max_params", run_quickstart("search.max_params=-5"), ("search.max_params", "positive parameter count")),
    BadInput("bands miss a size", run_quickstart("scheduler.type=banded", "scheduler.bands=[7000, 50000]"),
             ("quickstart.yaml: scheduler.bands", "outside every band: 6,144", "from at most 6,144 to at least 39,936")),
    BadInput("bands not ascending", run_quickstart("scheduler.type=banded", "scheduler.bands=[0, 50000, 20000]"),
             ("scheduler.bands", "strictly ascending")),
    BadInput("one band edge", run_quickstart("scheduler.type=banded", "scheduler.bands=[1000]"),
             ("scheduler.bands", "at least two edges")),
    BadInput("unknown scheduler", run_quickstart("scheduler.type=bohb"), ("scheduler.type", "hyperband", "banded")),
    BadInput("Optuna with baselines", run_quickstart("search.algorithm=optuna", "baselines.lora={}"),
             ("quickstart.yaml: search.algorithm", "also has baselines (lora)", "TT-LoRA-only")),
    BadInput("multi-objective Optuna with a grid", run_quickstart("search.algorithm=optuna_mo", "search.alpha={grid: [4.0, 8.0]}"),
             ("search.algorithm", "grid values", "search.alpha")),
    BadInput("max_t above max_epochs", run_quickstart("train.max_epochs=1"), ("scheduler.max_t", "exceeds train.max_epochs")),
    BadInput("first rung after max_t", run_quickstart("scheduler.max_t=2", "scheduler.grace_period=3"),
             ("quickstart.yaml", "scheduler.grace_period=3", "max_t=2", "at most 2")),
]

EDGE_CASES = [  # the table: numbers, booleans, names, sizes
    BadInput("alpha NaN", plan_quickstart("search.alpha=.nan"), ("quickstart.yaml", "search.alpha", "nan is not a finite number")),
    BadInput("learning rate inf", plan_quickstart("search.learning_rate=.inf"),
             ("search.learning_rate", "inf is not a finite number")),
    BadInput("range up to inf", plan_quickstart("search.learning_rate={loguniform: [1.0e-4, .inf]}"),
             ("search.learning_rate", "inf is not a finite number")),
    BadInput("weight decay NaN", plan_quickstart("train.weight_decay=.nan"), ("train.weight_decay", "finite number")),
    BadInput("warmup ratio NaN", plan_quickstart("train.warmup_ratio=.nan"), ("train.warmup_ratio", "finite number")),
    BadInput("reduction factor inf", plan_quickstart("scheduler.reduction_factor=.inf"),
             ("scheduler.reduction_factor", "finite number")),
    BadInput("baseline lr NaN", plan_quickstart("baselines.lora.learning_rate=.nan"),
             ("baselines.lora.learning_rate", "nan is not a finite number")),
    BadInput("batch size true", plan_quickstart("train.batch_size=true"), ("train.batch_size", "True is a boolean; expected int")),
    BadInput("num_samples false", plan_quickstart("num_samples=false"), ("num_samples", "False is a boolean")),
    BadInput("name ..", plan_quickstart("name=.."), ("quickstart.yaml", "name", "'..' is not a folder name of its own")),
    BadInput("name .", plan_quickstart("name=."), ("name", "'.' is not a folder name of its own")),
    BadInput("randint of ten million ranks", plan_quickstart("search.rank={randint: [1, 10000000]}"),
             ("search.rank", "randint over 9,999,999 integers", "at most 1,000")),
    BadInput("unknown finalists", plan_quickstart("confirm.finalists=best"), ("confirm.finalists", "'selected'")),
    BadInput("negative seeds", plan_quickstart("confirm.seeds=-1"), ("confirm.seeds", "greater than or equal to 0")),
    BadInput("YAML alias bomb", with_file("bomb.yaml", ALIAS_BOMB.format(quickstart=QUICKSTART), "plan"),
             ("bomb.yaml", "description", "characters)")),
    BadInput("space not UTF-8", with_file("latin1.yaml", QUICKSTART.read_bytes().replace(b"Quickstart", b"Quickst\xe4rt", 1),
                                          "plan"), ("latin1.yaml", "not UTF-8 text: byte 0xe4", "a UTF-8 YAML file")),
    BadInput("malformed YAML", with_file("bad.yaml", "name: x\nsearch: {rank: [4, 5}\n", "run"),
             ("bad.yaml: malformed YAML at line 2",)),
    BadInput("missing space file", lambda tmp, data: ["plan", str(tmp / "missing.yaml")], ("missing.yaml: file not found",)),
    BadInput("model config that builds no model", bad_model_folder,
             ("model.name_or_path", "does not build a bert model", "not a multiple of the number of attention heads")),
]

FILE_CASES = [  # folders and files given on the command line
    BadInput("storage is a file", storage_is_a_file, ("storage.path", "is a file", "a folder"), kept_files=("results",)),
    BadInput("missing data folder", missing_data, ("no-data-here", "SST-2")),
    BadInput("search exists, no --resume", existing_search(), ("already holds a search", "--resume"),
             kept_files=("results/quickstart/tuner.pkl",)),
    BadInput("--resume with nothing to resume", resume_without_search, ("nothing to resume",)),
    BadInput("resume of a folder that is not an experiment", not_an_experiment("resume"), ("not an experiment folder",)),
    BadInput("report of a folder that is not an experiment", not_an_experiment("report"), ("not an experiment folder",)),
    BadInput("confirm of a folder that is not an experiment", not_an_experiment("confirm"), ("not an experiment folder",)),
    BadInput("recording is a list", with_file("recording.json", b"[]", "replay"),
             ("recording.json", "not a readable ttsearch recording", "the document is a JSON list, not an object")),
    BadInput("recording without trials", with_file("recording.json", b'{"format": "ttsearch-recording/1", "name": "x"}',
                                                   "replay"), ("recording.json", "missing field(s)", "trials")),
    BadInput("recording with an empty curve", with_file("recording.json", RECORDING_WITH_EMPTY_CURVE, "replay"),
             ("recording.json", "trials[0].curve: expected a non-empty list")),
    BadInput("truncated gzip recording", truncated_gzip, ("cut.json.gz", "not a readable ttsearch recording")),
]

GPU_CASES = [] if torch.cuda.is_available() else [  # a GPU asked for where torch sees none
    BadInput("GPU share without a GPU", run_quickstart("resources.gpu=0.25"),
             ("resources.gpu: resources.gpu=0.25", "no CUDA GPU", "resources.gpu=0")),
]
CATALOGUE = [*SPACE_CASES, *EDGE_CASES, *FILE_CASES, *GPU_CASES]


@dataclass(frozen=True)
class Outcome:
    code: int
    seconds: float
    output: str  # stdout + stderr


def check_outcome(case: BadInput, outcome: Outcome, tmp: Path, before: dict[str, bytes]) -> None:
    output = outcome.output
    assert outcome.code == 2, output[-2000:]
    assert "Traceback" not in output and len(output.encode()) < MAX_OUTPUT_BYTES, output[:3000]
    assert outcome.seconds < MAX_SECONDS
    assert "error: " in output, output
    for fragment in case.fragments:
        assert fragment in output, output
    if not case.kept_files:
        assert not (tmp / "results").exists()  # nothing written: Ray never started
    assert {name: (tmp / name).read_bytes() for name in case.kept_files} == before


@pytest.mark.parametrize("case", CATALOGUE, ids=[case.name for case in CATALOGUE])
def test_a_bad_input_is_a_short_usage_error(case: BadInput, tmp_path: Path, shared_data_dir: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    args = case.make_args(tmp_path, shared_data_dir)
    before = {name: (tmp_path / name).read_bytes() for name in case.kept_files}
    started = time.monotonic()
    code = run_main(args)
    seconds = time.monotonic() - started
    captured = capsys.readouterr()
    check_outcome(case, Outcome(code, seconds, captured.out + captured.err), tmp_path, before)


def test_ls_of_a_folder_whose_meta_file_is_a_list(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Not a usage error: ``ls`` lists what it can and shows the damaged folder as such."""
    experiment = tmp_path / "exp"
    experiment.mkdir()
    (experiment / "ttsearch_experiment.json").write_text("[]")
    assert run_main(["ls", str(tmp_path)]) == 0
    output = capsys.readouterr()
    assert "Traceback" not in output.out + output.err and "exp" in output.out


def print_table() -> None:
    """The catalogue as a Markdown table: case, exit code, seconds, the message (its first 200 characters)."""
    import contextlib
    import io
    import tempfile

    from tests.conftest import SHARED_DATA

    print("| case | exit | s | message |\n|---|---|---|---|")
    for case in CATALOGUE:
        with tempfile.TemporaryDirectory() as folder:
            args = case.make_args(Path(folder), SHARED_DATA)
            out, err = io.StringIO(), io.StringIO()
            started = time.monotonic()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = run_main(args)
            seconds = time.monotonic() - started
            lines = [line.strip() for line in (err.getvalue() + out.getvalue()).splitlines() if "error" in line or
                     line.startswith(" ")]
            message = " ".join(lines).replace(folder, "TMP").replace(str(REPO) + "/", "").replace("|", "/")
            print(f"| {case.name} | {code} | {seconds:.2f} | {message[:200]} |")


if __name__ == "__main__":
    print_table()
