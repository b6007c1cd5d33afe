"""Read GLUE (tsv) and SuperGLUE (jsonl) files in the official release layout into hub-style rows.

Layout under a data root::

    <root>/glue/SST-2/{train,dev,test}.tsv        <root>/glue/MNLI/{train,dev_matched,...}.tsv
    <root>/superglue/BoolQ/{train,val,test}.jsonl

``data_dir`` may be that root, the benchmark folder (``<root>/glue``) or the task folder itself.
Rows come back with the Hugging Face hub's field names and label ids (e.g. RTE ``not_entailment``
-> 1, BoolQ ``true`` -> 1), so one formulation serves both sources.

Quirks handled: TSV files are not quoted (read with ``csv.QUOTE_NONE``; GLUE RTE train row 2164
starts with a quote), MRPC begins with a UTF-8 BOM (``utf-8-sig``), CoLA has no header and
4 columns, CoLA dev has no final newline, blank lines are skipped.
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

from search.tasks.registry import LocalFormat, TaskSpec
from vocab.errors import UsageError

LAYOUT_HELP = (
    "the official layout: <data_dir>/glue/<Task>/{train,dev,test}.tsv (e.g. glue/SST-2/train.tsv) "
    "and <data_dir>/superglue/<Task>/{train,val,test}.jsonl (e.g. superglue/BoolQ/val.jsonl)"
)

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # some GLUE cells (QQP, MNLI parses) are long


def local_file_for(task: TaskSpec, data_dir: Path, hub_split: str) -> Path:
    """The file holding ``hub_split`` of ``task`` under ``data_dir``; UsageError naming the path."""
    if not data_dir.is_dir():
        raise UsageError(f"data directory {str(data_dir)!r} does not exist or is not a folder",
                         where="data.dir", expected=LAYOUT_HELP)
    file_name = f"{task.local_stem(hub_split)}.{task.local_format.file_ext}"
    folder = task.local_dir.split("/", 1)[1]
    candidates = [data_dir / task.local_dir, data_dir / folder, data_dir]
    for folder_path in candidates:
        if (folder_path / file_name).is_file():
            return folder_path / file_name
    expected = data_dir / task.local_dir / file_name
    task_folder = next((c for c in candidates[:2] if c.is_dir()), None)
    present = sorted(p.name for p in task_folder.iterdir()) if task_folder else []
    hint = f"; {task_folder} holds only: {', '.join(present) or 'nothing'}" if task_folder else ""
    if present and hub_split == "train":
        hint += " (use a split expression such as train_split='val[:80%]', val_split='val[80%:]')"
    raise UsageError(f"no {hub_split} file for task {task.name!r}: {str(expected)!r} not found{hint}",
                     where="data.dir", expected=LAYOUT_HELP)


def read_local_rows(task: TaskSpec, path: Path) -> list[dict[str, Any]]:
    """All rows of one local file as hub-style dicts (hub field names plus an int/float ``label``)."""
    fmt = task.local_format
    if fmt.file_ext == "tsv":
        records = _read_tsv(path, fmt)
    else:
        records = _read_jsonl(path)
    return [_to_hub_row(task, fmt, record, path, line) for line, record in records]


def _read_tsv(path: Path, fmt: LocalFormat) -> list[tuple[int, dict[str | int, str]]]:
    """(line number, {column name or index: cell}) for each data row of an unquoted TSV file."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    start = 0
    header: list[str] | None = None
    if fmt.has_header:
        if not lines:
            raise UsageError(f"{path}: empty file, expected a header row", where=str(path))
        header, start = lines[0], 1
        wanted = [c for _, c in fmt.fields] + [fmt.label_column]
        missing = [c for c in wanted if isinstance(c, str) and c not in header]
        if missing:
            raise UsageError(f"{path}: header lacks column(s) {missing}; header is {header}",
                             where=str(path), expected=f"columns {wanted}")
    width = len(header) if header else max((len(r) for r in lines), default=0)
    records = []
    for number, cells in enumerate(lines[start:], start=start + 1):
        if not cells or cells == [""]:
            continue
        if len(cells) != width:
            raise UsageError(f"{path}:{number}: {len(cells)} tab-separated fields, expected {width}",
                             where=str(path))
        keys: list[str | int] = list(header) if header else list(range(width))
        records.append((number, dict(zip(keys, cells))))
    return records


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{number}: not valid JSON ({exc.msg})", where=str(path)) from exc
            if not isinstance(record, dict):
                raise UsageError(f"{path}:{number}: expected a JSON object per line", where=str(path))
            records.append((number, record))
    return records


def _lookup(record: dict[Any, Any], column: str | int, path: Path, line: int) -> Any:
    """A cell by header name / index, or a dotted path into nested JSON ("target.span1_text")."""
    if isinstance(column, int) or column in record:
        if column not in record:
            raise UsageError(f"{path}:{line}: missing column {column!r}", where=str(path))
        return record[column]
    value: Any = record
    for part in column.split("."):
        if not isinstance(value, dict) or part not in value:
            raise UsageError(f"{path}:{line}: missing field {column!r}", where=str(path))
        value = value[part]
    return value


def _to_hub_row(task: TaskSpec, fmt: LocalFormat, record: dict[Any, Any], path: Path, line: int) -> dict[str, Any]:
    row = {hub_field: _lookup(record, column, path, line) for hub_field, column in fmt.fields}
    raw_label = _lookup(record, fmt.label_column, path, line)
    row["label"] = parse_label(task, raw_label, where=f"{path}:{line}")
    return row


def parse_label(task: TaskSpec, raw: Any, where: str) -> int | float:
    """A local label cell as the hub's label id (or float score); UsageError on anything else."""
    kind = task.local_format.label_kind
    try:
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if isinstance(raw, bool):
                return int(raw)
            lowered = str(raw).strip().lower()
            if lowered in ("true", "false"):
                return int(lowered == "true")
            raise ValueError(raw)
        if kind == "names":
            return task.label_names.index(str(raw).strip())
        value = int(str(raw).strip())
        if not 0 <= value < task.num_labels:
            raise ValueError(raw)
        return value
    except ValueError:
        expected = {"float": "a number", "bool": "true/false",
                    "names": " / ".join(task.label_names)}.get(kind, f"an integer 0..{task.num_labels - 1}")
        raise UsageError(f"{where}: bad label {raw!r} for task {task.name!r}", where=where,
                         expected=expected) from None
