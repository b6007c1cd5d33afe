"""How each task's rows become model inputs: one ``Example`` (text_a, text_b, label) per row.

Every builder takes a row in the Hugging Face hub's field names and label ids (``nyu-mll/glue``,
``aps/super_glue``); the local-file reader converts the official GLUE/SuperGLUE files into the same
rows first, so a task has exactly one formulation whichever source the data came from.

Formulations (the text is also on each ``TaskSpec.formulation``):

- Single sentence (CoLA, SST-2): ``text_a = sentence``.
- Sentence pairs (MRPC, STS-B, RTE, MNLI, QNLI, QQP, CB, SuperGLUE RTE, BoolQ): the two texts in
  the dataset's order, encoded as a tokenizer pair ([CLS] a [SEP] b [SEP] for BERT-style models,
  plain concatenation for decoders). BoolQ is (question, passage) so that truncation, which cuts the
  longer text first, cuts the passage and keeps the question.
- COPA: one binary sequence-pair classification whose label says which choice is correct.
  ``text_a = premise + " What was the cause?"`` (question "cause") or ``" What happened as a
  result?"`` (question "effect"); ``text_b = "1: <choice1> 2: <choice2>"``; label 0 = choice 1,
  1 = choice 2. Both choices are in one sequence so the model can compare them, which a
  per-choice scoring head could not do with a plain sequence-classification head (what the
  LLaMA code path has).
- WSC: ``text_a = text``, ``text_b = 'Does "<span2_text>" refer to "<span1_text>"?'``; label 1 when
  the pronoun (span 2) refers to the noun phrase (span 1). Span texts, not indices, are used, so
  the ``wsc`` / ``wsc.fixed`` index corrections do not matter.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass
class Example:
    """One model input: a text or text pair and its label (class id, or a float for regression)."""

    text_a: str
    text_b: str | None
    label: int | float


Row = Mapping[str, Any]
ExampleBuilder = Callable[[Row], Example]


def single_sentence(field: str) -> ExampleBuilder:
    """Builder for single-sentence classification: ``text_a = row[field]``."""

    def build(row: Row) -> Example:
        return Example(text_a=str(row[field]), text_b=None, label=int(row["label"]))

    build.__qualname__ = f"single_sentence[{field}]"
    return build


def sentence_pair(field_a: str, field_b: str, regression: bool = False) -> ExampleBuilder:
    """Builder for sentence-pair tasks: ``(row[field_a], row[field_b])``; float label if regression."""

    def build(row: Row) -> Example:
        label = float(row["label"]) if regression else int(row["label"])
        return Example(text_a=str(row[field_a]), text_b=str(row[field_b]), label=label)

    build.__qualname__ = f"sentence_pair[{field_a},{field_b}]"
    return build


COPA_QUESTION_SUFFIX = {"cause": " What was the cause?", "effect": " What happened as a result?"}


def copa_example(row: Row) -> Example:
    """COPA as one pair classification: premise + question vs. both numbered choices."""
    question = str(row["question"])
    if question not in COPA_QUESTION_SUFFIX:
        raise ValueError(f"COPA question must be 'cause' or 'effect', got {question!r}")
    text_a = str(row["premise"]) + COPA_QUESTION_SUFFIX[question]
    text_b = f"1: {row['choice1']} 2: {row['choice2']}"
    return Example(text_a=text_a, text_b=text_b, label=int(row["label"]))


def wsc_example(row: Row) -> Example:
    """WSC as a yes/no pair: the passage vs. 'Does "<pronoun>" refer to "<noun phrase>"?'."""
    text_b = f'Does "{row["span2_text"]}" refer to "{row["span1_text"]}"?'
    return Example(text_a=str(row["text"]), text_b=text_b, label=int(row["label"]))


SINGLE_FORMULATION = "single sentence: text_a = {field}"
PAIR_FORMULATION = "sentence pair: (text_a, text_b) = ({a}, {b})"
BOOLQ_FORMULATION = (
    "sentence pair: (text_a, text_b) = (question, passage); truncation cuts the passage first; "
    "label 1 = True"
)
COPA_FORMULATION = (
    'binary pair classification: text_a = premise + " What was the cause?" (cause) or '
    '" What happened as a result?" (effect); text_b = "1: <choice1> 2: <choice2>"; '
    "label 0 = choice1 is correct, 1 = choice2"
)
WSC_FORMULATION = (
    'binary pair classification: text_a = text; text_b = \'Does "<span2_text>" refer to '
    '"<span1_text>"?\'; label 1 = True (the pronoun refers to the noun phrase)'
)
