"""Bad values at the edges of the schema: each is exit 2 with a short message that names the file and
the field, before Ray starts (``ttsearch plan`` and ``run``, in-process)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.search.test_bad_input import QUICKSTART, run_main

ALIAS_BOMB = """name: bomb
extends: {quickstart}
description: &a9 [&a0 [x, x, x, x, x, x, x, x, x, x], *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]
a1: &a1 [*a9, *a9, *a9, *a9, *a9, *a9, *a9, *a9, *a9, *a9]
a2: &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]
a3: &a3 [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]
a4: &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]
a5: &a5 [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]
"""


def _plan_exits_2(capsys: pytest.CaptureFixture, args: list[str], fragments: list[str]) -> str:
    started = time.monotonic()
    code = run_main(["plan", *args])
    seconds = time.monotonic() - started
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert code == 2, output[-2000:]
    assert "Traceback" not in output and len(output.encode()) < 2048, output[:3000]
    assert seconds < 30
    for fragment in fragments:
        assert fragment in output, output
    return output


@pytest.mark.parametrize(("override", "fragments"), [
    ("search.alpha=.nan", ["quickstart.yaml", "search.alpha", "nan is not a finite number"]),
    ("search.learning_rate=.inf", ["search.learning_rate", "inf is not a finite number"]),
    ("search.learning_rate={loguniform: [1.0e-4, .inf]}", ["search.learning_rate", "inf is not a finite number"]),
    ("train.weight_decay=.nan", ["train.weight_decay", "finite number"]),
    ("train.warmup_ratio=.nan", ["train.warmup_ratio", "finite number"]),
    ("scheduler.reduction_factor=.inf", ["scheduler.reduction_factor", "finite number"]),
    ("baselines.lora.learning_rate=.nan", ["baselines.lora.learning_rate", "nan is not a finite number"]),
    ("train.batch_size=true", ["train.batch_size", "True is a boolean; expected int"]),
    ("num_samples=false", ["num_samples", "False is a boolean"]),
    ("name=..", ["quickstart.yaml", "name", "'..' is not a folder name of its own"]),
    ("name=.", ["name", "'.' is not a folder name of its own"]),
    ("search.rank={randint: [1, 10000000]}", ["search.rank", "randint over 9,999,999 integers", "at most 1,000"]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_a_bad_value_is_a_usage_error(override: str, fragments: list[str], capsys: pytest.CaptureFixture) -> None:
    _plan_exits_2(capsys, [str(QUICKSTART), "--set", override], fragments)


def test_an_alias_bomb_is_not_printed_back(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    space = tmp_path / "bomb.yaml"
    space.write_text(ALIAS_BOMB.format(quickstart=QUICKSTART))
    _plan_exits_2(capsys, [str(space)], ["bomb.yaml", "description", "characters)"])


def test_a_space_file_that_is_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    space = tmp_path / "latin1.yaml"
    space.write_bytes(QUICKSTART.read_bytes().replace(b"Quickstart", b"Quickst\xe4rt", 1))
    _plan_exits_2(capsys, [str(space)], ["latin1.yaml", "not UTF-8 text: byte 0xe4", "a UTF-8 YAML file"])


def _cli_exits_2(capsys: pytest.CaptureFixture, args: list[str], fragments: list[str]) -> None:
    started = time.monotonic()
    code = run_main(args)
    seconds = time.monotonic() - started
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert code == 2 and "Traceback" not in output and len(output.encode()) < 2048, output[-3000:]
    assert seconds < 30
    for fragment in fragments:
        assert fragment in output, output


def test_a_model_folder_whose_config_cannot_build_a_model(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from transformers import BertConfig

    folder = tmp_path / "bad-model"
    BertConfig(hidden_size=30, num_attention_heads=4, num_hidden_layers=1, intermediate_size=8,
               vocab_size=50).save_pretrained(folder)
    _plan_exits_2(capsys, [str(QUICKSTART), "--set", f"model.name_or_path={folder}"],
                  ["model.name_or_path", "does not build a bert model", "not a multiple of the number of attention heads"])


def test_storage_that_is_a_file(tmp_path: Path, shared_data_dir: Path, capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    _cli_exits_2(capsys, ["run", str(QUICKSTART), "--storage", str(blocker), "--data-dir", str(shared_data_dir)],
                 ["storage.path", f"storage path {blocker} is a file", "a folder"])
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize(("content", "fragments"), [
    (b"[]", ["the document is a JSON list, not an object"]),
    (b'{"format": "ttsearch-recording/1", "name": "x"}', ["missing field(s)", "trials"]),
    (b'{"format": "ttsearch-recording/1", "name": "x", "task": "sst2", "score_name": "accuracy", "model": "m", '
     b'"max_epochs": 2, "patience": 1, "full_params": 10, "trials": [{"trial_id": "a", "config": {}, '
     b'"adapter_params": 5, "stop_reason": "max_epochs", "curve": []}]}', ["trials[0].curve: expected a non-empty list"]),
], ids=["list", "no-trials", "empty-curve"])
def test_replay_of_a_damaged_recording(content: bytes, fragments: list[str], tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    recording = tmp_path / "recording.json"
    recording.write_bytes(content)
    _cli_exits_2(capsys, ["replay", str(recording)], ["recording.json", "not a readable ttsearch recording", *fragments])


def test_replay_of_a_truncated_gzip(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "front_recording.json"
    import gzip

    whole = gzip.compress(source.read_bytes())
    truncated = tmp_path / "cut.json.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    _cli_exits_2(capsys, ["replay", str(truncated)], ["cut.json.gz", "not a readable ttsearch recording"])


def test_report_of_a_folder_that_is_not_an_experiment(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    _cli_exits_2(capsys, ["report", str(tmp_path)], [str(tmp_path), "not an experiment folder"])


def test_ls_of_a_folder_whose_meta_file_is_a_list(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    experiment = tmp_path / "exp"
    experiment.mkdir()
    (experiment / "ttsearch_experiment.json").write_text("[]")
    assert run_main(["ls", str(tmp_path)]) == 0
    output = capsys.readouterr()
    assert "Traceback" not in output.out + output.err and "exp" in output.out
