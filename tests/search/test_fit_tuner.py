"""``fit_tuner`` on real Tune runs, in a child process of its own (a SIGINT is sent to it): a fit that ends
by itself is not interrupted and leaves the SIGINT handler it found; a fit whose trial sends the
driver SIGINT while it still has work is interrupted, whether or not Ray's loggers let Tune's warning
through (a replay turns them down to ERROR)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.search.helpers import REPO_ROOT, cli_env

pytestmark = pytest.mark.slow

CHILD = r'''
import json, logging, os, signal, sys, time
import ray
from ray import tune
from search.strategies.tuner import fit_tuner

def trainable(config):
    for step in range(config["steps"]):
        tune.report({"step": step})
        if config["interrupt"] and step == 0:
            os.kill(config["driver"], signal.SIGINT)
            time.sleep(300)  # work left: the fit cannot end by itself

def fit(interrupt, storage):
    tuner = tune.Tuner(trainable, param_space={"steps": 3, "interrupt": interrupt, "driver": os.getpid()},
                       run_config=tune.RunConfig(storage_path=storage, name=f"fit_{interrupt}", verbose=0))
    return fit_tuner(tuner)[1]

ray.init(num_cpus=1, include_dashboard=False, logging_level=logging.ERROR)
logging.getLogger("ray").setLevel(logging.ERROR)  # as replays set it: Tune's warning is never made
before = signal.getsignal(signal.SIGINT)
ended = fit(False, sys.argv[1])
kept = signal.getsignal(signal.SIGINT) is before
interrupted = fit(True, sys.argv[1])
print(json.dumps({"ended": ended, "kept": kept, "interrupted": interrupted,
                  "kept_after_interrupt": signal.getsignal(signal.SIGINT) is before}))
'''


def test_fit_tuner_tells_a_ctrl_c_from_an_end(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], cwd=REPO_ROOT, env=cli_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome == {"ended": False, "kept": True, "interrupted": True, "kept_after_interrupt": True}, proc.stderr[-2000:]
