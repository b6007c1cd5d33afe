"""`analysis/` must work on a laptop with a copied folder: importing it never pulls in torch or Ray."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHECK = """
import importlib, json, pkgutil, sys
import analysis
names = [m.name for m in pkgutil.iter_modules(analysis.__path__, "analysis.")]
for name in names:
    importlib.import_module(name)
importlib.import_module("ttsearch.analysis_commands")  # registered on `ttsearch` at start-up: must stay light too
print(json.dumps({"modules": names, "heavy": sorted(m for m in ("torch", "ray", "transformers", "peft") if m in sys.modules)}))
"""


def test_analysis_and_its_cli_import_without_torch_or_ray() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"analysis.loading", "analysis.pareto", "analysis.report", "analysis.browse"} <= set(report["modules"])
    assert report["heavy"] == []
