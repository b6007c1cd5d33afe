"""Scores and sizes reported in the TT-LoRA paper, drawn as labelled reference markers.

Source: A. Anjum, M. E. Eren, I. Boureima, B. Alexandrov, M. Bhattarai, "Tensor Train Low-rank
Approximation (TT-LoRA): Democratizing AI with Accelerated LLMs", arXiv:2408.01008 (2024), ICMLA 2024.

``REPORTED_RESULTS`` holds every (method, model, task) cell of two tables:

- Table I: GLUE dev scores of DeBERTa-base and RoBERTa-base, eight tasks, for TT-LoRA, full
  fine-tuning, LoRA (r=8, r=4), Adapters, BitFit, P-Tuning, Prefix, Prompt tuning and LoRETTA
  (adapter and reparameterised variants);
- Table II: SuperGLUE scores (CB, BoolQ, WSC, COPA) of LLaMA-2-7B (TT-LoRA against full fine-tuning,
  Adapters, LoRA r=8, Prefix, LoRETTA) and LLaMA-3-8B (TT-LoRA against LoRA r=8).

The rows the paper marks with * are numbers it takes from the LoRETTA paper (its reference [12]);
``from_loretta`` says so and ``source`` names it. Averages are not entered (they are not a task).
Numbers are read off the paper's tables (damaged cells resolved as the tests' copy of the tables
says); scores are fractions (the paper prints percent), parameter counts as printed (0.02M -> 20,000).

These are numbers *reported in a paper*, not runs of ours; figures label them so.
``reference_points`` picks the cells for an experiment: same family (transformers ``model_type``)
and task, and the rows whose ``model_ids`` match the experiment's model (none for a model the tables do
not hold), so a LLaMA-3-8B search gets Table II's LLaMA-3 cells and not LLaMA-2's.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

PAPER_CITATION = (
    "Anjum et al., Tensor Train Low-rank Approximation (TT-LoRA): Democratizing AI with "
    "Accelerated LLMs, arXiv:2408.01008 (2024)"
)
LORETTA_NOTE = "copied there from the LoRETTA paper (Yang et al. 2024)"


@dataclass(frozen=True)
class ReportedResult:
    """One cell of a paper table: a method's score on one task with one model, and its size."""

    method: str  # as the figure labels it: "LoRA r=8", "LoRETTA-adp", "Full fine-tuning", "TT-LoRA", ...
    model: str  # as printed, e.g. "DeBERTa-base"
    model_family: str  # transformers model_type, as ExperimentMeta.model_family: "deberta", "roberta", "llama"
    task: str  # task registry name (search/tasks/registry.py): "mrpc", "boolq", ...
    trainable_params: float  # as reported (e.g. 0.02M -> 20_000.0)
    score: float  # as a fraction in [0, 1] (the paper prints percent), same scale as our scores
    score_name: str  # the metric the paper reports for the column, in the registry's names
    source: str  # table and citation, e.g. "Table I, " + PAPER_CITATION
    table: str = ""  # "Table I" / "Table II": figures label a point "reported (Table I)"
    model_ids: tuple[str, ...] = ()  # hub ids and short names of the model, matched by reference_points
    method_key: str = ""  # the vocab.methods name when we run the same method ("lora", "bitfit", "full", "ttlora")
    from_loretta: bool = False  # a * row: the paper copies it from LoRETTA's paper
    note: str = ""  # what is doubtful about this cell, if anything


@dataclass(frozen=True)
class _Model:
    name: str
    family: str
    ids: tuple[str, ...]


DEBERTA = _Model("DeBERTa-base", "deberta", ("microsoft/deberta-base", "deberta-base"))  # v1: model_type "deberta"
ROBERTA = _Model("RoBERTa-base", "roberta", ("FacebookAI/roberta-base", "roberta-base"))
LLAMA2 = _Model("LLaMA-2-7B", "llama", ("meta-llama/Llama-2-7b-hf", "Llama-2-7b"))
LLAMA3 = _Model("LLaMA-3-8B", "llama", ("meta-llama/Meta-Llama-3-8B", "Llama-3-8B"))

# Method label -> vocab.methods name, where ttsearch runs the same method.
_METHOD_KEYS = {"TT-LoRA": "ttlora", "LoRA r=8": "lora", "LoRA r=4": "lora", "BitFit": "bitfit",
                "Full fine-tuning": "full"}

# The metric of each column (section IV-A/IV-B of the paper), in the registry's score names. They
# agree with the registry's score_name for every task: MRPC and QQP are F1 in both, MNLI is matched
# accuracy (the registry scores validation_matched), STS-B is Spearman ("spearmanr").
_GLUE_METRICS = {"mnli": "accuracy", "sst2": "accuracy", "mrpc": "f1", "cola": "matthews_corrcoef",
                 "qnli": "accuracy", "qqp": "f1", "rte": "accuracy", "stsb": "spearmanr"}
# CB: the paper says "F1" without an averaging; for three classes we read it as macro F1 (the
# registry's f1_macro, as SuperGLUE reports it). WSC: F1 (the registry's binary F1 of True).
_SUPERGLUE_METRICS = {"cb": "f1_macro", "boolq": "accuracy", "wsc": "f1", "copa": "accuracy"}

# Every Table II CB score is k/56 (CB's dev set has 56 examples) and most WSC scores k/104 (WSC's
# 104), which accuracy gives and F1 rarely does: these columns may hold accuracy. Kept as reported.
_SUPERGLUE_NOTES = {
    "cb": "the paper says F1, but the value is k/56 of CB's 56 dev examples: possibly accuracy",
    "wsc": "the paper says F1, but most WSC values are k/104 of its 104 dev examples: possibly accuracy",
}

# Table I, in the table's column order: (model, method, from LoRETTA, trainable params, scores in %).
_TABLE_I_TASKS = ("mnli", "sst2", "mrpc", "cola", "qnli", "qqp", "rte", "stsb")
_TABLE_I: tuple[tuple[_Model, str, bool, float, tuple[float, ...]], ...] = (
    (DEBERTA, "Full fine-tuning", True, 139.19e6, (88.67, 94.61, 91.98, 59.32, 93.04, 91.42, 68.23, 91.10)),
    (DEBERTA, "Adapters r=8", True, 0.94e6, (87.69, 94.72, 88.88, 54.19, 92.95, 85.52, 59.20, 89.68)),
    (DEBERTA, "LoRA r=8", True, 0.30e6, (87.30, 94.95, 92.84, 60.56, 93.35, 85.19, 80.14, 90.13)),
    (DEBERTA, "P-Tuning", True, 0.23e6, (56.25, 91.39, 79.93, 43.31, 86.30, 78.43, 55.95, 78.38)),
    (DEBERTA, "LoRA r=4", True, 0.15e6, (87.69, 94.49, 91.10, 62.57, 92.60, 87.30, 69.67, 91.12)),
    (DEBERTA, "Prefix", True, 0.15e6, (60.32, 88.87, 81.22, 45.82, 83.28, 82.22, 59.57, 84.99)),
    (DEBERTA, "BitFit", True, 0.10e6, (84.63, 95.41, 91.42, 64.06, 93.30, 84.15, 66.79, 90.23)),
    (DEBERTA, "LoRETTA-adp", True, 0.10e6, (85.93, 95.30, 93.53, 60.84, 92.99, 84.08, 75.50, 91.32)),
    (DEBERTA, "LoRETTA-rep", True, 0.05e6, (86.80, 95.53, 88.73, 59.69, 93.25, 89.2, 75.81, 90.66)),
    (DEBERTA, "Prompt", True, 0.01e6, (77.63, 92.43, 81.90, 32.99, 80.30, 78.15, 62.81, 56.71)),
    (DEBERTA, "TT-LoRA", False, 0.02e6, (83.1, 94.15, 90.68, 70.26, 91.01, 85.57, 75.09, 90.57)),
    (ROBERTA, "Full fine-tuning", True, 124e6, (86.27, 93.46, 88.97, 74.20, 91.49, 91.20, 77.61, 90.04)),
    (ROBERTA, "LoRA r=8", True, 0.63e6, (86.82, 94.01, 91.48, 62.08, 92.39, 85.71, 74.51, 90.48)),
    (ROBERTA, "BitFit", True, 0.10e6, (85.30, 94.80, 92.33, 62.70, 91.30, 68.10, 73.60, 88.50)),
    (ROBERTA, "LoRETTA-adp", True, 0.10e6, (85.61, 94.38, 91.08, 62.70, 92.12, 87.22, 78.70, 90.26)),
    # The printed average of this row is 86.00; its eight scores average 85.87. The scores are kept.
    (ROBERTA, "TT-LoRA", False, 0.02e6, (85.76, 93.57, 87.05, 72.82, 91.23, 88.06, 77.25, 91.23)),
)

# Table II, one column per (model, method), scores in the table's row order.
_TABLE_II_TASKS = ("cb", "boolq", "wsc", "copa")
_TABLE_II: tuple[tuple[_Model, str, bool, float, tuple[float, ...]], ...] = (
    (LLAMA2, "Full fine-tuning", True, 6738.42e6, (66.07, 84.6, 63.46, 86)),
    (LLAMA2, "Adapters", True, 50.33e6, (66.07, 71.8, 62.50, 84)),
    (LLAMA2, "LoRA r=8", True, 4.19e6, (67.86, 84.8, 62.50, 81)),
    (LLAMA2, "Prefix", True, 1.31e6, (51.78, 78.6, 61.53, 83)),
    (LLAMA2, "LoRETTA-rep", True, 0.51e6, (55.35, 78.1, 57.61, 86)),
    (LLAMA2, "LoRETTA-adp", True, 0.88e6, (66.07, 87.0, 63.46, 87)),
    (LLAMA2, "TT-LoRA", False, 0.1e6, (85.71, 86.78, 67.30, 81)),
    (LLAMA3, "LoRA r=8", False, 3.41e6, (71.43, 88.93, 63.46, 72)),
    (LLAMA3, "TT-LoRA", False, 0.2e6, (85.71, 88.13, 66.35, 77.99)),
)


def _cells(table: str, rows: tuple[tuple[_Model, str, bool, float, tuple[float, ...]], ...],
           tasks: tuple[str, ...], metrics: dict[str, str], notes: dict[str, str]) -> tuple[ReportedResult, ...]:
    """One ReportedResult per (row, task) of a table given as rows of percent scores."""
    cells = []
    for model, method, from_loretta, params, scores in rows:
        source = f"{table} ({LORETTA_NOTE}), {PAPER_CITATION}" if from_loretta else f"{table}, {PAPER_CITATION}"
        for task, percent in zip(tasks, scores, strict=True):
            cells.append(ReportedResult(
                method=method, model=model.name, model_family=model.family, task=task,
                trainable_params=float(round(params)), score=round(percent / 100, 6), score_name=metrics[task],
                source=source, table=table, model_ids=model.ids, method_key=_METHOD_KEYS.get(method, ""),
                from_loretta=from_loretta, note=notes.get(task, ""),
            ))
    return tuple(cells)


REPORTED_RESULTS: tuple[ReportedResult, ...] = (
    _cells("Table I", _TABLE_I, _TABLE_I_TASKS, _GLUE_METRICS, {})
    + _cells("Table II", _TABLE_II, _TABLE_II_TASKS, _SUPERGLUE_METRICS, _SUPERGLUE_NOTES)
)


def _normalised(name: str) -> str:
    """Lower-case letters and digits only: "Llama-2-7b-hf" and "llama2_7b" compare alike."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _last_component(model: str) -> str:
    return re.split(r"[/\\]", model.rstrip("/\\"))[-1]


def matches_model(result: ReportedResult, model: str) -> bool:
    """Whether ``model`` (a hub id or local folder) names this row's model: one of its ids, reduced
    to the last path component, appears in the model's last path component (case and -_. ignored)."""
    name = _normalised(_last_component(model))
    return bool(name) and any(_normalised(_last_component(i)) in name for i in result.model_ids)


def reference_points(model_family: str | None, task: str | None,
                     table: tuple[ReportedResult, ...] = REPORTED_RESULTS, *,
                     model: str | None = None) -> list[ReportedResult]:
    """The reported cells for this model family and task (case-insensitive); [] when unknown.

    With ``model`` (ExperimentMeta.model), only the family's rows of that model (LLaMA-3-8B gets
    Table II's LLaMA-3 columns, not LLaMA-2's), and none when no row matches it: the paper's numbers
    are shown only for the model they were reported for (RoBERTa-large is not RoBERTa-base).
    """
    if not model_family or not task:
        return []
    family, task_name = model_family.lower(), task.lower()
    rows = [r for r in table if r.model_family.lower() == family and r.task.lower() == task_name]
    if model:
        return [r for r in rows if matches_model(r, model)]
    return rows
