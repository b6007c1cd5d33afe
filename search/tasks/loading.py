"""Load a task's train and validation examples from a local folder or the Hugging Face hub.

``data_dir=None`` reads the hub (``datasets.load_dataset(hub_path, hub_config)``, the users' normal
path); a folder reads the official GLUE/SuperGLUE files (see ``local_files``). Where the data
folder comes from is decided by ``resolve_data_dir``: ``--data-dir`` > the space's ``data.dir`` >
the ``TTSEARCH_DATA_DIR`` environment variable > the hub.

Both sources go through the same steps, so they select the same rows: parse the split
expressions, refuse unlabelled (test) splits and train/validation overlap, slice, then subsample
to ``limit_*`` rows with a seeded, label-stratified draw (file order kept).
"""
from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from search.tasks.formulations import Example
from search.tasks.local_files import LAYOUT_HELP, local_file_for, read_local_rows
from search.tasks.registry import TaskSpec, get_task
from search.tasks.split_expr import SplitExpression, parse_split_expression
from vocab.errors import UsageError

DATA_DIR_ENV = "TTSEARCH_DATA_DIR"
TRAIN = "train"
VALIDATION = "validation"
TEST = "test"  # the held-out role (data.test_split); never used for a decision


def resolve_data_dir(cli_value: str | Path | None, space_value: str | Path | None,
                     environ: Mapping[str, str] | None = None) -> Path | None:
    """The data folder by precedence CLI > space file > ``$TTSEARCH_DATA_DIR``; None means the hub.

    Empty strings count as unset. Relative paths are kept relative (to the working directory);
    the caller resolves a space file's ``data.dir`` against the file's folder if it wants that.
    """
    environ = os.environ if environ is None else environ
    for value in (cli_value, space_value, environ.get(DATA_DIR_ENV)):
        if value is not None and str(value).strip():
            return Path(str(value)).expanduser()
    return None


class _LocalRows:
    """Rows of a task's local files, each file read once."""

    def __init__(self, task: TaskSpec, data_dir: Path) -> None:
        self.task, self.data_dir = task, data_dir
        self._rows: dict[str, list[dict[str, Any]]] = {}

    def _split(self, split: str) -> list[dict[str, Any]]:
        if split not in self._rows:
            self._rows[split] = read_local_rows(self.task, local_file_for(self.task, self.data_dir, split))
        return self._rows[split]

    def num_rows(self, split: str) -> int:
        return len(self._split(split))

    def labels(self, split: str, indices: Sequence[int]) -> list[Any]:
        rows = self._split(split)
        return [rows[i]["label"] for i in indices]

    def take(self, split: str, indices: Sequence[int]) -> list[dict[str, Any]]:
        rows = self._split(split)
        return [rows[i] for i in indices]


class _HubRows:
    """Rows of a task on the Hugging Face hub, each split loaded once (``datasets`` caches it)."""

    def __init__(self, task: TaskSpec) -> None:
        self.task = task
        self._datasets: dict[str, Any] = {}

    def _split(self, split: str) -> Any:
        if split not in self._datasets:
            self._datasets[split] = load_hub_split(self.task, split)
        return self._datasets[split]

    def num_rows(self, split: str) -> int:
        return int(self._split(split).num_rows)

    def labels(self, split: str, indices: Sequence[int]) -> list[Any]:
        return list(self._split(split).select(indices)["label"])

    def take(self, split: str, indices: Sequence[int]) -> list[dict[str, Any]]:
        return self._split(split).select(indices).to_list()


def load_hub_split(task: TaskSpec, split: str) -> Any:
    """One whole split from the hub as a ``datasets.Dataset``; any failure -> UsageError."""
    import datasets  # heavy import, only on the hub path

    try:
        return datasets.load_dataset(task.hub_path, task.hub_config, split=split)
    except Exception as exc:  # network, offline mode, auth, renamed dataset: all the user's to fix
        raise UsageError(
            f"could not load {task.hub_path} (config {task.hub_config!r}, split {split!r}) from the "
            f"Hugging Face hub: {type(exc).__name__}: {exc}",
            where=f"task {task.name}",
            expected=f"hub access, or a local copy given by --data-dir / data.dir / ${DATA_DIR_ENV} in "
            + LAYOUT_HELP,
        ) from exc


def subsample_indices(labels: Sequence[Any], limit: int, seed: int, stratify: bool) -> list[int]:
    """``limit`` positions of ``labels``, seeded; per-label quotas by largest remainder if stratify.

    Positions come back sorted (file order). Deterministic for a given (labels, limit, seed).
    """
    count = len(labels)
    if limit >= count:
        return list(range(count))
    rng = random.Random(seed)
    if not stratify:
        return sorted(rng.sample(range(count), limit))
    groups: dict[Any, list[int]] = {}
    for position, label in enumerate(labels):
        groups.setdefault(label, []).append(position)
    keys = sorted(groups)
    exact = {key: limit * len(groups[key]) / count for key in keys}
    quota = {key: int(exact[key]) for key in keys}
    leftover = limit - sum(quota.values())
    for key in sorted(keys, key=lambda k: (quota[k] - exact[k], keys.index(k)))[:leftover]:
        quota[key] += 1
    chosen = [pos for key in keys for pos in rng.sample(groups[key], quota[key])]
    return sorted(chosen)


def _check_limit(name: str, limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise UsageError(f"{name} must be a positive integer or None, got {limit!r}", where=name)


def _check_expressions(task: TaskSpec, train: SplitExpression, val: SplitExpression | None,
                       test: SplitExpression | None, source: _LocalRows | _HubRows) -> None:
    """Refuse unlabelled splits, and rows shared by any two of train, validation and test."""
    roles = [(role, expr) for role, expr in ((TRAIN, train), (VALIDATION, val), (TEST, test)) if expr is not None]
    for role, expr in roles:
        for split in expr.base_splits:
            if not task.is_labelled_split(split):
                raise UsageError(f"{role} split {expr.text!r} uses the {split!r} split of {task.name!r}, "
                                 "which has no labels", where=f"{role}_split",
                                 expected="train, validation, or a slice of them such as 'val[:80%]'")
    for a in range(len(roles)):
        for b in range(a + 1, len(roles)):
            (role_a, expr_a), (role_b, expr_b) = roles[a], roles[b]
            for slice_a in expr_a.slices:
                for slice_b in expr_b.slices:
                    if slice_a.split != slice_b.split:
                        continue
                    total = source.num_rows(slice_a.split)
                    shared = set(slice_a.indices(total)) & set(slice_b.indices(total))
                    if shared:
                        raise UsageError(
                            f"{role_a} split {expr_a.text!r} and {role_b} split {expr_b.text!r} share {len(shared)} "
                            f"rows of {slice_a.split!r}", where=f"{role_a}_split/{role_b}_split",
                            expected="disjoint slices, e.g. 'val[:80%]' and 'val[80%:]'")


Positions = list[tuple[str, int]]  # (split name, row index) in file order


def _positions(task: TaskSpec, expr: SplitExpression, source: _LocalRows | _HubRows, role: str) -> Positions:
    positions: Positions = []
    for split_slice in expr.slices:
        rows_in_split = source.num_rows(split_slice.split)
        positions += [(split_slice.split, i) for i in split_slice.indices(rows_in_split)]
    if not positions:
        raise UsageError(f"{role} split {expr.text!r} of task {task.name!r} selects no rows",
                         where=f"{role}_split", expected="a non-empty slice")
    return positions


def _labels(source: _LocalRows | _HubRows, positions: Positions) -> list[Any]:
    splits = sorted({s for s, _ in positions})
    by_split = {split: source.labels(split, [i for s, i in positions if s == split]) for split in splits}
    cursor = {split: 0 for split in splits}
    labels = []
    for split, _ in positions:
        labels.append(by_split[split][cursor[split]])
        cursor[split] += 1
    return labels


def _subset(task: TaskSpec, source: _LocalRows | _HubRows, positions: Positions, count: int, seed: int) -> Positions:
    """``count`` of ``positions``, seeded, stratified by label for classification, in file order."""
    if count >= len(positions):
        return list(positions)
    keep = set(subsample_indices(_labels(source, positions), count, seed, stratify=not task.is_regression))
    return [p for k, p in enumerate(positions) if k in keep]


def _take(task: TaskSpec, source: _LocalRows | _HubRows, positions: Positions, expr_text: str, role: str) -> list[Example]:
    rows: list[dict[str, Any]] = []
    for split in dict.fromkeys(s for s, _ in positions):
        rows += source.take(split, [i for s, i in positions if s == split])
    examples = [task.build_example(row) for row in rows]
    if not task.is_regression and any(ex.label not in range(task.num_labels) for ex in examples):
        raise UsageError(f"{role} split {expr_text!r} of task {task.name!r} contains rows without a "
                         f"valid label (expected 0..{task.num_labels - 1})", where=f"{role}_split")
    return examples


def _select(task: TaskSpec, expr: SplitExpression, source: _LocalRows | _HubRows,
            limit: int | None, seed: int, role: str) -> list[Example]:
    positions = _positions(task, expr, source, role)
    if limit is not None:
        positions = _subset(task, source, positions, limit, seed)
    return _take(task, source, positions, expr.text, role)


def load_splits(
    task: TaskSpec | str,
    data_dir: Path | str | None,
    train_split: str | None = None,
    val_split: str | None = None,
    limit_train: int | None = None,
    limit_val: int | None = None,
    seed: int = 0,
    test_split: str | None = None,
    limit_test: int | None = None,
    val_from_train: float | None = None,
) -> dict[str, list[Example]]:
    """``{"train": [...], "validation": [...]}`` examples of ``task``, plus ``"test"`` with ``test_split``.

    Split expressions default to the task's own (``train``; ``validation``, for MNLI
    ``validation_matched``). ``val_from_train``: validation is that fraction of the train split,
    drawn with ``seed`` and stratified by label, and train is the rest (``val_split`` unused): the
    held-out arrangement is ``val_from_train=0.1, test_split="validation"``. ``limit_*`` keep that
    many rows, drawn with ``seed`` and stratified by label (classification). Bad names, missing
    files, unlabelled splits and overlaps raise UsageError.
    """
    task = get_task(task) if isinstance(task, str) else task
    for name, limit in (("limit_train", limit_train), ("limit_val", limit_val), ("limit_test", limit_test)):
        _check_limit(name, limit)
    if val_from_train is not None and not 0.0 < val_from_train < 1.0:
        raise UsageError(f"val_from_train must be a fraction between 0 and 1, got {val_from_train!r}",
                         where="val_from_train", expected="e.g. 0.1")
    if val_from_train is not None and val_split is not None:
        raise UsageError("val_split and val_from_train both choose the validation rows", where="val_split",
                         expected="one of them")
    train_expr = parse_split_expression(task, train_split or task.train_split)
    val_expr = parse_split_expression(task, val_split or task.val_split)
    test_expr = parse_split_expression(task, test_split) if test_split else None
    source: _LocalRows | _HubRows = _HubRows(task) if data_dir is None else _LocalRows(task, Path(data_dir))
    _check_expressions(task, train_expr, val_expr if val_from_train is None else None, test_expr, source)
    out: dict[str, list[Example]] = {}
    if val_from_train is None:
        out[TRAIN] = _select(task, train_expr, source, limit_train, seed, TRAIN)
        out[VALIDATION] = _select(task, val_expr, source, limit_val, seed, VALIDATION)
    else:
        pool = _positions(task, train_expr, source, TRAIN)
        held = set(_subset(task, source, pool, max(1, round(val_from_train * len(pool))), seed + 1))
        train_pos = [p for p in pool if p not in held]
        val_pos = [p for p in pool if p in held]
        if limit_train is not None:
            train_pos = _subset(task, source, train_pos, limit_train, seed)
        if limit_val is not None:
            val_pos = _subset(task, source, val_pos, limit_val, seed)
        out[TRAIN] = _take(task, source, train_pos, train_expr.text, TRAIN)
        out[VALIDATION] = _take(task, source, val_pos, f"{val_from_train:.0%} of {train_expr.text}", VALIDATION)
    if test_expr is not None:
        out[TEST] = _select(task, test_expr, source, limit_test, seed, TEST)
    return out
