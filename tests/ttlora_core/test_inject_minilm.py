"""apply_ttlora / count_parameters / save_adapter / load_adapter on the real offline MiniLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import ttlora_core
from ttlora_core import TTLoRAConfig, TTLoRALinear, apply_ttlora, count_parameters, load_adapter, save_adapter
from ttlora_core.tt_arithmetic import tt_param_count

PAPER_MINILM = TTLoRAConfig(targets=["query", "value"], shape=[8, 6, 8, 8, 6, 8], rank=5, alpha=8.0)


def _randomise_cores(model: nn.Module, seed: int = 3) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in ttlora_core.ttlora_layers(model).values():
            for core in layer.cores:
                core.copy_(torch.randn(core.shape, generator=generator) * 0.3)


def test_apply_wraps_targets_freezes_the_rest_and_counts(minilm: nn.Module) -> None:
    apply_ttlora(minilm, PAPER_MINILM)
    layers = ttlora_core.ttlora_layers(minilm)
    assert len(layers) == 12 and all(name.endswith(("self.query", "self.value")) for name in layers)
    trainable = {name for name, p in minilm.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in minilm.named_parameters() if ".cores." in n or n.startswith("classifier.")}
    counts = count_parameters(minilm)
    assert counts["ttlora"] == 12 * tt_param_count([8, 6, 8, 8, 6, 8], 5) == 12 * 780
    assert counts["head"] == 384 * 2 + 2
    assert counts["total_trainable"] == sum(p.numel() for p in minilm.parameters() if p.requires_grad)
    assert counts["total_trainable"] == counts["ttlora"] + counts["head"]
    plan = ttlora_core.plan_counts(minilm, PAPER_MINILM)
    assert plan.total_params == counts["ttlora"] and plan.head_params == counts["head"]


def test_zero_init_leaves_outputs_exactly_unchanged(minilm: nn.Module) -> None:
    inputs = torch.randint(1000, 2000, (2, 10))
    with torch.no_grad():
        before = minilm(input_ids=inputs).logits
    apply_ttlora(minilm, TTLoRAConfig(targets=["query", "value"], init="zero"))
    with torch.no_grad():
        after = minilm(input_ids=inputs).logits
    assert torch.equal(before, after)


def test_apply_errors_leave_the_model_unchanged(minilm: nn.Module) -> None:
    names_before = [n for n, _ in minilm.named_modules()]
    with pytest.raises(ValueError, match=r"'qkv' matched no module of BertForSequenceClassification"):
        apply_ttlora(minilm, TTLoRAConfig(targets=["query", "qkv"]))
    with pytest.raises(ttlora_core.ShapeError, match=r"\(1536, 384\)"):
        apply_ttlora(minilm, TTLoRAConfig(targets=["query", "intermediate.dense"], shape=[8, 6, 8, 8, 6, 8]))
    with pytest.raises(ValueError, match="is a BertSelfAttention"):
        apply_ttlora(minilm, TTLoRAConfig(targets=["attention.self"]))
    with pytest.raises(ValueError, match="task head"):
        apply_ttlora(minilm, TTLoRAConfig(targets=["classifier"]))
    assert [n for n, _ in minilm.named_modules()] == names_before
    assert all(p.requires_grad for p in minilm.parameters())
    apply_ttlora(minilm, PAPER_MINILM)
    with pytest.raises(ValueError, match="already has TT-LoRA layers"):
        apply_ttlora(minilm, PAPER_MINILM)


def test_regex_and_default_targets(minilm: nn.Module) -> None:
    assert ttlora_core.default_targets(minilm) == ["query", "value"]
    config = TTLoRAConfig(targets=r"re:.*layer\.[0-2]\.attention\.self\.(query|key)")
    apply_ttlora(minilm, config)
    assert len(ttlora_core.ttlora_layers(minilm)) == 6


def test_save_then_load_into_plain_and_prepared_models(minilm: nn.Module, minilm_path: str, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    apply_ttlora(minilm, PAPER_MINILM)
    _randomise_cores(minilm)
    with torch.no_grad():
        minilm.classifier.weight.add_(0.5)
    inputs = torch.randint(1000, 2000, (2, 10))
    with torch.no_grad():
        expected = minilm(input_ids=inputs).logits
    folder = save_adapter(minilm, tmp_path / "adapter")
    meta = json.loads((folder / "adapter_config.json").read_text())
    assert meta["library_version"] == ttlora_core.__version__
    assert meta["config"] == PAPER_MINILM.to_dict()
    assert meta["base_model"]["class"] == "BertForSequenceClassification"
    assert list(meta) == sorted(meta)
    assert meta["modules"]["bert.encoder.layer.0.attention.self.query"]["ranks"] == [1, 5, 5, 5, 5, 5, 1]

    plain = AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=2).eval()
    load_adapter(plain, folder)
    prepared = AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=2).eval()
    apply_ttlora(prepared, PAPER_MINILM)
    load_adapter(prepared, folder)
    with torch.no_grad():
        assert torch.equal(plain(input_ids=inputs).logits, expected)
        assert torch.equal(prepared(input_ids=inputs).logits, expected)
    assert isinstance(plain.bert.encoder.layer[3].attention.self.value, TTLoRALinear)
