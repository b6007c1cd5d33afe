"""Closed-form counts on paper-size models built on the meta device (no weights, no hub).

The expected numbers are the worked examples in docs/ARCHITECTURE.md, "Worked parameter counts".
"""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification, DebertaConfig, LlamaConfig, RobertaConfig

import ttlora_core
from ttlora_core import TTLoRAConfig, apply_ttlora, count_parameters, plan_counts


def meta_model(config):
    with torch.device("meta"):
        return AutoModelForSequenceClassification.from_config(config)


DEBERTA_BASE = DebertaConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                             vocab_size=50265, relative_attention=True, pos_att_type=["c2p", "p2c"], num_labels=2)
ROBERTA_BASE = RobertaConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                             vocab_size=50265, max_position_embeddings=514, type_vocab_size=1, num_labels=2)
LLAMA2_7B = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                        num_key_value_heads=32, vocab_size=32000, num_labels=2, pad_token_id=0)
LLAMA3_8B = LlamaConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                        num_key_value_heads=8, vocab_size=128256, num_labels=2, pad_token_id=0)


@pytest.mark.parametrize(
    ("model_config", "ttlora_config", "n_matrices", "per_matrix", "total"),
    [
        (DEBERTA_BASE, TTLoRAConfig(shape=[64, 36, 12, 64], rank=5), 12, 1840, 22_080),
        (DEBERTA_BASE, TTLoRAConfig(shape=[12, 8, 8, 3, 8, 8, 12], rank=5), 12, 995, 11_940),
        (ROBERTA_BASE, TTLoRAConfig(shape=[64, 16, 9, 64], rank=4), 24, 912, 21_888),
        (LLAMA2_7B, TTLoRAConfig(shape=[16] * 6, rank=5), 64, 1760, 112_640),
    ],
    ids=["deberta-base", "deberta-base-768x2304", "roberta-base", "llama-2-7b"],
)
def test_paper_models_counts(model_config, ttlora_config, n_matrices: int, per_matrix: int, total: int) -> None:
    model = meta_model(model_config)
    plan = plan_counts(model, ttlora_config, dtype_bytes=2)
    assert len(plan.per_matrix) == n_matrices
    assert {p.params for p in plan.per_matrix.values()} == {per_matrix}
    assert plan.total_params == total and plan.storage_bytes == 2 * total
    # building the cores (on meta: shapes only) gives the same number as the closed form
    apply_ttlora(model, ttlora_config)
    counts = count_parameters(model)
    assert counts["ttlora"] == total
    assert counts["ttlora"] == sum(p.numel() for n, p in model.named_parameters() if ".cores." in n)
    assert counts["total_trainable"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert counts["head"] == plan.head_params


def test_roberta_paper_shape_has_no_split_and_is_reported() -> None:
    plan = plan_counts(meta_model(ROBERTA_BASE), TTLoRAConfig(shape=[64, 16, 9, 64], rank=4))
    assert len(plan.without_split) == 24 and set(plan.split.values()) == {None}


def test_llama3_gqa_needs_per_target_shapes() -> None:
    model = meta_model(LLAMA3_8B)
    paper = [16, 4, 4, 4, 2, 2, 2, 2, 4, 4, 4, 16]
    with pytest.raises(ttlora_core.ShapeError, match=r"v_proj' has \(out, in\) = \(1024, 4096\)"):
        plan_counts(model, TTLoRAConfig(shape=paper, rank=10))
    plan = plan_counts(model, TTLoRAConfig(shape={"q_proj": paper, "v_proj": "auto"}, cores=12, rank=10))
    q = plan.per_matrix["model.layers.0.self_attn.q_proj"]
    v = plan.per_matrix["model.layers.0.self_attn.v_proj"]
    assert q.params == 3520 and plan.split["model.layers.0.self_attn.q_proj"] is not None
    assert plan.features["model.layers.0.self_attn.v_proj"] == (1024, 4096)
    assert len(v.shape) == 12 and plan.split["model.layers.0.self_attn.v_proj"] is not None
    assert plan.total_params == 32 * (3520 + v.params)
