"""The ``ttsearch`` command line: the top layer (docs/ARCHITECTURE.md, "Layers").

Thin click subcommands over plain library functions of ``search``, ``analysis`` and ``cluster``;
no other package imports this one. ``python -m ttsearch`` is the ``ttsearch`` console script.
"""
