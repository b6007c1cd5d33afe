"""The torch half of ``ttsearch export``: the chosen trial's adapter, and on request the merged model
and a PEFT LoRA adapter.

It takes what it needs (the trial's ``best_adapter/`` folder, the experiment's space, the trial id),
not analysis's tables: the CLI picks the trial with ``analysis`` and hands those over. The adapter
files are copied and self-checked with ``ttlora_core`` (checksum, keys, shapes). ``--merged`` and ``--as-lora`` rebuild the base model the way
the trainable does (same model, task head size, dtype, seed, pad token), load the adapter into it with
``ttlora_core.load_adapter``, and write ``save_pretrained`` / ``export_lora`` folders.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from search.space import SearchSpace
from vocab.errors import UsageError

ADAPTER_OUT = "adapter"
MERGED_OUT = "merged"
LORA_OUT = "lora"


def copy_adapter(source: Path | None, trial_id: str, trial_dir: str, out_dir: Path) -> Path:
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
    try:
        read_adapter(target)
    except AdapterError as exc:
        raise UsageError(f"the adapter of trial {trial_id} is damaged: {exc}", where=str(source)) from None
    return target


def load_model_with_adapter(space: SearchSpace, adapter_dir: Path):  # -> (model, tokenizer)
    """The trainable's base model (same head size, dtype, seed, pad token) with the adapter loaded."""
    from transformers import AutoTokenizer

    from search.model_cache import TrialModelSpec, load_base_model
    from search.model_source import resolve_model_path
    from search.tasks import get_task, prepare_tokenizer
    from ttlora_core import AdapterError, load_adapter

    model_path = resolve_model_path(space.model.name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    prepare_tokenizer(tokenizer)  # sets the pad token the trainable used (EOS for decoders without one)
    spec = TrialModelSpec(model_path, get_task(space.task).num_labels, space.model.dtype, space.train.seed, "cpu",
                          tokenizer.pad_token_id)
    model = load_base_model(spec)
    try:
        load_adapter(model, adapter_dir)
    except AdapterError as exc:
        raise UsageError(f"the adapter does not fit {space.model.name_or_path}: {exc}", where=str(adapter_dir)) from None
    model.eval()
    return model, tokenizer


def export_artifacts(space: SearchSpace, adapter_source: Path | None, trial_id: str, trial_dir: str,
                     out_dir: Path, merged: bool = False, as_lora: bool = False) -> list[str]:
    """Write the adapter (always) and the merged model / LoRA adapter (on request); return one line
    per folder written, for the CLI to print. ``space``: the experiment's resolved space."""
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
