"""The installed ttsearch version (written into experiment folders and adapters' provenance)."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """The ``ttsearch`` distribution's version, or ``0.0.0+source`` in an uninstalled source tree."""
    try:
        return version("ttsearch")
    except PackageNotFoundError:
        return "0.0.0+source"
