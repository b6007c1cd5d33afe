"""Per-trial GPU memory estimate and the fractional-GPU warning (cluster/memory.py)."""
from __future__ import annotations

import pytest
import torch

from cluster.memory import (
    GIB,
    GPU_MEMORY_BYTES,
    activation_bytes_per_token_per_layer,
    check_gpu_fraction,
    estimate_trial_memory,
    layer_style_for_family,
)
from vocab.errors import UsageError

# LLaMA-2-7B: parameters counted from its config (32 layers, hidden 4096, MLP 11008, vocab 32000).
LLAMA2_7B_PARAMS = 6_738_415_616


def test_bert_style_by_hand_and_below_the_full_fine_tuning_figure() -> None:
    h, f, a, s = 1024, 4096, 16, 512
    eager = activation_bytes_per_token_per_layer(h, f, a, s, 2, "eager", "bert")
    # adapter input, q/k/v, softmax + mask + dropped probs, two LayerNorms, GELU input, two masks
    assert eager == 2 * h + 3 * 2 * h + (2 * 2 + 1) * a * s + 2 * (2 * h + 8) + 2 * f + 2 * h
    assert eager < 34 * h + 5 * a * s  # Korthikanti et al.: all weights trainable
    fused = activation_bytes_per_token_per_layer(h, f, a, s, 2, "sdpa", "bert")
    assert fused == 2 * h + 4 * 2 * h + 4 * a + 2 * (2 * h + 8) + 2 * f + 2 * h


def test_components_by_hand_for_llama2_7b_bf16() -> None:
    b, s, h, layers, f, heads, tt = 4, 512, 4096, 32, 11008, 32, 112_640
    est = estimate_trial_memory(LLAMA2_7B_PARAMS, 2, tt, b, s, h, layers, intermediate=f, heads=heads,
                                layer_style="llama", fragmentation=0.0)
    assert est.frozen_weights_bytes == 2 * LLAMA2_7B_PARAMS  # 12.55 GiB
    assert est.trainable_state_bytes == 16 * tt
    # adapter input, fused attention q/k/v/out + log-sum-exp, two fp32 RMSNorms, gate/up/SiLU outputs
    per_token_layer = 2 * h + 4 * 2 * h + 4 * heads + 2 * (4 * h + 4) + 3 * 2 * f
    assert est.activation_bytes == b * s * (layers * per_token_layer + 2 * h)
    assert est.runtime_overhead_bytes == GIB and est.fragmentation_bytes == 0
    assert est.total_bytes == sum(v for k, v in est.breakdown().items() if k != "total_bytes")


def test_checkpointing_and_lm_logits_move_the_estimate_the_right_way() -> None:
    common = dict(param_count_frozen=LLAMA2_7B_PARAMS, dtype_bytes=2, tt_params=112_640, batch_size=8,
                  seq_len=1024, hidden=4096, layers=32, intermediate=11008, layer_style="llama")
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
    est = estimate_trial_memory(LLAMA2_7B_PARAMS, 2, 112_640, 4, 512, 4096, 32, intermediate=11008,
                                layer_style="llama")
    need = est.total_bytes
    h100 = GPU_MEMORY_BYTES["H100-80GB"]
    assert 20 * GIB < need < 40 * GIB  # weights 12.6 + activations 8.6 + runtime 1 + slack 2.1
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
    ({"layer_style": "t5"}, "layer_style is 't5'.*'bert', 'deberta', 'llama'"),
])
def test_bad_estimate_inputs(kwargs: dict, match: str) -> None:
    args = dict(param_count_frozen=1000, dtype_bytes=2, tt_params=10, batch_size=1, seq_len=8, hidden=64, layers=2)
    with pytest.raises(UsageError, match=match):
        estimate_trial_memory(**{**args, **kwargs})


def test_layer_style_by_model_family() -> None:
    assert [layer_style_for_family(f) for f in ("roberta", "DeBERTa", "llama", "gpt2")] == \
        ["bert", "deberta", "llama", "bert"]
    with pytest.raises(UsageError, match="no memory model for model family 't5'"):
        layer_style_for_family("t5")


def test_bad_gpu_inputs() -> None:
    est = estimate_trial_memory(1000, 2, 10, 1, 8, 64, 2)
    with pytest.raises(UsageError, match="unknown GPU 'A100'.*H100-80GB, H200-141GB"):
        check_gpu_fraction(est, 0.5, "A100")
    with pytest.raises(UsageError, match="resources.gpu: gpu fraction is -0.5"):
        check_gpu_fraction(est, -0.5, "H100-80GB")


def saved_activation_bytes(model: torch.nn.Module, batch: int, seq: int, token_ids: tuple[int, int] = (3, 1000)) -> int:
    """Bytes autograd keeps for backward in one training step: saved-tensor hooks, parameters
    excluded, tensors sharing a storage counted once."""
    parameter_storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameter_storages:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    input_ids = torch.randint(*token_ids, (batch, seq))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                     labels=torch.zeros(batch, dtype=torch.long)).loss
    loss.backward()
    return sum(saved.values())


def tiny_model_with_ttlora(family: str, layers: int, dtype: torch.dtype, attention: str) -> torch.nn.Module:
    """A random tiny model of ``family`` (hidden 256, 4 heads), frozen, TT-LoRA on its attention."""
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        DebertaConfig,
        DebertaForSequenceClassification,
        LlamaConfig,
        LlamaForSequenceClassification,
    )

    from ttlora_core import TTLoRAConfig, apply_ttlora

    torch.manual_seed(0)
    common = dict(hidden_size=256, num_attention_heads=4, num_hidden_layers=layers, vocab_size=1000, num_labels=2)
    if family == "llama":
        model = LlamaForSequenceClassification(LlamaConfig(**common, intermediate_size=688, num_key_value_heads=4,
                                                           pad_token_id=0, attn_implementation=attention))
        targets, head = ["q_proj", "v_proj"], model.score
    elif family == "deberta":
        model = DebertaForSequenceClassification(DebertaConfig(**common, intermediate_size=1024,
                                                               relative_attention=True, pos_att_type=["c2p", "p2c"]))
        targets, head = ["in_proj"], model.classifier
    else:
        model = BertForSequenceClassification(BertConfig(**common, intermediate_size=1024, attn_implementation=attention))
        targets, head = ["query", "value"], model.classifier
    model = model.to(dtype).requires_grad_(False)
    model = apply_ttlora(model, TTLoRAConfig(targets=targets, shape="auto", cores=4, rank=4, alpha=8.0))
    head.requires_grad_(True)
    return model.train()


@pytest.mark.parametrize("family,dtype,attention,style", [
    ("llama", torch.float32, "sdpa", "llama"),
    ("llama", torch.bfloat16, "sdpa", "llama"),
    ("llama", torch.bfloat16, "eager", "llama"),
    ("bert", torch.float32, "eager", "bert"),
    ("bert", torch.bfloat16, "eager", "bert"),
    ("deberta", torch.float32, "eager", "deberta"),
])
def test_per_layer_activation_formula_matches_autograd_on_tiny_models(
        family: str, dtype: torch.dtype, attention: str, style: str) -> None:
    """Per-layer bytes = (saved with 4 layers - saved with 2 layers) / 2 / tokens, which removes the
    embeddings and the head; compared with the formula for the family's layer style."""
    torch.set_num_threads(1)
    batch, seq = 4, 128
    measured = {layers: saved_activation_bytes(tiny_model_with_ttlora(family, layers, dtype, attention), batch, seq)
                for layers in (2, 4)}
    per_layer = (measured[4] - measured[2]) / 2 / (batch * seq)
    value_bytes = torch.finfo(dtype).bits // 8
    intermediate = 688 if family == "llama" else 1024
    # On CPU dropout keeps its mask in the activation dtype (CUDA: 1 byte).
    estimate = activation_bytes_per_token_per_layer(256, intermediate, 4, seq, value_bytes, attention, style,
                                                    dropout_mask_bytes=value_bytes)
    assert 0.9 < estimate / per_layer < 1.1, (estimate, per_layer)


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
    measured = saved_activation_bytes(model, batch, seq, token_ids=(1000, 20000))
    cfg = model.config
    est = estimate_trial_memory(22_700_000, 4, 9_360, batch, seq, cfg.hidden_size, cfg.num_hidden_layers,
                                intermediate=cfg.intermediate_size, heads=cfg.num_attention_heads,
                                attention="eager", dropout_mask_bytes=4)
    assert 0.9 < est.activation_bytes / measured < 1.1, (est.activation_bytes, measured)
