"""GLUE and SuperGLUE tasks for ttsearch: registry, data loading, tokenisation and metrics. No Ray.

Use::

    task = get_task("mrpc")                               # TaskSpec; aliases like "SST-2", "superglue/rte"
    data_dir = resolve_data_dir(cli_value, space_value)   # --data-dir > data.dir > $TTSEARCH_DATA_DIR > hub
    splits = load_splits(task, data_dir, limit_train=2000)            # {"train": [...], "validation": [...]}
    prepare_tokenizer(tokenizer, model.config)            # decoders: pad = EOS, right padding
    encoded = encode_splits(splits, tokenizer, max_length=128)       # once per experiment; ray.put it
    for batch in encoded["train"].batches(32, shuffle=True, seed=epoch): model(**batch)
    compute_score(task, logits, labels)                   # {"f1": ..., "accuracy": ..., ...}

Tasks (name: metric reported as the score, formulation):

GLUE (``nyu-mll/glue``; local ``glue/<Task>/{train,dev,test}.tsv``)
  - cola: Matthews correlation; single sentence.
  - sst2: accuracy; single sentence.
  - mrpc: binary F1 of "equivalent"; pair (sentence1, sentence2).
  - qqp: binary F1 of "duplicate"; pair (question1, question2).
  - stsb: Spearman; pair (sentence1, sentence2), regression head (num_labels=1) on the 0-5 score.
  - mnli: accuracy on validation_matched; pair (premise, hypothesis); 0/1/2 = entailment/neutral/contradiction.
  - qnli: accuracy; pair (question, sentence).
  - rte: accuracy; pair (sentence1, sentence2); 0/1 = entailment/not_entailment.

SuperGLUE (``aps/super_glue``; local ``superglue/<Task>/{train,val,test}.jsonl``)
  - boolq: accuracy; pair (question, passage); 1 = True. Only val exists locally: use
    ``train_split="val[:80%]", val_split="val[80%:]"``.
  - cb: macro F1 over entailment/contradiction/neutral (0/1/2); pair (premise, hypothesis).
  - copa: accuracy; one binary pair classification: text_a = premise + " What was the cause?" /
    " What happened as a result?", text_b = "1: <choice1> 2: <choice2>", label = correct choice (0/1).
  - wsc: binary F1 of label True; pair (text, 'Does "<span2>" refer to "<span1>"?').
  - superglue_rte: accuracy; pair (premise, hypothesis); 0/1 = entailment/not_entailment.

Test splits have no labels and are refused as train or validation data.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from search.tasks.formulations import Example
from search.tasks.loading import DATA_DIR_ENV, load_hub_split, load_splits, resolve_data_dir, subsample_indices
from search.tasks.local_files import LAYOUT_HELP
from search.tasks.registry import TASKS, LocalFormat, TaskSpec, get_task
from search.tasks.split_expr import SplitExpression, SplitSlice, canonical_split, parse_split_expression

if TYPE_CHECKING:
    from search.tasks.encoding import EncodedSplit, EncodedSplits, encode_split, encode_splits, prepare_tokenizer
    from search.tasks.metrics import compute_score, predictions_from

# torch (encoding) and scikit-learn/scipy (metrics) load on first use, so the registry and the
# loaders stay cheap to import (e.g. for `ttsearch plan`).
_LAZY = {
    "EncodedSplit": "search.tasks.encoding",
    "EncodedSplits": "search.tasks.encoding",
    "encode_split": "search.tasks.encoding",
    "encode_splits": "search.tasks.encoding",
    "prepare_tokenizer": "search.tasks.encoding",
    "compute_score": "search.tasks.metrics",
    "predictions_from": "search.tasks.metrics",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'search.tasks' has no attribute {name!r}")


__all__ = [
    "DATA_DIR_ENV",
    "LAYOUT_HELP",
    "TASKS",
    "EncodedSplit",
    "EncodedSplits",
    "Example",
    "LocalFormat",
    "SplitExpression",
    "SplitSlice",
    "TaskSpec",
    "canonical_split",
    "compute_score",
    "encode_split",
    "encode_splits",
    "get_task",
    "load_hub_split",
    "load_splits",
    "parse_split_expression",
    "predictions_from",
    "prepare_tokenizer",
    "resolve_data_dir",
    "subsample_indices",
]
