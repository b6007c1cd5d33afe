"""The shared vocabulary of ttsearch: the bottom layer every other package may import.

What it holds (docs/ARCHITECTURE.md, "Layers"):

* ``vocab.errors``: ``UsageError``, the one error type for bad user input (exit code 2).
* ``vocab.experiment_folder``: the experiment-folder schema (file names, metric keys, stop reasons,
  ``ExperimentMeta``), written by ``search`` and read by ``analysis``.
* ``vocab.searched_params``: the table of searched hyperparameters (one row each).
* ``vocab.methods``: the table of methods (TT-LoRA and the baselines).
* ``vocab.shape_text``: the one shape-to-text formatter.
* ``vocab.front_volume``: the front's hypervolume and its reference point (replay and analysis).
* ``vocab.recording``: the compact recording of a ``scheduler: none`` experiment that replays read.
* ``vocab.version``: the installed package version.

Standard library only: no torch, no Ray, no pandas, no YAML, so a report can be built on a laptop.
"""
