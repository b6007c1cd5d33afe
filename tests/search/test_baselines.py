"""Baselines on real model code (the real PEFT library, tiny random models built from their configs
and the offline MiniLM): what is trainable, the counts against plan's meta-device counts, float32
head masters in bf16 models, and checkpoint save/load round trips."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, LlamaConfig

from search.trial.baselines import BaselineConfig, apply_baseline, count_baseline, load_baseline, save_baseline
from search.trial.model_cache import TrialModelSpec, load_base_model
from search.trial.model_source import build_meta_model

VALUES = {"lora": {"rank": 4, "alpha": 16.0, "dropout": 0.0}, "vera": {"rank": 16, "d_initial": 0.1},
          "ia3": {}, "lokr": {"rank": 4, "alpha": 4.0}, "bitfit": {}, "full": {}}


def tiny_bert() -> BertConfig:
    return BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                      num_labels=2)


def tiny_llama() -> LlamaConfig:
    return LlamaConfig(vocab_size=100, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=4, num_labels=2, pad_token_id=0)


def _model(config, dtype=torch.float32):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(config).to(dtype).eval()  # no dropout: outputs compare exactly


@pytest.mark.parametrize("method", list(VALUES))
def test_live_counts_equal_plan_counts_and_only_the_method_trains(method: str) -> None:
    config = BaselineConfig(method, VALUES[method], targets=["query", "value"] if method not in ("bitfit", "full") else None)
    live = apply_baseline(_model(tiny_bert()), config)
    planned = count_baseline(apply_baseline(build_meta_model(tiny_bert(), 2), config), config)
    assert count_baseline(live, config) == planned
    trainable = [n for n, p in live.named_parameters() if p.requires_grad]
    head = 32 * 2 + 2
    assert planned["head"] == head and planned["total_trainable"] == planned["adapter"] + head
    expected = {"lora": 2 * 2 * 4 * (32 + 32), "vera": 2 * 2 * (16 + 32), "ia3": 2 * 2 * 32,
                "bitfit": sum(p.numel() for n, p in live.named_parameters() if n.endswith("bias") and "classifier" not in n),
                "full": sum(p.numel() for n, p in live.named_parameters() if "classifier" not in n),
                # LoKr, PEFT's factorisation of 32 is 4 x 8 on both sides: w1 (4 x 4) and, as r=4 is not
                # below 8 / 2, a full w2 (8 x 8), per matrix
                "lokr": 2 * 2 * (4 * 4 + 8 * 8)}
    assert set(expected) == set(VALUES)  # every method has its count checked
    assert planned["adapter"] == expected[method]
    if method == "bitfit":
        assert all(n.endswith("bias") or n.startswith("classifier.") for n in trainable)
    assert any("classifier" in n for n in trainable)  # the head trains for every method


@pytest.mark.parametrize("method", ["lora", "vera", "ia3", "lokr", "bitfit", "full"])
def test_checkpoint_round_trip_is_exact(method: str) -> None:
    config = BaselineConfig(method, VALUES[method], targets=["query", "value"] if method not in ("bitfit", "full") else None)
    model = apply_baseline(_model(tiny_bert()), config)
    with torch.no_grad():  # move every trained tensor off its initial value
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    x = torch.randint(0, 120, (3, 9))
    expected = model(input_ids=x).logits
    with tempfile.TemporaryDirectory() as tmp:
        save_baseline(model, config, Path(tmp))
        fresh = apply_baseline(_model(tiny_bert()), config)
        assert not torch.allclose(fresh(input_ids=x).logits, expected)
        load_baseline(fresh, config, Path(tmp))
    assert torch.equal(fresh(input_ids=x).logits, expected)


@pytest.mark.parametrize("method", ["lora", "bitfit"])
@pytest.mark.parametrize("damage", ["truncate", "drop_tensor"])
def test_a_damaged_baseline_checkpoint_is_refused(method: str, damage: str, tmp_path: Path) -> None:
    """Baseline checkpoints carry a checksum, and every trained tensor must be in them."""
    from safetensors.torch import load_file, save_file

    from search.trial.baselines import PEFT_WEIGHTS_FILE, TRAINED_TENSORS_FILE

    config = BaselineConfig(method, VALUES[method], targets=["query", "value"] if method == "lora" else None)
    save_baseline(apply_baseline(_model(tiny_bert()), config), config, tmp_path)
    weights = tmp_path / (PEFT_WEIGHTS_FILE if method == "lora" else TRAINED_TENSORS_FILE)
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:-16])
        expected = "corrupted or truncated"
    else:  # a consistent file (checksum re-recorded as from before checksums) lacking one tensor
        tensors = load_file(str(weights))
        tensors.pop(sorted(tensors)[0])
        save_file(tensors, str(weights))
        (tmp_path / ("ttsearch_checksum.json" if method == "lora" else "trained.json")).unlink()
        expected = "the checkpoint lacks 1"
    with pytest.raises(ValueError, match=expected):
        load_baseline(apply_baseline(_model(tiny_bert()), config), config, tmp_path)


def test_bf16_model_lora_keeps_float32_head_masters() -> None:
    config = BaselineConfig("lora", VALUES["lora"])
    model = apply_baseline(_model(tiny_llama(), torch.bfloat16), config)
    trainable = {n: p.dtype for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(dtype == torch.float32 for dtype in trainable.values())  # adapter (PEFT) and head copy
    assert any(".score.modules_to_save." in n for n in trainable)
    x = torch.randint(1, 100, (2, 7))
    assert model(input_ids=x, attention_mask=torch.ones_like(x)).logits.dtype == torch.bfloat16


def test_adapter_init_is_seeded_and_leaves_the_global_rng_alone() -> None:
    config = BaselineConfig("lora", VALUES["lora"], targets=["query", "value"], seed=3)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    first = apply_baseline(_model(tiny_bert()), config)
    torch.manual_seed(123)
    assert torch.equal(torch.random.get_rng_state(), before)
    second = apply_baseline(_model(tiny_bert()), config)
    a = {n: p for n, p in first.named_parameters() if "lora_A" in n}
    assert a and all(torch.equal(p, dict(second.named_parameters())[n]) for n, p in a.items())


def test_baseline_and_ttlora_trials_start_from_the_same_head(minilm_path: str) -> None:
    """Same seed, same head: a LoRA trial's initial classifier equals a TT-LoRA trial's."""
    from ttlora_core import TTLoRAConfig, apply_ttlora

    spec = TrialModelSpec(minilm_path, 2, "float32", 0, "cpu")
    tt = apply_ttlora(load_base_model(spec), TTLoRAConfig(targets=["query", "value"], shape="auto", rank=4))
    lora = apply_baseline(load_base_model(spec), BaselineConfig("lora", VALUES["lora"], targets=["query", "value"]))
    head = dict(lora.named_parameters())["base_model.model.classifier.modules_to_save.default.weight"]
    assert torch.equal(tt.classifier.weight, head)


def test_deberta_pooler_counts_as_saved_in_plan_and_trial() -> None:
    """DeBERTa's pooler is not in the checkpoint: trained and saved like the head, counted so by plan
    (the family table on the meta model) and by the trial (the loading info)."""
    from transformers import AutoModelForSequenceClassification, DebertaConfig

    config = DebertaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=64, num_labels=2)
    for method in ("bitfit", "lora", "full"):
        baseline = BaselineConfig(method, VALUES[method], targets=["in_proj"] if method == "lora" else None)
        planned = count_baseline(apply_baseline(build_meta_model(config, 2), baseline), baseline)
        live = AutoModelForSequenceClassification.from_config(config)
        live.ttsearch_newly_initialised = ["pooler"]  # what load_base_model finds in the loading info
        assert count_baseline(apply_baseline(live, baseline), baseline) == planned
        assert planned["head"] == (32 * 32 + 32) + (32 * 2 + 2)  # pooler dense + classifier
