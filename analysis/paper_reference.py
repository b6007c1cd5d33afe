"""Reported baselines from the TT-LoRA paper, drawn as labelled reference markers.

Source: A. Anjum, M. E. Eren, I. Boureima, B. Alexandrov, M. Bhattarai, "Tensor Train Low-rank
Approximation (TT-LoRA): Democratizing AI with Accelerated LLMs", arXiv:2408.01008 (2024), ICMLA 2024.
Table I (DeBERTa-base / RoBERTa-base on GLUE) and Table II (LLaMA-2-7B / LLaMA-3-8B on SuperGLUE)
compare TT-LoRA with LoRA, LoRETTA, Adapters, Prefix tuning and full fine-tuning.

These are numbers *reported in a paper*, not runs of ours; figures label them so.

``REPORTED_RESULTS`` is deliberately empty: the tables' values could not be retrieved from the
sources reachable while this was written (only the abstract was), and no number is entered here
without being read from the paper. To add them, append one ``ReportedResult`` per (method, model,
task) cell, quoting the table in ``source``; the figures pick them up by model family and task.
"""
from __future__ import annotations

from dataclasses import dataclass

PAPER_CITATION = (
    "Anjum et al., Tensor Train Low-rank Approximation (TT-LoRA): Democratizing AI with "
    "Accelerated LLMs, arXiv:2408.01008 (2024)"
)


@dataclass(frozen=True)
class ReportedResult:
    """One baseline cell of a paper table."""

    method: str  # "LoRA", "LoRETTA", "Adapters", "Prefix", "Full fine-tuning", ...
    model: str  # as printed, e.g. "DeBERTa-base"
    model_family: str  # matches ExperimentMeta.model_family: "deberta", "roberta", "llama", ...
    task: str  # matches ExperimentMeta.task (task registry name): "mrpc", "boolq", ...
    trainable_params: float  # as reported (e.g. 0.02M -> 20_000.0)
    score: float  # as a fraction in [0, 1] (the paper prints percent), same scale as our scores
    score_name: str  # "accuracy", "matthews_corrcoef", ...
    source: str  # table and citation, e.g. "Table I, " + PAPER_CITATION


REPORTED_RESULTS: tuple[ReportedResult, ...] = ()


def reference_points(model_family: str | None, task: str | None,
                     table: tuple[ReportedResult, ...] = REPORTED_RESULTS) -> list[ReportedResult]:
    """The reported baselines for this model family and task (case-insensitive); [] when unknown."""
    if not model_family or not task:
        return []
    family, task_name = model_family.lower(), task.lower()
    return [r for r in table if r.model_family.lower() == family and r.task.lower() == task_name]
