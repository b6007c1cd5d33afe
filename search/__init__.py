"""The search side of ttsearch, in rooms of one job each (docs/ARCHITECTURE.md, "The rooms of search/"):
``ray_compat``, ``space``, ``tasks``, ``trial``, ``strategies``, ``plan``, ``replay``, ``run``. The only
package that imports ``ray.tune``.

Imports ``ttlora_core``, ``vocab`` and ``cluster``; never ``analysis`` or the CLI
(docs/ARCHITECTURE.md, "Layers").
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def forwarding_getattr(package: str, module: str) -> Callable[[str], Any]:
    """A room's module ``__getattr__`` serving the names of ``module``: four rooms have the names of old
    flat modules (``search.space`` was the schema), and pickles of older versions name their classes
    there (search/run/legacy_modules.py)."""
    def __getattr__(name: str) -> Any:
        try:
            return getattr(importlib.import_module(module), name)
        except AttributeError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
    return __getattr__
