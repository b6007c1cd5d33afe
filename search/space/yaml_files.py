"""Reading search-space YAML: the loader, ``extends:`` merging and ``--set`` overrides (no schema here:
``search/space/schema.py`` validates what these return)."""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from vocab.errors import UsageError


class SpaceYamlLoader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-4`` as a float (YAML 1.1 wants ``1.0e-4``; users write ``1e-4``)."""


SpaceYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def parse_yaml_text(text: str) -> Any:
    return yaml.load(text, Loader=SpaceYamlLoader)  # noqa: S506 - a SafeLoader subclass


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read one YAML file whose root must be a mapping."""
    if not path.is_file():
        raise UsageError("file not found", where=str(path), expected="a search-space YAML file")
    try:
        raw = parse_yaml_text(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"not UTF-8 text: byte {exc.object[exc.start]:#04x} at offset {exc.start}", where=str(path),
                         expected="a UTF-8 YAML file") from None
    except OSError as exc:
        raise UsageError(f"cannot read the file: {exc.strerror or exc}", where=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UsageError(f"malformed YAML{at}: {getattr(exc, 'problem', exc)}", where=str(path)) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UsageError(f"the document root is a {type(raw).__name__}", where=str(path), expected="a mapping")
    return raw


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge mappings recursively; values of ``override`` win, lists are replaced whole."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_raw_with_extends(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read ``path`` and resolve ``extends:`` (a path relative to the file, or a list of them)."""
    path = path.resolve()
    if path in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, path))
        raise UsageError(f"circular extends: {chain}", where=str(path))
    raw = read_yaml_mapping(path)
    parents = raw.pop("extends", None)
    if parents is None:
        return raw
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise UsageError("extends must name files", where=f"{path}: extends", expected="a path or a list of paths")
    merged: dict[str, Any] = {}
    for parent in parents:
        merged = deep_merge(merged, load_raw_with_extends(path.parent / parent, (*_seen, path)))
    return deep_merge(merged, raw)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides; values are parsed as YAML (``rank=[4,5]`` is a list)."""
    result = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"bad override {item!r}", where="--set", expected="key.path=value")
        try:
            value = parse_yaml_text(text)
        except yaml.YAMLError as exc:
            raise UsageError(f"value of {key} is not valid YAML: {exc}", where="--set") from None
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UsageError(f"{'.'.join(parts)}: {part} is not a section", where="--set")
            node = child
        node[parts[-1]] = value
    return result


