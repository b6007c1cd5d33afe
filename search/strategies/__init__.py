"""How trials are chosen and stopped: schedulers (ASHA, HyperBand, banded ASHA, multi-objective ASHA)
and searchers (random, Optuna) built from the space by name, their band arithmetic, and the scheduler's
memory across ``--resume``."""
from search import forwarding_getattr

__getattr__ = forwarding_getattr("search.strategies", "search.strategies.factory")
