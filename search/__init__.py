"""The search side of ttsearch: space schema, task registry, Tune trainable, scheduler set-up, driver,
``plan`` and the torch half of ``export``. The only package that imports ``ray.tune``.

Imports ``ttlora_core``, ``vocab`` and ``cluster``; never ``analysis`` or the CLI
(docs/ARCHITECTURE.md, "Layers").
"""
