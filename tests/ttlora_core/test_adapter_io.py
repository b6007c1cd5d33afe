"""Adapter files: refusal of mismatched models and damaged files, with the model left unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from torch import nn

import ttlora_core
from ttlora_core import AdapterError, TTLoRAConfig, apply_ttlora, load_adapter, merge, save_adapter

CONFIG = TTLoRAConfig(cores=4, rank=3, init="gaussian", seed=11)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def assert_unchanged(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    assert list(after) == list(before)
    assert all(torch.equal(after[name], value) for name, value in before.items())


@pytest.fixture
def saved(tiny_model, tmp_path: Path) -> Path:
    model = apply_ttlora(tiny_model("bert"), CONFIG)
    with torch.no_grad():
        model.classifier.bias.add_(1.0)
    return save_adapter(model, tmp_path / "adapter")


def test_files_hold_cores_and_head_without_pickle(saved: Path) -> None:
    assert sorted(p.name for p in saved.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    with safe_open(str(saved / "adapter_model.safetensors"), "pt") as handle:
        keys = set(handle.keys())
    assert "bert.encoder.layer.0.attention.self.query.cores.0" in keys
    assert {"classifier.weight", "classifier.bias"} <= keys
    assert all(".cores." in key or key.startswith("classifier.") for key in keys)
    text = (saved / "adapter_config.json").read_text()
    assert json.loads(text)["head_parameters"] == {"classifier.bias": [3], "classifier.weight": [3, 48]}


def test_mismatched_family_is_refused_and_model_unchanged(saved: Path, tiny_model) -> None:
    other = tiny_model("roberta")
    before = snapshot(other)
    with pytest.raises(AdapterError, match="adapted modules differ"):
        load_adapter(other, saved)
    assert_unchanged(other, before)
    assert not ttlora_core.ttlora_layers(other) and all(p.requires_grad for p in other.parameters())


def test_different_head_size_is_refused(saved: Path, tiny_model) -> None:
    from transformers import AutoModelForSequenceClassification

    model = tiny_model("bert")
    config = model.config
    config.num_labels = 5
    torch.manual_seed(0)
    five_labels = AutoModelForSequenceClassification.from_config(config)
    before = snapshot(five_labels)
    with pytest.raises(AdapterError, match=r"head parameter 'classifier.bias' is \[5\] in the model, \[3\] in the adapter"):
        load_adapter(five_labels, saved)
    assert_unchanged(five_labels, before)


def test_prepared_model_with_other_shape_or_alpha_is_refused(saved: Path, tiny_model) -> None:
    for other in (TTLoRAConfig(cores=5, rank=3), TTLoRAConfig(cores=4, rank=3, alpha=2.0), TTLoRAConfig(cores=4, rank=2)):
        model = apply_ttlora(tiny_model("bert"), other)
        before = snapshot(model)
        with pytest.raises(AdapterError, match="shape is|alpha|ranks is"):
            load_adapter(model, saved)
        assert_unchanged(model, before)


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "bad_json", "other_library", "bad_config", "bad_header"])
def test_damaged_folders_are_refused(saved: Path, tiny_model, damage: str) -> None:
    weights, config_path = saved / "adapter_model.safetensors", saved / "adapter_config.json"
    data = weights.read_bytes()
    if damage == "truncate":
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        weights.write_bytes(data[:-4] + bytes(b ^ 0xFF for b in data[-4:]))
    elif damage == "delete":
        weights.unlink()
    elif damage == "bad_json":
        config_path.write_text("{not json")
    elif damage in ("other_library", "bad_config"):
        meta = json.loads(config_path.read_text())
        if damage == "other_library":
            meta["library"] = "peft"
        else:  # as in an adapter saved before the config checksum, so the config check itself is reached
            meta["config"]["rank"] = 0
            meta.pop("config_sha256")
        config_path.write_text(json.dumps(meta))
    elif damage == "bad_header":  # consistent checksum but an unreadable safetensors header
        import hashlib

        weights.write_bytes(b"\xff" * 16)
        meta = json.loads(config_path.read_text())
        meta["weights_sha256"] = hashlib.sha256(b"\xff" * 16).hexdigest()
        meta.pop("config_sha256")  # consistent: as saved before the config checksum
        config_path.write_text(json.dumps(meta))
    expected = {
        "truncate": "corrupted or truncated",
        "flip": "corrupted or truncated",
        "delete": "missing",
        "bad_json": "not valid JSON",
        "other_library": "not a ttlora_core adapter",
        "bad_config": "TTLoRAConfig.rank",
        "bad_header": "cannot read",
    }[damage]
    plain, prepared = tiny_model("bert"), apply_ttlora(tiny_model("bert"), CONFIG)
    for model in (plain, prepared):
        before = snapshot(model)
        with pytest.raises(AdapterError, match=expected):
            load_adapter(model, saved)
        assert_unchanged(model, before)


def test_load_into_merged_model_keeps_it_merged_with_new_values(saved: Path, tiny_model, tiny_inputs: dict) -> None:
    reference = load_adapter(tiny_model("bert"), saved)
    model = apply_ttlora(tiny_model("bert"), TTLoRAConfig(cores=4, rank=3, init="zero"))
    merge(model)
    load_adapter(model, saved)
    assert all(layer.merged for layer in ttlora_core.ttlora_layers(model).values())
    with torch.no_grad():
        assert torch.allclose(model(**tiny_inputs).logits, reference(**tiny_inputs).logits, atol=1e-5)


def test_save_requires_adapter(tiny_model, tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="no TT-LoRA layers"):
        save_adapter(tiny_model("bert"), tmp_path / "x")


def test_frozen_head_is_neither_trained_nor_saved(tiny_model, tmp_path: Path) -> None:
    model = apply_ttlora(tiny_model("gpt2"), TTLoRAConfig(cores=4, train_head=False))
    counts = ttlora_core.count_parameters(model)
    assert counts["head"] == 0 and counts["total_trainable"] == counts["ttlora"]
    assert not model.score.weight.requires_grad
    folder = save_adapter(model, tmp_path / "no_head")
    assert json.loads((folder / "adapter_config.json").read_text())["head_parameters"] == {}
    restored = load_adapter(tiny_model("gpt2"), folder)
    assert not restored.score.weight.requires_grad


def _edit_config(saved: Path, edit, keep_checksum: bool = True) -> None:
    path = saved / "adapter_config.json"
    meta = json.loads(path.read_text())
    edit(meta)
    if not keep_checksum:
        meta.pop("config_sha256")
    path.write_text(json.dumps(meta))


def test_an_edited_config_fails_its_checksum(saved: Path, tiny_model) -> None:
    """alpha multiplies every update: an edited alpha would load silently without the config checksum."""
    _edit_config(saved, lambda meta: meta["config"].update(alpha=meta["config"]["alpha"] * 4))
    model = tiny_model("bert")
    before = snapshot(model)
    with pytest.raises(AdapterError, match="was edited after the adapter was saved"):
        load_adapter(model, saved)
    assert_unchanged(model, before)


@pytest.mark.parametrize("edit", [
    lambda meta: meta["modules"][next(iter(meta["modules"]))].update(shape="8x8"),
    lambda meta: meta.update(modules=["not", "a", "mapping"]),
    lambda meta: meta["modules"][next(iter(meta["modules"]))].update(ranks=None),
], ids=["shape-text", "modules-list", "ranks-null"])
def test_wrong_value_types_are_adapter_errors(saved: Path, tiny_model, edit) -> None:
    """Adapters saved before the checksum (no config_sha256) are still read: a wrong type is an AdapterError."""
    _edit_config(saved, edit, keep_checksum=False)
    with pytest.raises(AdapterError, match="load_adapter"):
        load_adapter(tiny_model("bert"), saved)
