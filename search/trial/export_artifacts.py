"""The torch half of ``ttsearch export``: the chosen trial's adapter, and on request the merged model
and a PEFT LoRA adapter.

Any method's trial exports (``method``, a ``vocab.methods`` name): a PEFT baseline's adapter folder is
PEFT's own (``PeftModel.from_pretrained(base, path)`` loads it), BitFit's and full fine-tuning's hold
the trained tensors by parameter name (search/trial/baselines.py); ``--merged`` writes a plain model for
every method, ``--as-lora`` is TT-LoRA's (a LoRA trial's adapter already is one).

It takes what it needs (the trial's ``best_adapter/`` folder, the experiment's space, the trial id),
not analysis's tables: the CLI picks the trial with ``analysis`` and hands those over. The adapter
files are copied and self-checked with ``ttlora_core`` (checksum, keys, shapes). ``--merged`` and ``--as-lora`` rebuild the base model the way
the trainable does (same model, task head size, dtype, seed, pad token), load the adapter into it with
``ttlora_core.load_adapter``, and write ``save_pretrained`` / ``export_lora`` folders.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

from search.space.schema import SearchSpace
from search.trial.baselines import baseline_method
from vocab.errors import UsageError
from vocab.methods import METHODS

ADAPTER_OUT = "adapter"
MERGED_OUT = "merged"
LORA_OUT = "lora"


def copy_adapter(source: Path | None, trial_id: str, trial_dir: str, out_dir: Path,
                 check: Callable[[Path], None] | None = None) -> Path:
    """Copy the trial's best adapter folder ``source`` to ``out_dir/adapter`` and check it reads back
    (no model needed): ``check`` raises when it does not (default: a TT-LoRA adapter folder)."""
    from safetensors import SafetensorError

    from ttlora_core.adapter_io import AdapterError, read_adapter

    if source is None or not source.is_dir():
        raise UsageError(f"trial {trial_id} has no best_adapter/ in its checkpoints",
                         where=trial_dir, expected="a trial that finished at least one epoch")
    target = out_dir / ADAPTER_OUT
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    try:
        (check or read_adapter)(target)
    except (AdapterError, OSError, ValueError, SafetensorError) as exc:
        raise UsageError(f"the adapter of trial {trial_id} is damaged: {exc}", where=str(source)) from None
    return target


def trial_base_model(space: SearchSpace) -> tuple[Any, Any]:
    """The trainable's base model (same head size, dtype, seed, pad token) and tokenizer."""
    from transformers import AutoTokenizer

    from search.tasks import get_task, prepare_tokenizer
    from search.trial.model_cache import TrialModelSpec, load_base_model
    from search.trial.model_source import resolve_model_path

    model_path = resolve_model_path(space.model.name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    prepare_tokenizer(tokenizer)  # sets the pad token the trainable used (EOS for decoders without one)
    spec = TrialModelSpec(model_path, get_task(space.task).num_labels, space.model.dtype, space.train.seed, "cpu",
                          tokenizer.pad_token_id)
    return load_base_model(spec), tokenizer


def load_baseline_model(space: SearchSpace, adapter_dir: Path, method: str) -> tuple[Any, Any]:
    """The base model with a baseline's exported folder loaded: a ``PeftModel`` for PEFT methods."""
    model, tokenizer = trial_base_model(space)
    model = baseline_method(method).load_exported(model, adapter_dir)
    model.eval()
    return model, tokenizer


def load_model_with_adapter(space: SearchSpace, adapter_dir: Path) -> tuple[Any, Any]:
    """The trainable's base model (same head size, dtype, seed, pad token) with the TT-LoRA adapter loaded."""
    from ttlora_core import AdapterError, load_adapter

    model, tokenizer = trial_base_model(space)
    try:
        load_adapter(model, adapter_dir)
    except AdapterError as exc:
        raise UsageError(f"the adapter does not fit {space.model.name_or_path}: {exc}", where=str(adapter_dir)) from None
    model.eval()
    return model, tokenizer


def export_ttlora(space: SearchSpace, adapter_source: Path | None, trial_id: str, trial_dir: str, out_dir: Path,
                  merged: bool = False, as_lora: bool = False) -> list[str]:
    """A TT-LoRA trial's export: its adapter (always), a PEFT LoRA adapter (``as_lora``) and the merged
    model (``merged``); one line per folder written. ``space``: the experiment's resolved space."""
    lines = []
    adapter_dir = copy_adapter(adapter_source, trial_id, trial_dir, out_dir)
    lines.append(f"adapter: {adapter_dir}  (ttlora_core.load_adapter(model, path))")
    if not (merged or as_lora):
        return lines
    from ttlora_core import AdapterError, export_lora, unload

    model, tokenizer = load_model_with_adapter(space, adapter_dir)
    if as_lora:
        try:
            lora_dir = export_lora(model, out_dir / LORA_OUT)
        except AdapterError as exc:
            raise UsageError(str(exc), where="--as-lora", expected="a trial whose tensor shapes have a split point") from None
        tokenizer.save_pretrained(lora_dir)
        lines.append(f"PEFT LoRA adapter: {lora_dir}  (peft.PeftModel.from_pretrained(base, path))")
    if merged:
        plain = unload(model, merge=True)  # W0 + alpha * dW in the base weights, the trained head kept
        merged_dir = out_dir / MERGED_OUT
        plain.save_pretrained(merged_dir)
        tokenizer.save_pretrained(merged_dir)
        lines.append(f"merged model: {merged_dir}  (AutoModelForSequenceClassification.from_pretrained(path))")
    return lines


def export_baseline(space: SearchSpace, adapter_source: Path | None, trial_id: str, trial_dir: str, out_dir: Path,
                    merged: bool, as_lora: bool, method: str) -> list[str]:
    """A baseline trial's export: its adapter folder (always) and the merged model (``merged``)."""
    label = METHODS[method].label
    if as_lora:
        raise UsageError(f"--as-lora converts TT-LoRA adapters; trial {trial_id} is {label}",
                         where="--as-lora", expected="a TT-LoRA trial (a LoRA trial's adapter already is a PEFT LoRA folder)")
    adapter_dir = copy_adapter(adapter_source, trial_id, trial_dir, out_dir, baseline_method(method).check_folder)
    lines = [f"{label} adapter: {adapter_dir}  ({baseline_method(method).load_hint})"]
    if merged:
        model, tokenizer = load_baseline_model(space, adapter_dir, method)
        plain = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
        merged_dir = out_dir / MERGED_OUT
        plain.save_pretrained(merged_dir)
        tokenizer.save_pretrained(merged_dir)
        lines.append(f"merged model: {merged_dir}  (AutoModelForSequenceClassification.from_pretrained(path))")
    return lines
