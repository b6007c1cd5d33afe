"""The paper's Tables I and II in analysis.paper_reference: every cell equals the number in
the shared copy of the tables (tests/paper_tables.py; parsed, not copied a second time),
every row names a registered task and its metric, and lookups pick the right model's cells.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from analysis.paper_reference import REPORTED_RESULTS, ReportedResult, reference_points
from search.tasks.registry import TASKS
from tests.paper_tables import markdown_table, read_paper_tables

# How the shared tables spell a method, where analysis.paper_reference labels it otherwise.
MD_METHOD_LABELS = {"FT": "Full fine-tuning", "Adapter": "Adapters"}
MD_MODELS = {"DeBERTa-base": "DeBERTa-base", "RoBERTa-base": "RoBERTa-base", "L2-7B": "LLaMA-2-7B",
             "L3-8B": "LLaMA-3-8B"}

Cell = tuple[str, str, str]  # (model, method, task)


@pytest.fixture(scope="module")
def paper_tables(shared_data_dir: Path) -> str:
    return read_paper_tables(shared_data_dir)


def millions(text: str) -> float:
    assert text.endswith("M"), text
    return round(float(text[:-1]) * 1e6)


def method_label(printed: str) -> tuple[str, bool]:
    """("LoRA r=8", True) for "LoRA r=8*": the label and whether the paper copied the row."""
    starred = printed.endswith("*")
    name = printed.rstrip("*").strip()
    return MD_METHOD_LABELS.get(name, name), starred


def table_i_cells(text: str) -> dict[Cell, tuple[float, float, bool]]:
    """(model, method, task) -> (score %, params, starred) for Table I."""
    header, *rows = markdown_table(text, "## Table I:")
    tasks = [name.lower().replace("-", "") for name in header[2:-1]]  # drop "avg"
    cells = {}
    for row in rows:
        model = next(m for m in MD_MODELS if row[0].startswith(m + " "))
        method, starred = method_label(row[0][len(model):])
        for task, value in zip(tasks, row[2:-1], strict=True):
            cells[(MD_MODELS[model], method, task)] = (float(value), millions(row[1]), starred)
    return cells


def table_ii_cells(text: str) -> dict[Cell, tuple[float, float, bool]]:
    """Table II: one column per method, LLaMA-2-7B's unless the header names L3-8B."""
    header, *rows = markdown_table(text, "## Table II:")
    params = next(row for row in rows if row[0] == "trainable params")
    task_rows = [row for row in rows if row[0] not in ("avg", "trainable params")]
    cells = {}
    for column, printed in enumerate(header[1:], start=1):
        model = next((m for m in MD_MODELS if printed.startswith(m + " ")), "L2-7B")
        method, starred = method_label(printed.removeprefix(model).strip())
        for row in task_rows:
            cells[(MD_MODELS[model], method, row[0].lower())] = (float(row[column]), millions(params[column]), starred)
    return cells


def entered() -> dict[Cell, ReportedResult]:
    cells = {(r.model, r.method, r.task): r for r in REPORTED_RESULTS}
    assert len(cells) == len(REPORTED_RESULTS), "two rows for one (model, method, task)"
    return cells


@pytest.mark.parametrize(("table", "parse"), [("Table I", table_i_cells), ("Table II", table_ii_cells)])
def test_every_cell_equals_the_paper_tables(paper_tables: str, table: str, parse) -> None:
    expected = parse(paper_tables)
    assert len(expected) == {"Table I": 16 * 8, "Table II": 9 * 4}[table]  # the parse saw the whole table
    ours = {key: r for key, r in entered().items() if r.table == table}
    assert set(ours) == set(expected)
    for key, (percent, params, starred) in expected.items():
        result = ours[key]
        assert result.score == pytest.approx(percent / 100, abs=1e-9), key
        assert result.trainable_params == params, key
        assert result.from_loretta == starred and ("LoRETTA" in result.source) == starred, key
        assert result.source.startswith(table + " ") or result.source.startswith(table + ","), key
        assert "arXiv:2408.01008" in result.source


@pytest.mark.parametrize(("model", "method", "task", "score", "params"), [
    ("DeBERTa-base", "TT-LoRA", "cola", 0.7026, 20_000.0),
    ("DeBERTa-base", "LoRETTA-rep", "qqp", 0.892, 50_000.0),
    ("RoBERTa-base", "LoRA r=8", "mrpc", 0.9148, 630_000.0),
    ("RoBERTa-base", "Full fine-tuning", "stsb", 0.9004, 124_000_000.0),
    ("LLaMA-2-7B", "Prefix", "wsc", 0.6153, 1_310_000.0),
    ("LLaMA-3-8B", "TT-LoRA", "copa", 0.7799, 200_000.0),
])
def test_spot_cells_read_as_fractions_and_counts(model: str, method: str, task: str, score: float,
                                                 params: float) -> None:
    """A few cells by hand, so a parse that went wrong in the same way as the table cannot pass."""
    result = entered()[(model, method, task)]
    assert (result.score, result.trainable_params) == (pytest.approx(score), params)


def test_every_row_names_a_registered_task_and_its_metric() -> None:
    for result in REPORTED_RESULTS:
        assert result.task in TASKS, result
        # The paper's column metric is the registry's task metric (section IV-A/B; CB read as macro F1).
        assert result.score_name == TASKS[result.task].score_name, result
        assert 0 < result.score <= 1 and result.trainable_params > 0
        assert result.table in ("Table I", "Table II")
    assert {r.model_family for r in REPORTED_RESULTS} == {"deberta", "roberta", "llama"}


def test_roberta_mrpc_gets_lora_and_ttlora_and_minilm_gets_nothing() -> None:
    points = reference_points("roberta", "mrpc", model="FacebookAI/roberta-base")
    assert {r.model for r in points} == {"RoBERTa-base"}
    by_method = {r.method: r for r in points}
    assert {"LoRA r=8", "TT-LoRA"} <= set(by_method)
    assert by_method["TT-LoRA"].score == pytest.approx(0.8705) and by_method["TT-LoRA"].score_name == "f1"
    assert reference_points("ROBERTA", "MRPC") == points  # without a model id: the family's rows (one model)
    assert reference_points("bert", "sst2", model="sentence-transformers/all-MiniLM-L6-v2") == []
    assert reference_points("bert", "sst2") == [] and reference_points("roberta", "boolq") == []


def test_llama3_and_llama2_get_their_own_columns() -> None:
    llama3 = reference_points("llama", "boolq", model="meta-llama/Meta-Llama-3-8B")
    assert {r.model for r in llama3} == {"LLaMA-3-8B"} and {r.method for r in llama3} == {"LoRA r=8", "TT-LoRA"}
    llama2 = reference_points("llama", "boolq", model="/models/llama2-7b")  # a local folder, another spelling
    assert {r.model for r in llama2} == {"LLaMA-2-7B"} and len(llama2) == 7
    assert reference_points("llama", "boolq", model="meta-llama/Llama-2-7b-hf") == llama2
    # A model the tables do not hold (LLaMA 3.1, 13B, RoBERTa-large) gets none: the numbers are not its.
    assert reference_points("llama", "boolq", model="meta-llama/Llama-3.1-8B") == []
    assert reference_points("llama", "boolq", model="meta-llama/Llama-2-13b-hf") == []
    assert reference_points("roberta", "mrpc", model="FacebookAI/roberta-large") == []
    # Without a model id (an old experiment folder), the family's cells.
    assert len(reference_points("llama", "boolq")) == 9
