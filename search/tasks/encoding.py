"""Tokenise a task's splits once per experiment into plain tensors that pickle cheaply.

``encode_splits`` runs the tokenizer once over every split and pads each split to its longest
sequence (at most ``max_length``). The result holds only tensors and numbers, so the driver can
``ray.put`` it once and every trial reads the same object instead of re-tokenising.
Storage is compact (``input_ids`` int32, masks int8); ``batches`` yields int64 tensors ready for
``model(**batch)`` and can trim each batch to its own longest row.

``prepare_tokenizer`` makes decoder tokenizers (LLaMA, GPT-2) usable for sequence classification:
they ship without a pad token, so the EOS token becomes the pad token, and padding goes on the
right. transformers' ``*ForSequenceClassification`` heads on decoders pool the rightmost token
that is not ``config.pad_token_id``; with right padding that is each row's last real token and
position ids stay 0..len-1. Left padding would shift positions (no position ids are passed):
harmless for rotary models (LLaMA) but it changes GPT-2's outputs, as the tests show.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from search.tasks.formulations import Example
from vocab.errors import UsageError


def prepare_tokenizer(tokenizer: Any, model_config: Any | None = None) -> Any:
    """Give ``tokenizer`` a pad token (EOS if it has none) and right padding; return it.

    ``tokenizer.pad_token_id`` is then what ``model.config.pad_token_id`` must be; when
    ``model_config`` is given it is set there too. Encoders that have a pad token keep it.
    A model whose config has no token-type embedding (``type_vocab_size`` absent or < 2: LLaMA,
    GPT-2, RoBERTa, DeBERTa-v1) gets no ``token_type_ids`` from the tokenizer, because decoder
    forwards reject them and the others ignore them.
    """
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise UsageError("the tokenizer has neither a pad token nor an EOS token to pad with",
                             where="model", expected="a tokenizer with pad_token or eos_token")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    if model_config is not None:
        model_config.pad_token_id = tokenizer.pad_token_id
        if getattr(model_config, "type_vocab_size", 0) < 2:
            tokenizer.model_input_names = [n for n in tokenizer.model_input_names if n != "token_type_ids"]
    return tokenizer


@dataclass
class EncodedSplit:
    """One tokenised split: ``(n, length)`` token tensors padded to the split's longest row."""

    input_ids: torch.Tensor  # (n, length) int32
    attention_mask: torch.Tensor  # (n, length) int8, 1 = real token
    labels: torch.Tensor  # (n,) int64 class ids, or float32 scores for regression
    token_type_ids: torch.Tensor | None = None  # (n, length) int8 for BERT-style pairs, else None
    num_at_max_length: int = 0  # rows that reached max_length (truncated, or exactly that long)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def num_tokens(self) -> int:
        """Non-padding tokens in the whole split (for tokens/s)."""
        return int(self.attention_mask.sum(dtype=torch.int64).item())

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int:
        full, rest = divmod(len(self), batch_size)
        return full + (1 if rest and not drop_last else 0)

    def row_lengths(self) -> torch.Tensor:
        """(n,) int64: real tokens per row (the attention mask's row sums)."""
        return self.attention_mask.sum(dim=1, dtype=torch.int64)

    def batch_order(self, batch_size: int, order: str = "file", seed: int = 0) -> list[torch.Tensor]:
        """The rows of each batch, in batch order (``ROW_ORDERS``).

        ``file``: file order. ``shuffle``: a permutation seeded by ``seed``. ``grouped``: length-grouped
        (``length_grouped_batches``, seeded by ``seed``). ``by_length``: longest rows first, in batches
        of at most ``batch_size`` rows and at most ``batch_size`` x the split's mean row length token
        positions (``sorted_batches``; evaluation: a metric does not depend on the order).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}", where="batch_size")
        if order == "grouped":
            return length_grouped_batches(self.row_lengths(), batch_size, seed)
        if order == "shuffle":
            rows = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        elif order == "by_length":
            return sorted_batches(self.row_lengths(), batch_size)
        elif order == "file":
            rows = torch.arange(len(self))
        else:
            raise ValueError(f"unknown row order {order!r}; expected one of {ROW_ORDERS}")
        return list(torch.split(rows, batch_size))

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0,
                trim_padding: bool = True, drop_last: bool = False, order: str | None = None,
                ) -> Iterator[dict[str, torch.Tensor]]:
        """Batches as int64 tensor dicts (``input_ids``, ``attention_mask``, [``token_type_ids``], ``labels``).

        ``order`` is one of ``ROW_ORDERS`` (``batch_order``); without it, ``shuffle`` picks ``shuffle``
        (seeded by ``seed``: pass e.g. seed + epoch) or ``file``. ``trim_padding`` drops the columns that
        are padding in every row of the batch.
        """
        for rows in self.batch_order(batch_size, order or ("shuffle" if shuffle else "file"), seed):
            if drop_last and rows.numel() < batch_size:
                continue
            yield self.batch(rows, trim_padding)

    def batch(self, rows: torch.Tensor, trim_padding: bool = True) -> dict[str, torch.Tensor]:
        """The rows ``rows`` (1-D index tensor) as one batch, trimmed to its longest row."""
        mask = self.attention_mask[rows]  # (b, length)
        columns = slice(None)
        if trim_padding:
            used = mask.any(dim=0).nonzero()  # (k, 1) column ids holding a real token
            if used.numel():
                columns = slice(int(used[0, 0]), int(used[-1, 0]) + 1)  # padding is contiguous
        batch = {
            "input_ids": self.input_ids[rows][:, columns].long(),  # (b, length')
            "attention_mask": mask[:, columns].long(),  # (b, length')
        }
        if self.token_type_ids is not None:
            batch["token_type_ids"] = self.token_type_ids[rows][:, columns].long()
        batch["labels"] = self.labels[rows]
        return batch


ROW_ORDERS = ("file", "shuffle", "grouped", "by_length")


def mega_batch_size(num_rows: int, batch_size: int) -> int:
    """Batches per length group: the Hugging Face Trainer's ``min(rows // (4 x batch), 50)``, at least 1.
    Larger splits get larger groups (less padding) while every epoch still mixes at least 4 groups."""
    return max(1, min(num_rows // (4 * batch_size), 50))


def sorted_batches(lengths: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Rows longest first, cut into batches of at most ``batch_size`` rows and at most ``batch_size`` x
    the mean row length token positions (rows x the batch's longest row).

    The position cap keeps the few long rows of a skewed split (SST-2's tail) from padding a whole
    batch of short ones: the batches holding them are smaller, and every batch holds about as many
    token positions as an average batch of real tokens. No batch is larger than ``batch_size`` rows
    of the longest row, the memory bound of unsorted batches.
    """
    order = torch.sort(lengths, descending=True, stable=True).indices  # (n,)
    sorted_lengths = lengths[order].tolist()
    budget = batch_size * float(lengths.float().mean())
    batches, start = [], 0
    while start < len(sorted_lengths):
        longest = sorted_lengths[start]  # the batch's first row is its longest
        rows = max(1, min(batch_size, int(budget // max(longest, 1))))
        batches.append(order[start:start + rows])
        start += rows
    return batches


def length_grouped_batches(lengths: torch.Tensor, batch_size: int, seed: int) -> list[torch.Tensor]:
    """Length-grouped training batches (the Hugging Face Trainer's ``group_by_length``, shuffled further).

    A seeded permutation is cut into groups of ``mega_batch_size`` batches; each group is sorted by
    length (longest first) and cut into batches, so a batch holds rows of similar length; then the
    batch order is shuffled over the whole epoch (the Trainer keeps each group's batches together,
    longest first) and the batch holding the longest row goes first, so a memory problem shows at
    step 1. Everything is drawn from one generator seeded by ``seed``: the same seed gives the same
    batches, so a restarted trial replays its epoch. Returns each batch's row ids.
    """
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randperm(lengths.numel(), generator=generator)  # (n,)
    group = mega_batch_size(lengths.numel(), batch_size) * batch_size
    batches: list[torch.Tensor] = []
    for start in range(0, rows.numel(), group):
        members = rows[start:start + group]  # (g,)
        by_length = torch.sort(lengths[members], descending=True, stable=True).indices  # (g,)
        batches.extend(torch.split(members[by_length], batch_size))
    shuffled = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    longest = max(range(len(shuffled)), key=lambda i: int(lengths[shuffled[i]].max()))
    shuffled[0], shuffled[longest] = shuffled[longest], shuffled[0]
    return shuffled


@dataclass
class EncodedSplits:
    """All splits of one experiment, tokenised once; plain tensors so it pickles cheaply."""

    splits: dict[str, EncodedSplit]
    max_length: int
    pad_token_id: int
    padding_side: str
    is_regression: bool
    tokenizer_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> EncodedSplit:
        if name not in self.splits:
            raise KeyError(f"no split {name!r}; have {sorted(self.splits)}")
        return self.splits[name]

    def __contains__(self, name: object) -> bool:
        return name in self.splits

    def summary(self) -> dict[str, dict[str, int]]:
        """Rows, padded length, real tokens and rows at max_length per split (for logs and reports)."""
        return {name: {"rows": len(s), "length": int(s.input_ids.shape[1]), "tokens": s.num_tokens(),
                       "at_max_length": s.num_at_max_length} for name, s in self.splits.items()}


def _pad(rows: Sequence[Sequence[int]], length: int, value: int, left: bool, dtype: torch.dtype) -> torch.Tensor:
    out = torch.full((len(rows), length), value, dtype=dtype)  # (n, length)
    for i, row in enumerate(rows):
        if row:
            if left:
                out[i, length - len(row):] = torch.tensor(row, dtype=dtype)
            else:
                out[i, :len(row)] = torch.tensor(row, dtype=dtype)
    return out


def encode_split(examples: Sequence[Example], tokenizer: Any, max_length: int, is_regression: bool) -> EncodedSplit:
    """Tokenise one split (truncating the longer text of a pair first) and pad to its longest row."""
    if not examples:
        raise UsageError("cannot encode an empty split", where="encode_splits")
    texts_a = [ex.text_a for ex in examples]
    has_pair = [ex.text_b is not None for ex in examples]
    if any(has_pair) and not all(has_pair):
        raise UsageError("a split mixes single texts and text pairs", where="encode_splits")
    texts_b = [ex.text_b for ex in examples] if all(has_pair) else None
    encoded = tokenizer(texts_a, texts_b, truncation=True, max_length=max_length, padding=False)
    ids: list[list[int]] = encoded["input_ids"]
    num_at_max_length = sum(len(row) >= max_length for row in ids)
    length = max(len(r) for r in ids)
    left = tokenizer.padding_side == "left"
    masks = [[1] * len(r) for r in ids]
    token_types = encoded.get("token_type_ids")
    label_dtype = torch.float32 if is_regression else torch.int64
    return EncodedSplit(
        input_ids=_pad(ids, length, tokenizer.pad_token_id, left, torch.int32),
        attention_mask=_pad(masks, length, 0, left, torch.int8),
        labels=torch.tensor([ex.label for ex in examples], dtype=label_dtype),
        token_type_ids=None if token_types is None else _pad(token_types, length, 0, left, torch.int8),
        num_at_max_length=num_at_max_length,
    )


def encode_splits(splits: Mapping[str, Sequence[Example]], tokenizer: Any, max_length: int,
                  is_regression: bool | None = None) -> EncodedSplits:
    """Tokenise every split once. ``is_regression`` defaults to "labels are floats"."""
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 8:
        raise UsageError(f"max_length must be an integer >= 8, got {max_length!r}", where="max_length")
    if tokenizer.pad_token_id is None:
        raise UsageError("the tokenizer has no pad token; call prepare_tokenizer(tokenizer, model.config) first",
                         where="model", expected="a tokenizer with a pad token")
    if not splits:
        raise UsageError("no splits to encode", where="encode_splits")
    if is_regression is None:
        is_regression = any(isinstance(ex.label, float) for exs in splits.values() for ex in exs)
    encoded = {name: encode_split(examples, tokenizer, max_length, is_regression)
               for name, examples in splits.items()}
    return EncodedSplits(splits=encoded, max_length=max_length, pad_token_id=int(tokenizer.pad_token_id),
                         padding_side=str(tokenizer.padding_side), is_regression=is_regression,
                         tokenizer_name=str(getattr(tokenizer, "name_or_path", "")))
