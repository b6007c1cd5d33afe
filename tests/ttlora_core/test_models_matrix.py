"""One parametrised matrix of tiny models: plain == merged == unmerged, unload, LoRA export via PEFT.

Families: BERT, RoBERTa (also with the no-split block path), DeBERTa-v1 (fused in_proj),
DeBERTa-v2, LLaMA with grouped-query attention (per-target shapes), GPT-2 (Conv1D c_attn).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import ttlora_core
from ttlora_core import AdapterError, TTLoRAConfig, TTLoRALinear, apply_ttlora, export_lora, merge, unload, unmerge

CASES = {
    "bert": ("bert", TTLoRAConfig(cores=4, rank=3, init="gaussian", seed=1), 4),
    "roberta": ("roberta", TTLoRAConfig(shape=[8, 6, 6, 8], rank=3, init="gaussian", seed=2), 4),
    "roberta-no-split": ("roberta", TTLoRAConfig(shape=[8, 9, 4, 8], rank=3, init="gaussian", seed=3), 4),
    "deberta-v1-in_proj": ("deberta", TTLoRAConfig(shape=[12, 12, 6, 8], rank=3, init="gaussian", seed=4), 2),
    "deberta-v2": ("deberta-v2", TTLoRAConfig(cores=5, rank=2, init="gaussian", seed=5), 4),
    "llama-gqa": ("llama", TTLoRAConfig(shape={"q_proj": [4] * 6, "v_proj": [4, 4, 8, 8]}, rank=3, init="gaussian", seed=6), 4),
    "gpt2-conv1d": ("gpt2", TTLoRAConfig(cores=4, rank=3, init="gaussian", seed=7), 2),
    # split after core 1 for query (LoRA rank r1 = 2), after core 2 for value (r2 = 3): PEFT's rank_pattern
    "bert-mixed-ranks": ("bert", TTLoRAConfig(shape={"query": [48, 6, 8], "value": [6, 8, 48]}, rank=[1, 2, 3, 1],
                                              init="gaussian", seed=8), 4),
}


def logits(model: nn.Module, inputs: dict) -> torch.Tensor:
    with torch.no_grad():
        return model(**inputs).logits


def scaled_up(model: nn.Module) -> None:
    """Make ΔW clearly visible in the logits of a tiny random model."""
    with torch.no_grad():
        for layer in ttlora_core.ttlora_layers(model).values():
            layer.cores[0].mul_(4.0)


@pytest.mark.parametrize("case", list(CASES))
def test_plain_merged_unmerged_and_unload(case: str, tiny_inputs: dict, tiny_model) -> None:
    family, config, n_layers = CASES[case]
    model = tiny_model(family)
    base_logits = logits(model, tiny_inputs)
    weights_before = {n: p.detach().clone() for n, p in model.named_parameters()}
    apply_ttlora(model, config)
    layers = ttlora_core.ttlora_layers(model)
    assert len(layers) == n_layers
    assert set(ttlora_core.default_targets(model)) == {n.rsplit(".", 1)[-1] for n in layers} or config.targets
    scaled_up(model)
    plain = logits(model, tiny_inputs)
    assert not torch.allclose(plain, base_logits, atol=1e-3), "ΔW should change the outputs"

    merge(model)
    assert all(layer.merged for layer in layers.values())
    assert torch.allclose(logits(model, tiny_inputs), plain, rtol=1e-5, atol=1e-5)
    unmerge(model)
    assert torch.allclose(logits(model, tiny_inputs), plain, rtol=1e-5, atol=1e-5)
    for name, layer in layers.items():
        # one float32 rounding of W0 + alpha*ΔW: exact to ~1e-7 relative to the largest merged value
        scale = max(1.0, (layer.alpha * layer.delta_weight()).abs().max().item())
        original = weights_before[f"{name}.weight"]
        assert (layer.base_layer.weight - original).abs().max().item() <= 1e-6 * scale

    # unload without merging: the model as before apply_ttlora, same W0 tensors
    w0_tensors = {name: layer.base_layer.weight for name, layer in layers.items()}
    unload(model, merge=False)
    assert not ttlora_core.ttlora_layers(model)
    assert all(model.get_submodule(name).weight is w for name, w in w0_tensors.items())
    assert torch.allclose(logits(model, tiny_inputs), base_logits, rtol=1e-6, atol=1e-6)
    assert all(p.requires_grad for p in model.parameters())

    # applying again to the unloaded model and unloading with merge gives a plain fine-tuned model
    apply_ttlora(model, config)
    scaled_up(model)
    adapted = logits(model, tiny_inputs)
    unload(model)
    assert not any(isinstance(m, TTLoRALinear) for m in model.modules())
    assert torch.allclose(logits(model, tiny_inputs), adapted, rtol=1e-5, atol=1e-5)


def test_unload_restores_the_trained_head_only_without_merge(tiny_inputs: dict, tiny_model) -> None:
    model = tiny_model("bert")
    head_before = model.classifier.weight.detach().clone()
    apply_ttlora(model, TTLoRAConfig(cores=4))
    with torch.no_grad():
        model.classifier.weight.add_(1.0)
    unload(model, merge=False)
    assert torch.equal(model.classifier.weight, head_before)
    apply_ttlora(model, TTLoRAConfig(cores=4))
    with torch.no_grad():
        model.classifier.weight.add_(1.0)
    unload(model, merge=True)
    assert torch.equal(model.classifier.weight, head_before + 1.0)


def test_merge_refuses_non_finite_delta_and_changes_nothing(tiny_inputs: dict, tiny_model) -> None:
    model = apply_ttlora(tiny_model("bert"), TTLoRAConfig(cores=4, init="gaussian"))
    layers = list(ttlora_core.ttlora_layers(model).values())
    before = [layer.base_layer.weight.detach().clone() for layer in layers]
    with torch.no_grad():
        layers[-1].cores[1][0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="non-finite"):
        merge(model)
    assert all(torch.equal(layer.base_layer.weight, w) for layer, w in zip(layers, before))
    assert not any(layer.merged for layer in layers)


def test_training_step_changes_only_cores_and_head(tiny_inputs: dict, tiny_model) -> None:
    model = apply_ttlora(tiny_model("llama"), CASES["llama-gqa"][1])
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss = model(**tiny_inputs, labels=torch.tensor([0, 2])).loss
    loss.backward()
    optimizer.step()
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)
    assert all(layer.cores[0].grad is not None for layer in ttlora_core.ttlora_layers(model).values())


@pytest.mark.parametrize("case", [c for c in CASES if c != "roberta-no-split"])
def test_export_lora_loads_in_peft_with_matching_logits(case: str, tiny_inputs: dict, tmp_path: Path, tiny_model) -> None:
    from peft import PeftModel

    family, config, _ = CASES[case]
    model = apply_ttlora(tiny_model(family), config)
    scaled_up(model)
    with torch.no_grad():
        for param in model.get_submodule(model.ttlora_state.head_modules[0]).parameters():
            param.add_(0.25)  # the head travels too
    expected = logits(model, tiny_inputs)
    folder = export_lora(model, tmp_path / "lora")
    peft_model = PeftModel.from_pretrained(tiny_model(family), str(folder)).eval()
    assert torch.allclose(logits(peft_model, tiny_inputs), expected, rtol=1e-4, atol=1e-4)
    for name, layer in ttlora_core.ttlora_layers(model).items():
        lora_a = peft_model.base_model.model.get_submodule(name).lora_A["default"]
        assert lora_a.weight.shape == (layer.ranks[layer.split], layer.in_features)
    if case == "bert-mixed-ranks":  # the exported config carries the ranks that differ from r
        pattern = json.loads((folder / "adapter_config.json").read_text())["rank_pattern"]
        assert sorted(pattern.values()) == [3, 3] and all(name.endswith(".value") for name in pattern)


def test_export_lora_refuses_shapes_without_split_unless_asked(tiny_inputs: dict, tmp_path: Path, tiny_model) -> None:
    from peft import PeftModel

    model = apply_ttlora(tiny_model("roberta"), CASES["roberta-no-split"][1])
    scaled_up(model)
    with pytest.raises(AdapterError, match=r"no split point.*\[8, 9, 4, 8\] \(exact rank 18\)"):
        export_lora(model, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    folder = export_lora(model, tmp_path / "block", allow_block_rank=True)
    peft_model = PeftModel.from_pretrained(tiny_model("roberta"), str(folder)).eval()
    assert torch.allclose(logits(peft_model, tiny_inputs), logits(model, tiny_inputs), rtol=1e-4, atol=1e-4)
