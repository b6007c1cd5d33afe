"""Newly initialised modules (DeBERTa's pooler) are trained and saved; bf16 models keep float32 masters."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForSequenceClassification, DebertaModel

from tests.ttlora_core.conftest import _tiny_config, build_tiny
from ttlora_core import TTLoRAConfig, apply_ttlora, export_lora, load_adapter, save_adapter, unload
from ttlora_core.targets import missing_keys_to_modules

CONFIG = TTLoRAConfig(cores=4, rank=2, init="gaussian", seed=3)


@pytest.fixture
def deberta_base_checkpoint(tmp_path: Path) -> Path:
    """A DeBERTa *base* checkpoint (no pooler, no classifier), as on the hub."""
    torch.manual_seed(0)
    folder = tmp_path / "deberta-base-tiny"
    DebertaModel(_tiny_config("deberta")).save_pretrained(folder)
    return folder


def _fresh(folder: Path, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)  # the seed decides the newly initialised pooler and classifier
    return AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3).eval()


def test_loading_info_names_the_pooler(deberta_base_checkpoint: Path) -> None:
    model, info = AutoModelForSequenceClassification.from_pretrained(
        deberta_base_checkpoint, num_labels=3, output_loading_info=True)
    assert missing_keys_to_modules(info["missing_keys"], model) == ["pooler.dense"]


def test_pooler_is_trained_saved_and_restored_whatever_the_seed(deberta_base_checkpoint: Path, tmp_path: Path,
                                                               tiny_inputs: dict) -> None:
    first = apply_ttlora(_fresh(deberta_base_checkpoint, seed=1), CONFIG)
    trainable = {n for n, p in first.named_parameters() if p.requires_grad}
    assert {"pooler.dense.weight", "pooler.dense.bias", "classifier.weight"} <= trainable
    with torch.no_grad():  # stands in for training: every trained tensor moves
        for name, param in first.named_parameters():
            if param.requires_grad:
                param.add_(0.05 * torch.randn_like(param))
    adapter = save_adapter(first, tmp_path / "adapter")
    with safe_open(str(adapter / "adapter_model.safetensors"), "pt") as handle:
        assert {"pooler.dense.weight", "pooler.dense.bias"} <= set(handle.keys())

    second = _fresh(deberta_base_checkpoint, seed=2)
    with torch.no_grad():
        before = second(**tiny_inputs).logits
        load_adapter(second, adapter)
        expected, got = first(**tiny_inputs).logits, second(**tiny_inputs).logits
    assert not torch.allclose(before, expected, atol=1e-4)  # a fresh load alone does not reproduce it
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)

    peft_folder = export_lora(first, tmp_path / "lora")
    config = json.loads((peft_folder / "adapter_config.json").read_text())
    assert "pooler" in config["modules_to_save"] and "classifier" in config["modules_to_save"]


def test_modules_to_save_can_be_given_or_switched_off(deberta_base_checkpoint: Path) -> None:
    none = apply_ttlora(_fresh(deberta_base_checkpoint, 1), TTLoRAConfig(cores=4, rank=2, modules_to_save=[]))
    assert not any(p.requires_grad for n, p in none.named_parameters() if n.startswith("pooler."))
    with pytest.raises(ValueError, match="modules_to_save.*'nope'"):
        apply_ttlora(_fresh(deberta_base_checkpoint, 1), TTLoRAConfig(cores=4, rank=2, modules_to_save=["nope"]))


def test_bf16_head_learns_from_a_small_step_with_float32_masters(tiny_inputs: dict) -> None:
    model = build_tiny("llama").to(torch.bfloat16)
    head_before = model.score.weight.detach().clone()
    apply_ttlora(model, TTLoRAConfig(cores=4, rank=2))
    assert model.score.weight.dtype == torch.float32
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    model.train()
    logits = model(**tiny_inputs).logits
    assert logits.dtype == torch.bfloat16  # the rest of the model still runs in bf16
    torch.nn.functional.cross_entropy(logits.float(), torch.tensor([0, 2])).backward()
    optimizer.step()
    moved = (model.score.weight.detach() != head_before.float()).float().mean().item()
    assert moved > 0.99  # every element took its ~lr-sized step, kept in float32

    # the same step on a bf16 weight mostly rounds to nothing: what the masters prevent
    plain = head_before.clone().requires_grad_(True)
    plain_opt = torch.optim.AdamW([plain], lr=1e-5)
    plain.grad = torch.ones_like(plain)
    plain_opt.step()
    assert (plain.detach() != head_before).float().mean().item() < 0.2

    unload(model, merge=False)
    assert model.score.weight.dtype == torch.bfloat16 and torch.equal(model.score.weight, head_before)
    assert not model.score._forward_pre_hooks and not model.score._forward_hooks
