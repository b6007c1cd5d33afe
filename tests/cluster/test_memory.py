"""Per-trial GPU memory estimate and the fractional-GPU warning (cluster/memory.py)."""
from __future__ import annotations

import pytest
import torch

from cluster.memory import (GIB, GPU_MEMORY_BYTES, activation_bytes_per_token_per_layer,
                            check_gpu_fraction, estimate_trial_memory)
from search.errors import UsageError

# LLaMA-2-7B: parameters counted from its config (32 layers, hidden 4096, MLP 11008, vocab 32000).
LLAMA2_7B_PARAMS = 6_738_415_616


@pytest.mark.parametrize("hidden,heads,seq", [(1024, 16, 512), (4096, 32, 2048)])
def test_reduces_to_korthikanti_34h_plus_5as_for_16_bit_eager(hidden: int, heads: int, seq: int) -> None:
    per_token = activation_bytes_per_token_per_layer(hidden, 4 * hidden, heads, seq, 2, "eager")
    assert per_token == 34 * hidden + 5 * heads * seq


def test_components_by_hand_for_llama2_7b_bf16() -> None:
    b, s, h, layers, f, heads, tt = 4, 512, 4096, 32, 11008, 32, 112_640
    est = estimate_trial_memory(LLAMA2_7B_PARAMS, 2, tt, b, s, h, layers, intermediate=f, heads=heads,
                                fragmentation=0.0)
    assert est.frozen_weights_bytes == 2 * LLAMA2_7B_PARAMS  # 12.55 GiB
    assert est.trainable_state_bytes == 16 * tt
    per_token_layer = 5 * 2 * h + h + 2 * 2 * h + 2 * h + 2 * 2 * f + h + 4 * heads  # fused attention
    assert est.activation_bytes == b * s * (layers * per_token_layer + 2 * h)
    assert est.runtime_overhead_bytes == GIB and est.fragmentation_bytes == 0
    assert est.total_bytes == sum(v for k, v in est.breakdown().items() if k != "total_bytes")


def test_checkpointing_and_lm_logits_move_the_estimate_the_right_way() -> None:
    common = dict(param_count_frozen=LLAMA2_7B_PARAMS, dtype_bytes=2, tt_params=112_640, batch_size=8,
                  seq_len=1024, hidden=4096, layers=32, intermediate=11008)
    plain = estimate_trial_memory(**common)
    assert estimate_trial_memory(**common, gradient_checkpointing=True).activation_bytes < plain.activation_bytes / 8
    assert estimate_trial_memory(**common, attention="eager").activation_bytes > plain.activation_bytes
    with_logits = estimate_trial_memory(**common, vocab_size=32_000)
    assert with_logits.activation_bytes - plain.activation_bytes == 8 * 1024 * 32_000 * 8
    # 4-bit weights still compute activations in 16 bits
    four_bit = estimate_trial_memory(**{**common, "dtype_bytes": 0.5})
    assert four_bit.activation_bytes == plain.activation_bytes
    assert four_bit.frozen_weights_bytes == LLAMA2_7B_PARAMS // 2


def test_gpu_fraction_warning_threshold_is_the_fraction_of_device_memory() -> None:
    est = estimate_trial_memory(LLAMA2_7B_PARAMS, 2, 112_640, 4, 512, 4096, 32, intermediate=11008)
    need = est.total_bytes
    h100 = GPU_MEMORY_BYTES["H100-80GB"]
    assert 20 * GIB < need < 40 * GIB  # weights 12.6 + activations ~7.6 + runtime 1 + slack
    assert check_gpu_fraction(est, 0.5, "H100-80GB") is None  # 39.8 GiB each
    warning = check_gpu_fraction(est, 0.25, "H100-80GB")  # 19.9 GiB each
    assert warning is not None
    assert "resources.gpu = 0.25 of an H100-80GB gives it 19.9 GiB" in warning
    assert f"at most {int(h100 // need)} such trial(s) fit per GPU" in warning
    assert check_gpu_fraction(est, 0.25, "H200") is None  # 35.1 GiB each
    assert check_gpu_fraction(est, 0, "H100-80GB") is None  # CPU trial


def test_a_trial_too_big_for_a_whole_gpu_says_so() -> None:
    est = estimate_trial_memory(LLAMA2_7B_PARAMS, 4, 112_640, 32, 4096, 4096, 32, intermediate=11008)
    warning = check_gpu_fraction(est, 2.0, "H200-141GB")  # >1 GPU still holds the model on one
    assert warning is not None and "does not fit on one H200-141GB even alone" in warning


@pytest.mark.parametrize("kwargs,match", [
    ({"batch_size": 0}, "batch_size is 0"),
    ({"dtype_bytes": -2}, "dtype_bytes is -2"),
    ({"tt_params": -1}, "tt_params is -1"),
    ({"attention": "flash3"}, "attention is 'flash3'"),
])
def test_bad_estimate_inputs(kwargs: dict, match: str) -> None:
    args = dict(param_count_frozen=1000, dtype_bytes=2, tt_params=10, batch_size=1, seq_len=8, hidden=64, layers=2)
    with pytest.raises(UsageError, match=match):
        estimate_trial_memory(**{**args, **kwargs})


def test_bad_gpu_inputs() -> None:
    est = estimate_trial_memory(1000, 2, 10, 1, 8, 64, 2)
    with pytest.raises(UsageError, match="unknown GPU 'A100'.*H100-80GB, H200-141GB"):
        check_gpu_fraction(est, 0.5, "A100")
    with pytest.raises(UsageError, match="resources.gpu: gpu fraction is -0.5"):
        check_gpu_fraction(est, -0.5, "H100-80GB")


@pytest.mark.parametrize("batch,seq", [(8, 64), (2, 256)])
def test_activation_estimate_matches_what_autograd_saves_for_minilm_with_ttlora(
        minilm_path: str, batch: int, seq: int) -> None:
    """Measure the bytes autograd keeps for backward (saved-tensor hooks, parameters excluded,
    shared storages counted once) on the real MiniLM with TT-LoRA on query/value, and compare.

    On CPU in training mode PyTorch's SDPA falls back to the math kernel (attention dropout), which
    keeps the attention matrix, so the eager formula is the right one to compare against.
    """
    from transformers import AutoModelForSequenceClassification

    from ttlora_core import TTLoRAConfig, apply_ttlora

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=2, attn_implementation="eager")
    model.requires_grad_(False)
    model = apply_ttlora(model, TTLoRAConfig(targets=["query", "value"], shape=[8, 6, 8, 8, 6, 8], rank=5, alpha=8.0))
    model.classifier.requires_grad_(True)
    model.train()
    parameter_storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameter_storages:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    input_ids = torch.randint(1000, 20000, (batch, seq))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                     labels=torch.zeros(batch, dtype=torch.long)).loss
    loss.backward()
    measured = sum(saved.values())
    cfg = model.config
    est = estimate_trial_memory(22_700_000, 4, 9_360, batch, seq, cfg.hidden_size, cfg.num_hidden_layers,
                                intermediate=cfg.intermediate_size, heads=cfg.num_attention_heads,
                                attention="eager")
    assert 0.8 < est.activation_bytes / measured < 1.25, (est.activation_bytes, measured)
