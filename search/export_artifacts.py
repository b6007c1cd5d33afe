"""The torch half of ``ttsearch export``: the chosen trial's adapter, and on request the merged model
and a PEFT LoRA adapter.

Any method's trial exports (``method``, a ``vocab.methods`` name): a PEFT baseline's adapter folder is
PEFT's own (``PeftModel.from_pretrained(base, path)`` loads it), BitFit's and full fine-tuning's hold
the trained tensors by parameter name (search/baselines.py); ``--merged`` writes a plain model for
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
from typing import Any

from search.space import SearchSpace
from vocab.errors import UsageError
from vocab.methods import METHODS, TTLORA

ADAPTER_OUT = "adapter"
MERGED_OUT = "merged"
LORA_OUT = "lora"


def copy_adapter(source: Path | None, trial_id: str, trial_dir: str, out_dir: Path, method: str = TTLORA) -> Path:
    """Copy the trial's best adapter folder ``source`` to ``out_dir/adapter`` and check it reads back
    (no model needed)."""
    from ttlora_core.adapter_io import AdapterError, read_adapter

    if source is None or not source.is_dir():
        raise UsageError(f"trial {trial_id} has no best_adapter/ in its checkpoints",
                         where=trial_dir, expected="a trial that finished at least one epoch")
    target = out_dir / ADAPTER_OUT
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    if method != TTLORA:
        check_baseline_folder(target, method, trial_id)
        return target
    try:
        read_adapter(target)
    except AdapterError as exc:
        raise UsageError(f"the adapter of trial {trial_id} is damaged: {exc}", where=str(source)) from None
    return target


def check_baseline_folder(target: Path, method: str, trial_id: str) -> None:
    """A baseline's exported folder reads back: PEFT's config and weights, or the trained tensors."""
    from safetensors import SafetensorError, safe_open

    from search.baselines import PEFT_WEIGHTS_FILE, TRAINED_TENSORS_FILE

    kind = METHODS[method].kind
    weights = target / (PEFT_WEIGHTS_FILE if kind == "peft" else TRAINED_TENSORS_FILE)
    try:
        if kind == "peft":
            from peft import PeftConfig

            PeftConfig.from_pretrained(str(target))
        with safe_open(str(weights), framework="pt") as handle:
            handle.keys()
    except (OSError, ValueError, SafetensorError) as exc:
        raise UsageError(f"the adapter of trial {trial_id} is damaged: {exc}", where=str(target)) from None


def trial_base_model(space: SearchSpace) -> tuple[Any, Any]:
    """The trainable's base model (same head size, dtype, seed, pad token) and tokenizer."""
    from transformers import AutoTokenizer

    from search.model_cache import TrialModelSpec, load_base_model
    from search.model_source import resolve_model_path
    from search.tasks import get_task, prepare_tokenizer

    model_path = resolve_model_path(space.model.name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    prepare_tokenizer(tokenizer)  # sets the pad token the trainable used (EOS for decoders without one)
    spec = TrialModelSpec(model_path, get_task(space.task).num_labels, space.model.dtype, space.train.seed, "cpu",
                          tokenizer.pad_token_id)
    return load_base_model(spec), tokenizer


def load_baseline_model(space: SearchSpace, adapter_dir: Path, method: str) -> tuple[Any, Any]:
    """The base model with a baseline's exported folder loaded: a ``PeftModel`` for PEFT methods."""
    from search.baselines import BaselineConfig, load_baseline

    model, tokenizer = trial_base_model(space)
    if METHODS[method].kind == "peft":
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir))
    else:
        load_baseline(model, BaselineConfig(method), adapter_dir)
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


def export_artifacts(space: SearchSpace, adapter_source: Path | None, trial_id: str, trial_dir: str,
                     out_dir: Path, merged: bool = False, as_lora: bool = False, method: str = TTLORA) -> list[str]:
    """Write the adapter (always) and the merged model / LoRA adapter (on request); return one line
    per folder written, for the CLI to print. ``space``: the experiment's resolved space."""
    if method != TTLORA:
        return export_baseline(space, adapter_source, trial_id, trial_dir, out_dir, merged, as_lora, method)
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
    """``export_artifacts`` for a baseline trial."""
    label = METHODS[method].label
    if as_lora:
        raise UsageError(f"--as-lora converts TT-LoRA adapters; trial {trial_id} is {label}",
                         where="--as-lora", expected="a TT-LoRA trial (a LoRA trial's adapter already is a PEFT LoRA folder)")
    adapter_dir = copy_adapter(adapter_source, trial_id, trial_dir, out_dir, method)
    how = ("peft.PeftModel.from_pretrained(base, path)" if METHODS[method].kind == "peft"
           else "search.baselines.load_baseline(base, BaselineConfig(method), path)")
    lines = [f"{label} adapter: {adapter_dir}  ({how})"]
    if merged:
        model, tokenizer = load_baseline_model(space, adapter_dir, method)
        plain = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
        merged_dir = out_dir / MERGED_OUT
        plain.save_pretrained(merged_dir)
        tokenizer.save_pretrained(merged_dir)
        lines.append(f"merged model: {merged_dir}  (AutoModelForSequenceClassification.from_pretrained(path))")
    return lines
