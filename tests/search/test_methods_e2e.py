"""TT-LoRA and LoRA in one real search: the real CLI, an embedded Ray, the offline MiniLM, SST-2.

Both methods' trials run in one experiment under one HyperBand scheduler; the report shows both and
the front over both; each method's exported winner loads the way its users load it (LoRA:
``peft.PeftModel.from_pretrained``; TT-LoRA: ``ttlora_core.load_adapter``) and gives the validation
loss its trial recorded at its best epoch (so its logits are the trial's).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.search.helpers import SMALL_QUICKSTART, results, run_cli, trial_dirs
from vocab.experiment_folder import TUNE_PARAMS_FILE, MetricKey
from vocab.methods import flat_trial_config

pytestmark = pytest.mark.slow
QUICKSTART = "spaces/quickstart.yaml"
MIXED = [*SMALL_QUICKSTART, "--set", "num_samples=3", "--set", "train.max_epochs=2", "--set", "scheduler.max_t=2",
         "--set", "baselines.lora.rank=[4, 8]", "--set", "baselines.lora.learning_rate=1.0e-3",
         "--set", "scheduler.type=hyperband", "--set", "scheduler.reduction_factor=2"]


def _assert_ok(proc) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\nSTDOUT:\n{proc.stdout[-4000:]}\nSTDERR:\n{proc.stderr[-4000:]}"


def _val_loss_of(model, space, data_dir: Path) -> float:
    """The validation loss of ``model`` on the experiment's own validation split (same rows, same encoding)."""
    import torch

    from search.run.driver import prepare
    from search.trial.training import evaluate

    prepared = prepare(space, "space.yaml", str(data_dir))
    return evaluate(model, prepared.encoded["validation"], space.train, torch.device("cpu"), space.task).loss


@pytest.fixture(scope="module")
def mixed_experiment(tmp_path_factory: pytest.TempPathFactory, shared_data_dir: Path) -> Path:
    storage = tmp_path_factory.mktemp("methods")
    proc = run_cli(["run", QUICKSTART, "--storage", str(storage), "--data-dir", str(shared_data_dir), *MIXED])
    _assert_ok(proc)
    assert "Best TT-LoRA (lowest val loss)" in proc.stdout and "Best LoRA (lowest val loss)" in proc.stdout
    return storage / "quickstart"


def test_both_methods_ran_in_one_search(mixed_experiment: Path) -> None:
    trials = trial_dirs(mixed_experiment)
    configs = [flat_trial_config(json.loads((t / TUNE_PARAMS_FILE).read_text())) for t in trials]
    methods = [c["method"] for c in configs]
    assert sorted(methods) == ["lora", "lora", "ttlora", "ttlora", "ttlora"]  # LoRA's 2 configurations once each
    assert sorted(c["rank"] for c in configs if c["method"] == "lora") == [4, 8]
    assert methods[:2] == ["ttlora", "lora"]  # interleaved: HyperBand's first bracket holds both
    from search.plan.space_plan import build_plan
    from search.space.schema import load_space

    plan = build_plan(load_space(mixed_experiment / "space.yaml"))  # counts known before training
    lora_rows = {row.values["rank"]: row.adapter_params for m in plan.methods if m.method == "lora" for row in m.rows}
    assert lora_rows == {4: 6 * 2 * 4 * (384 + 384), 8: 6 * 2 * 8 * (384 + 384)}
    for trial, config in zip(trials, configs):
        last = results(trial)[-1]
        assert last[MetricKey.METHOD.value] == config["method"]
        if config["method"] == "lora":
            expected = lora_rows[config["rank"]]
            assert last[MetricKey.TTLORA_PARAMS.value] == 0
        else:
            shape = config["shape"] if config["shape"] != "auto" else "auto"
            (row,) = [r for r in plan.rows if r.shape == shape and r.rank == config["rank"]
                      and (shape != "auto" or r.cores == config["cores"])]
            expected = row.tt_params
        assert last[MetricKey.ADAPTER_PARAMS.value] == expected > 0
        assert last[MetricKey.ADAPTER_FILE_BYTES.value] > 4 * expected  # fp32 tensors plus the head
    meta = json.loads((mixed_experiment / "ttsearch_experiment.json").read_text())
    assert meta["methods"] == ["ttlora", "lora"]


def test_report_shows_both_methods_and_the_cross_method_front(mixed_experiment: Path, tmp_path: Path) -> None:
    from analysis.figures import METHOD_FRONT_META
    from analysis.report import HEADLINE_ID, METHOD_TABLE_ID

    out = tmp_path / "report.html"
    _assert_ok(run_cli(["report", str(mixed_experiment), "--out", str(out)]))
    page = out.read_text()
    assert METHOD_TABLE_ID in page and HEADLINE_ID in page and METHOD_FRONT_META in page
    assert "TT-LoRA" in page and "LoRA" in page
    assert "reported (Table" not in page  # MiniLM / SST-2: no paper cells


def test_exported_lora_winner_loads_with_peft_and_reproduces_the_trial(mixed_experiment: Path, tmp_path: Path,
                                                                       shared_data_dir: Path) -> None:
    from peft import PeftModel

    from search.space.schema import load_space
    from search.trial.export_artifacts import trial_base_model

    out = tmp_path / "lora"
    proc = run_cli(["export", str(mixed_experiment), "--out", str(out), "--method", "lora"])
    _assert_ok(proc)
    exported = json.loads((out / "export.json").read_text())
    assert exported["method"] == "lora"
    space = load_space(mixed_experiment / "space.yaml")
    base, _ = trial_base_model(space)
    model = PeftModel.from_pretrained(base, str(out / "adapter")).eval()
    trial = next(t for t in trial_dirs(mixed_experiment) if t.name.endswith(exported["trial_id"]))
    recorded = next(r[MetricKey.BEST_VAL_LOSS.value] for r in reversed(results(trial))
                    if math.isfinite(r.get(MetricKey.BEST_VAL_LOSS.value, math.nan)))
    assert _val_loss_of(model, space, shared_data_dir) == pytest.approx(recorded, abs=1e-5)


def test_exported_ttlora_winner_loads_with_ttlora_core(mixed_experiment: Path, tmp_path: Path,
                                                       shared_data_dir: Path) -> None:
    from search.space.schema import load_space
    from search.trial.export_artifacts import trial_base_model
    from ttlora_core import load_adapter

    out = tmp_path / "ttlora"
    _assert_ok(run_cli(["export", str(mixed_experiment), "--out", str(out), "--method", "ttlora"]))
    exported = json.loads((out / "export.json").read_text())
    space = load_space(mixed_experiment / "space.yaml")
    base, _ = trial_base_model(space)
    load_adapter(base, out / "adapter")
    trial = next(t for t in trial_dirs(mixed_experiment) if t.name.endswith(exported["trial_id"]))
    recorded = next(r[MetricKey.BEST_VAL_LOSS.value] for r in reversed(results(trial))
                    if math.isfinite(r.get(MetricKey.BEST_VAL_LOSS.value, math.nan)))
    assert _val_loss_of(base.eval(), space, shared_data_dir) == pytest.approx(recorded, abs=1e-5)
