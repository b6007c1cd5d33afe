"""What a resumed trial needs besides tensors, stored as JSON in each checkpoint (``trial_state.json``)."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class TrialState:
    """Everything besides tensors that a resumed trial needs (stored as JSON in each checkpoint)."""

    epoch: int = 0  # epochs finished
    best_epoch: int = 0
    best_val_loss: float = math.inf
    best_score: float = -math.inf
    epochs_without_improvement: int = 0
    best_test_loss: float = math.nan  # held-out split on the best adapter (NaN: not scored yet, or no test split)
    best_test_score: float = math.nan
    finished: bool = False  # the final report was made (restored after it: return at once)


__all__ = ["TrialState"]
