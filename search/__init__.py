"""The search side of ttsearch: CLI, space schema, task registry, Tune trainable and driver.

Kept import-light on purpose: `analysis/` reads `search.results_schema` without pulling in Ray or torch.
"""
