"""``ttsearch export`` on the real experiment: best.yaml re-runs exactly the chosen trial once, the
adapter loads with ttlora_core, the merged model and the PEFT LoRA adapter give the same logits."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from analysis import columns as col
from analysis.export_config import BEST_SPACE_FILE, EXPORT_SUMMARY_FILE
from analysis.loading import load_experiment
from analysis.pareto import best_trial, pareto_front
from search.space.schema import load_space
from search.trial.export_artifacts import ADAPTER_OUT, LORA_OUT, MERGED_OUT
from tests.analysis.conftest import RealExperiments, run_ttsearch
from ttsearch.main import main as ttsearch_main
from vocab.experiment_folder import TUNE_PARAMS_FILE, TUNE_RESULT_FILE, MetricKey, StopReason
from vocab.methods import flat_trial_config
from vocab.searched_params import PARAM_NAMES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(real_experiments: RealExperiments, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "best"
    ttsearch_main(["export", str(real_experiments.main), "--out", str(out), "--merged", "--as-lora"])
    return out


def _logits(model: torch.nn.Module, tokenizer, texts: list[str]) -> torch.Tensor:
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits


def test_export_picks_the_best_trial_by_the_search_metric(real_experiments: RealExperiments, exported: Path) -> None:
    exp = load_experiment(real_experiments.main)
    best = best_trial(exp.trials, col.BEST_VAL_LOSS)  # the space optimised val_loss (mode min)
    summary = json.loads((exported / EXPORT_SUMMARY_FILE).read_text())
    assert summary["trial_id"] == best[col.TRIAL_ID]
    sampled = flat_trial_config(json.loads((real_experiments.main / best[col.TRIAL_DIR] / TUNE_PARAMS_FILE).read_text()))
    assert summary["method"] == "ttlora" and summary["params"] == {k: v for k, v in sampled.items() if k in PARAM_NAMES}
    space = load_space(exported / BEST_SPACE_FILE)  # a valid space file
    assert space.num_samples == 1 and space.scheduler.type == "none"
    assert {k: spec.values[0] for k, spec in space.searched_params().items()} == summary["params"]
    original = load_space(real_experiments.main / "space.yaml")
    assert space.train == original.train and space.data == original.data and space.model == original.model


def test_exported_adapter_merged_model_and_lora_agree(exported: Path, minilm_path: str) -> None:
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ttlora_core import load_adapter

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    texts = ["a gripping, funny film", "dull and far too long", "it is a movie"]
    with_adapter = load_adapter(AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=2),
                                exported / ADAPTER_OUT).eval()
    expected = _logits(with_adapter, tokenizer, texts)
    plain = AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=2).eval()
    assert not torch.allclose(_logits(plain, tokenizer, texts), expected, atol=1e-4)  # the adapter changes something
    merged = AutoModelForSequenceClassification.from_pretrained(exported / MERGED_OUT).eval()
    assert torch.allclose(_logits(merged, tokenizer, texts), expected, atol=1e-4, rtol=1e-4)
    lora = PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=2),
                                     str(exported / LORA_OUT)).eval()
    assert torch.allclose(_logits(lora, tokenizer, texts), expected, atol=1e-4, rtol=1e-4)


def test_best_yaml_reruns_exactly_that_trial_once(real_experiments: RealExperiments, exported: Path,
                                                  tmp_path: Path) -> None:
    proc = run_ttsearch(["run", str(exported / BEST_SPACE_FILE), "--storage", str(tmp_path), "--no-live"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((exported / EXPORT_SUMMARY_FILE).read_text())
    (rerun_folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    rerun = load_experiment(rerun_folder)
    assert len(rerun.trials) == 1
    (trial,) = rerun.trials.itertuples(index=False)
    rerun_config = flat_trial_config(json.loads(getattr(trial, col.CONFIG_JSON)))
    assert {k: v for k, v in rerun_config.items() if k in PARAM_NAMES} == summary["params"]
    assert getattr(trial, col.STOP_REASON) in (StopReason.MAX_EPOCHS.value, StopReason.EARLY_STOP.value)
    assert getattr(trial, col.TTLORA_PARAMS) == summary[col.TTLORA_PARAMS]
    # same configuration, seed, data order, dropout masks (seeded per epoch) and initial adapter: the same
    # losses epoch by epoch, though the original trial ran on a worker's cached model and the rerun on a
    # fresh load (a cached model that kept anything from an earlier trial would show here)
    original = load_experiment(real_experiments.main).curves
    original = original[original[col.TRIAL_ID] == summary["trial_id"]].set_index(MetricKey.EPOCH.value)
    again = rerun.curves.set_index(MetricKey.EPOCH.value)
    common = original.index.intersection(again.index)
    assert len(common) >= 1
    pd.testing.assert_series_equal(again.loc[common, MetricKey.VAL_LOSS.value], original.loc[common, MetricKey.VAL_LOSS.value],
                                   rtol=0, atol=1e-6)
    assert (rerun_folder / getattr(trial, col.TRIAL_DIR) / TUNE_RESULT_FILE).is_file()


def test_export_by_pareto_budget(real_experiments: RealExperiments, tmp_path: Path, capsys) -> None:
    exp = load_experiment(real_experiments.main)
    front = pareto_front(exp.trials)
    smallest = front.iloc[0]
    ttsearch_main(["export", str(real_experiments.main), "--out", str(tmp_path / "p"), "--by", "pareto",
                   "--max-params", str(int(smallest[col.TTLORA_PARAMS]))])
    assert json.loads((tmp_path / "p" / EXPORT_SUMMARY_FILE).read_text())["trial_id"] == smallest[col.TRIAL_ID]
    assert (tmp_path / "p" / ADAPTER_OUT / "adapter_config.json").is_file()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        ttsearch_main(["export", str(real_experiments.main), "--out", str(tmp_path / "q"), "--by", "pareto",
                       "--max-params", "10"])
    assert exit_info.value.code == 2
    assert "no Pareto-front trial has at most 10 adapter parameters" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        ttsearch_main(["export", str(real_experiments.main), "--out", str(tmp_path / "r"), "--by", "pareto"])
    assert exit_info.value.code == 2
    assert "--by pareto needs --max-params" in capsys.readouterr().err
