"""The task registry: GLUE and SuperGLUE tasks with their data sources, labels, metric and formulation.

Names are lower case. GLUE's RTE is ``rte``; SuperGLUE's copy of RTE (jsonl, premise/hypothesis) is
``superglue_rte``. ``get_task`` accepts common spellings: ``SST-2``, ``sts-b``, ``glue/rte``,
``superglue/rte``, ``super_glue/boolq``, ``wsc.fixed`` (case, ``-``, ``_``, ``/``, ``.`` ignored).

Metrics (``score_name``, higher is better, the one reported as the task metric) follow the
TT-LoRA paper: Matthews correlation for CoLA, Spearman for STS-B (regression head, one output),
F1 of the positive class for MRPC and QQP, macro F1 over the three classes for CB (as the
SuperGLUE leaderboard reports it), binary F1 of label True for WSC, matched-validation accuracy
for MNLI, accuracy for the rest. Accuracy is reported alongside for every classification task.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from search.tasks.formulations import (
    BOOLQ_FORMULATION,
    COPA_FORMULATION,
    PAIR_FORMULATION,
    SINGLE_FORMULATION,
    WSC_FORMULATION,
    ExampleBuilder,
    copa_example,
    sentence_pair,
    single_sentence,
    wsc_example,
)
from vocab.errors import UsageError

LabelKind = Literal["int", "float", "bool", "names"]


@dataclass(frozen=True)
class LocalFormat:
    """How one task's files look in the official GLUE (tsv) / SuperGLUE (jsonl) release.

    ``fields`` maps each hub field name to the local column: a header name, a column index (CoLA
    has no header) or a dotted path into a JSON object (WSC's ``target.span1_text``).
    ``label_kind`` says how the label cell is read: ``int``/``float``/``bool`` literally, or
    ``names`` (the cell is one of the task's ``label_names``, e.g. ``not_entailment``).
    """

    file_ext: Literal["tsv", "jsonl"]
    fields: tuple[tuple[str, str | int], ...]
    label_column: str | int
    label_kind: LabelKind
    has_header: bool = True


@dataclass(frozen=True)
class TaskSpec:
    """One benchmark task: where its data lives, its labels, its metric and how inputs are built.

    ``splits`` maps hub split names to local file stems (``validation`` -> ``dev`` in GLUE,
    ``val`` in SuperGLUE). Splits whose name starts with ``test`` carry no labels and are refused.
    ``num_labels == 1`` means regression (STS-B): a one-output head trained with MSE.
    """

    name: str
    benchmark: Literal["glue", "superglue"]
    hub_path: str
    hub_config: str
    local_dir: str  # relative to the data root, e.g. "glue/SST-2"
    num_labels: int
    score_name: str
    metric_names: tuple[str, ...]  # everything compute_score reports; score_name first
    label_names: tuple[str, ...]  # label id -> name (empty for regression)
    splits: tuple[tuple[str, str], ...]  # (hub split name, local file stem)
    train_split: str
    val_split: str
    formulation: str
    local_format: LocalFormat = field(repr=False)
    build_example: ExampleBuilder = field(repr=False, compare=False)
    short_name: str = ""  # name within its benchmark ("rte" for superglue_rte)
    metric_note: str = ""

    @property
    def is_regression(self) -> bool:
        return self.num_labels == 1

    @property
    def problem_type(self) -> str:
        """The value for ``model.config.problem_type`` in transformers."""
        return "regression" if self.is_regression else "single_label_classification"

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(hub for hub, _ in self.splits)

    def local_stem(self, hub_split: str) -> str:
        return dict(self.splits)[hub_split]

    @staticmethod
    def is_labelled_split(hub_split: str) -> bool:
        return not hub_split.startswith("test")


_GLUE_SPLITS = (("train", "train"), ("validation", "dev"), ("test", "test"))
_MNLI_SPLITS = (
    ("train", "train"),
    ("validation_matched", "dev_matched"),
    ("validation_mismatched", "dev_mismatched"),
    ("test_matched", "test_matched"),
    ("test_mismatched", "test_mismatched"),
)
_SUPERGLUE_SPLITS = (("train", "train"), ("validation", "val"), ("test", "test"))
_ENTAILMENT_2 = ("entailment", "not_entailment")
_BINARY_METRICS = ("f1", "accuracy", "matthews_corrcoef")


def _glue(
    name: str,
    folder: str,
    num_labels: int,
    score_name: str,
    metric_names: tuple[str, ...],
    label_names: tuple[str, ...],
    formulation: str,
    local_format: LocalFormat,
    build_example: ExampleBuilder,
    splits: tuple[tuple[str, str], ...] = _GLUE_SPLITS,
    val_split: str = "validation",
    metric_note: str = "",
) -> TaskSpec:
    return TaskSpec(
        name=name, benchmark="glue", hub_path="nyu-mll/glue", hub_config=name,
        local_dir=f"glue/{folder}", num_labels=num_labels, score_name=score_name,
        metric_names=metric_names, label_names=label_names, splits=splits, train_split="train",
        val_split=val_split, formulation=formulation, local_format=local_format,
        build_example=build_example, short_name=name, metric_note=metric_note,
    )


def _superglue(
    name: str,
    short_name: str,
    hub_config: str,
    folder: str,
    num_labels: int,
    score_name: str,
    metric_names: tuple[str, ...],
    label_names: tuple[str, ...],
    formulation: str,
    local_format: LocalFormat,
    build_example: ExampleBuilder,
    metric_note: str = "",
) -> TaskSpec:
    return TaskSpec(
        name=name, benchmark="superglue", hub_path="aps/super_glue", hub_config=hub_config,
        local_dir=f"superglue/{folder}", num_labels=num_labels, score_name=score_name,
        metric_names=metric_names, label_names=label_names, splits=_SUPERGLUE_SPLITS,
        train_split="train", val_split="validation", formulation=formulation,
        local_format=local_format, build_example=build_example, short_name=short_name,
        metric_note=metric_note,
    )


def _tsv(label_column: str | int, kind: LabelKind, *fields: tuple[str, str | int], header: bool = True) -> LocalFormat:
    return LocalFormat("tsv", tuple(fields), label_column, kind, has_header=header)


def _jsonl(kind: LabelKind, *fields: tuple[str, str]) -> LocalFormat:
    return LocalFormat("jsonl", tuple(fields), "label", kind)


def _pair_text(a: str, b: str) -> str:
    return PAIR_FORMULATION.format(a=a, b=b)


_ALL_TASKS: tuple[TaskSpec, ...] = (
    _glue("cola", "CoLA", 2, "matthews_corrcoef", ("matthews_corrcoef", "accuracy"),
          ("unacceptable", "acceptable"), SINGLE_FORMULATION.format(field="sentence"),
          _tsv(1, "int", ("sentence", 3), header=False), single_sentence("sentence")),
    _glue("sst2", "SST-2", 2, "accuracy", ("accuracy",), ("negative", "positive"),
          SINGLE_FORMULATION.format(field="sentence"),
          _tsv("label", "int", ("sentence", "sentence")), single_sentence("sentence")),
    _glue("mrpc", "MRPC", 2, "f1", _BINARY_METRICS, ("not_equivalent", "equivalent"),
          _pair_text("sentence1", "sentence2"),
          _tsv("Quality", "int", ("sentence1", "#1 String"), ("sentence2", "#2 String")),
          sentence_pair("sentence1", "sentence2"), metric_note="binary F1, positive class = equivalent (1)"),
    _glue("qqp", "QQP", 2, "f1", _BINARY_METRICS, ("not_duplicate", "duplicate"),
          _pair_text("question1", "question2"),
          _tsv("is_duplicate", "int", ("question1", "question1"), ("question2", "question2")),
          sentence_pair("question1", "question2"), metric_note="binary F1, positive class = duplicate (1)"),
    _glue("stsb", "STS-B", 1, "spearmanr", ("spearmanr", "pearsonr"), (),
          _pair_text("sentence1", "sentence2") + "; regression on the 0-5 similarity score",
          _tsv("score", "float", ("sentence1", "sentence1"), ("sentence2", "sentence2")),
          sentence_pair("sentence1", "sentence2", regression=True),
          metric_note="Spearman rank correlation of predicted vs. gold scores"),
    _glue("mnli", "MNLI", 3, "accuracy", ("accuracy", "f1_macro"), ("entailment", "neutral", "contradiction"),
          _pair_text("premise", "hypothesis"),
          _tsv("gold_label", "names", ("premise", "sentence1"), ("hypothesis", "sentence2")),
          sentence_pair("premise", "hypothesis"), splits=_MNLI_SPLITS, val_split="validation_matched",
          metric_note="accuracy on validation_matched"),
    _glue("qnli", "QNLI", 2, "accuracy", ("accuracy", "f1"), _ENTAILMENT_2,
          _pair_text("question", "sentence"),
          _tsv("label", "names", ("question", "question"), ("sentence", "sentence")),
          sentence_pair("question", "sentence")),
    _glue("rte", "RTE", 2, "accuracy", ("accuracy", "f1"), _ENTAILMENT_2,
          _pair_text("sentence1", "sentence2"),
          _tsv("label", "names", ("sentence1", "sentence1"), ("sentence2", "sentence2")),
          sentence_pair("sentence1", "sentence2")),
    _superglue("boolq", "boolq", "boolq", "BoolQ", 2, "accuracy", ("accuracy", "f1"), ("False", "True"),
               BOOLQ_FORMULATION, _jsonl("bool", ("question", "question"), ("passage", "passage")),
               sentence_pair("question", "passage")),
    _superglue("cb", "cb", "cb", "CB", 3, "f1_macro", ("f1_macro", "accuracy"),
               ("entailment", "contradiction", "neutral"), _pair_text("premise", "hypothesis"),
               _jsonl("names", ("premise", "premise"), ("hypothesis", "hypothesis")),
               sentence_pair("premise", "hypothesis"),
               metric_note="F1 macro-averaged over entailment/contradiction/neutral (SuperGLUE's CB F1)"),
    _superglue("copa", "copa", "copa", "COPA", 2, "accuracy", ("accuracy",), ("choice1", "choice2"),
               COPA_FORMULATION,
               _jsonl("int", ("premise", "premise"), ("choice1", "choice1"), ("choice2", "choice2"),
                      ("question", "question")),
               copa_example),
    _superglue("wsc", "wsc", "wsc.fixed", "WSC", 2, "f1", ("f1", "accuracy"), ("False", "True"),
               WSC_FORMULATION,
               _jsonl("bool", ("text", "text"), ("span1_text", "target.span1_text"),
                      ("span2_text", "target.span2_text"), ("span1_index", "target.span1_index"),
                      ("span2_index", "target.span2_index")),
               wsc_example, metric_note="binary F1, positive class = True (1)"),
    _superglue("superglue_rte", "rte", "rte", "RTE", 2, "accuracy", ("accuracy", "f1"), _ENTAILMENT_2,
               _pair_text("premise", "hypothesis"),
               _jsonl("names", ("premise", "premise"), ("hypothesis", "hypothesis")),
               sentence_pair("premise", "hypothesis")),
)

TASKS: dict[str, TaskSpec] = {task.name: task for task in _ALL_TASKS}


def _normalise(name: str) -> str:
    """Lower case without separators: 'SST-2' -> 'sst2', 'super_glue/rte' -> 'supergluerte'."""
    return re.sub(r"[\s_\-./:]", "", name.lower())


def _build_aliases() -> dict[str, str]:
    aliases: dict[str, str] = {}
    for task in _ALL_TASKS:
        folder = task.local_dir.split("/", 1)[1]
        spellings = {task.name, task.local_dir, f"{task.benchmark}/{task.short_name}",
                     f"{task.hub_path}/{task.hub_config}"}
        if task.benchmark == "superglue":
            spellings.add(f"super_glue/{task.short_name}")
        # Bare spellings ("RTE", "SST-2", "wsc.fixed") only where unambiguous: plain "rte" is GLUE's.
        if task.benchmark == "glue" or task.short_name == task.name:
            spellings |= {folder, task.hub_config}
        for spelling in spellings:
            key = _normalise(spelling)
            if aliases.setdefault(key, task.name) != task.name:
                raise AssertionError(f"task alias {spelling!r} is ambiguous")
    return aliases


_ALIASES = _build_aliases()


def get_task(name: str) -> TaskSpec:
    """The registry entry for ``name`` (any accepted spelling); UsageError listing known tasks."""
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"task name must be a non-empty string, got {name!r}", where="task",
                         expected="one of: " + ", ".join(TASKS))
    task_name = _ALIASES.get(_normalise(name))
    if task_name is None:
        raise UsageError(f"unknown task {name!r}", where="task", expected="one of: " + ", ".join(TASKS))
    return TASKS[task_name]
