"""Fixtures for ttlora_core tests: tiny random models of every supported family and the offline MiniLM."""

from __future__ import annotations

import os
from typing import Callable

import pytest
import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from transformers import (  # noqa: E402
    AutoModelForSequenceClassification,
    BertConfig,
    DebertaConfig,
    DebertaV2Config,
    GPT2Config,
    LlamaConfig,
    RobertaConfig,
)
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.set_verbosity_error()

HIDDEN = 48  # 48 = 2^4 * 3: several balanced factorisations, fast forward passes


def _tiny_config(family: str):
    common = dict(vocab_size=97, num_labels=3, pad_token_id=0)
    if family == "bert":
        return BertConfig(hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, **common)
    if family == "roberta":
        return RobertaConfig(hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                             max_position_embeddings=64, bos_token_id=1, eos_token_id=2, **common)
    if family == "deberta":
        return DebertaConfig(hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                             relative_attention=True, max_relative_positions=16, pos_att_type=["c2p", "p2c"], **common)
    if family == "deberta-v2":
        return DebertaV2Config(hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                               relative_attention=True, position_buckets=8, pos_att_type=["c2p", "p2c"], **common)
    if family == "llama":  # grouped-query attention: v_proj is (16, 64) next to a (64, 64) q_proj
        return LlamaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
                           intermediate_size=96, max_position_embeddings=64, **common)
    if family == "gpt2":
        return GPT2Config(n_embd=HIDDEN, n_layer=2, n_head=4, n_positions=64, bos_token_id=1, eos_token_id=2, **common)
    raise KeyError(family)


FAMILIES = ["bert", "roberta", "deberta", "deberta-v2", "llama", "gpt2"]


def build_tiny(family: str, seed: int = 0) -> nn.Module:
    """A tiny randomly initialised *ForSequenceClassification model of ``family`` in eval mode."""
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(_tiny_config(family))
    return model.eval()


@pytest.fixture
def tiny_model() -> Callable[[str], nn.Module]:
    return build_tiny


@pytest.fixture
def tiny_inputs() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(3, 97, (2, 12), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    return {"input_ids": input_ids, "attention_mask": attention_mask}


@pytest.fixture
def minilm(minilm_path: str) -> nn.Module:
    """The offline MiniLM with a seeded 2-label head (``minilm_path`` comes from tests/conftest.py)."""
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=2).eval()


@pytest.fixture(autouse=True)
def _one_thread():
    """The CI box shares 2 cores between agents: keep each test on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
