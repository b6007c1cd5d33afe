"""A finalist of the confirmation stage: a search trial to re-train with new seeds.

``analysis`` selects finalists from an experiment folder and ``search`` re-trains them; both speak of
the same record, so it lives here, below both (docs/ARCHITECTURE.md, "Confirmation over seeds").
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Finalist:
    """A search trial to re-train: its id, method, sampled values (flat, no ``_`` keys) and size."""

    trial_id: str
    method: str
    values: dict[str, object]
    adapter_params: float = math.nan

    def request(self) -> dict[str, object]:
        """What the confirmation folder records of it: its identity (id, method, values), not its size,
        so a confirmation recorded before the size was carried still resumes."""
        return {"trial_id": self.trial_id, "method": self.method, "values": dict(self.values)}


__all__ = ["Finalist"]
