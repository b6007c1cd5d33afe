"""``benchmarks/gpu_check.sh --dry-run`` on the CPU: the GPU check stays runnable between GPU sessions.

The dry run sets every step up for real, small and untimed (the gpu tests collected, a tiny LLaMA
through bench_model.py on the CPU, ``ttsearch plan`` of the search's space and overrides), so a renamed
flag, a moved file or a broken import fails here rather than on the GPU machine.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HEADER = ("step", "result", "seconds", "tokens/s", "peak memory")


def test_gpu_check_dry_run_sets_every_step_up_and_prints_the_table() -> None:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `python` = this env's
    proc = subprocess.run(["bash", str(REPO_ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run"], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"exit {proc.returncode}\n{output[-6000:]}"
    lines = proc.stdout.splitlines()
    header = next((line for line in lines if line.startswith("step ")), None)
    assert header is not None, f"no table header in:\n{proc.stdout[-4000:]}"
    assert [cell.strip() for cell in header.split("|")] == list(HEADER)
    table = lines[lines.index(header):]
    rows = {line.split("|")[0].strip(): line for line in table[2:]}
    for step in ("environment", "gpu tests", "bench", "bench train TT-LoRA auto", "search", "trial 4 of 4", "total"):
        assert step in rows, f"no '{step}' row in:\n" + "\n".join(table)
    assert "all steps passed" in rows["total"]
    assert all("dry-run" in rows[step] for step in ("gpu tests", "bench", "search"))
    assert "tests collected" in rows["gpu tests"]
