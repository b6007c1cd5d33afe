"""End-to-end searches: the real CLI, an embedded Ray, the offline MiniLM (or a tiny LLaMA), real data.

Small settings through --set keep each search to about a minute on 2 CPUs; the searches are real
(HyperBand, per-epoch checkpoints, restarts, resume).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.search.helpers import (
    ONE_TRIAL_THREE_EPOCHS,
    REPO_ROOT,
    SMALL_QUICKSTART,
    cli_env,
    latest_checkpoint,
    results,
    run_cli,
    trial_dirs,
    wait_until_quiet,
)
from vocab.experiment_folder import (
    ADAPTER_DIR,
    BEST_ADAPTER_DIR,
    EXPERIMENT_META_FILE,
    RAY_LOG_DIR,
    TUNE_ERROR_FILE,
    ExperimentMeta,
    MetricKey,
)

pytestmark = pytest.mark.slow
QUICKSTART = "spaces/quickstart.yaml"
# the quickstart's former strategy (random search: with Optuna, HyperBand cut nothing here; plan warns)
HYPERBAND = ["--set", "scheduler.type=hyperband", "--set", "scheduler.reduction_factor=2", "--set", "search.algorithm=random"]


def _assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\nSTDOUT:\n{proc.stdout[-4000:]}\nSTDERR:\n{proc.stderr[-4000:]}"


def test_quickstart_search_end_to_end(tmp_path: Path, shared_data_dir: Path, minilm_path: str) -> None:
    """HyperBand over the quickstart space: trials run, some are cut early, every best adapter loads."""
    proc = run_cli(["run", QUICKSTART, "--storage", str(tmp_path), "--data-dir", str(shared_data_dir),
                    *SMALL_QUICKSTART, "--set", "num_samples=6", "--set", "train.max_epochs=3",
                    "--set", "scheduler.max_t=3", *HYPERBAND])
    _assert_ok(proc)
    assert "[epoch]" in proc.stdout and "6 trials: 6 finished, 0 failed." in proc.stdout
    assert "View detailed results" not in proc.stdout + proc.stderr  # Tune's own console output is off
    experiment = tmp_path / "quickstart"
    assert (experiment / RAY_LOG_DIR / "driver.log").exists()
    meta = ExperimentMeta.from_json((experiment / EXPERIMENT_META_FILE).read_text())
    assert meta.task == "sst2" and len(meta.target_dims) == 12

    trials = trial_dirs(experiment)
    assert len(trials) == 6
    _assert_reports(trials)
    _assert_best_adapters_load(experiment, trials, minilm_path)


def _assert_reports(trials: list[Path]) -> None:
    """HyperBand cut some trials before max_t; the held-out test was scored once, in the final report of
    a trial that ended by itself; every epoch's time and token budget adds up."""
    epochs_run = {t.name: len(results(t)) for t in trials}
    final = {t.name: results(t)[-1] for t in trials}
    cut_by_scheduler = [n for n, r in final.items() if r[MetricKey.STOP_REASON.value] == "running"]
    assert cut_by_scheduler, f"HyperBand stopped no trial early: {epochs_run}"
    assert all(epochs_run[n] < 3 for n in cut_by_scheduler)
    assert any(r[MetricKey.STOP_REASON.value] == "max_epochs" for r in final.values())
    # a trial HyperBand cut was scored after the search only if it matters
    ended_by_itself = [n for n, r in final.items() if r[MetricKey.STOP_REASON.value] != "running"]
    assert all(0 < final[n][MetricKey.BEST_TEST_SCORE.value] <= 1 and final[n][MetricKey.TEST_SECONDS.value] > 0
               for n in ended_by_itself)
    for trial in trials:  # never before the final report
        assert all(r[MetricKey.TEST_SECONDS.value] == 0 for r in results(trial)[:-1])
        for r in results(trial):  # the time budget adds up, and padding is counted
            assert r[MetricKey.EVAL_SECONDS.value] == pytest.approx(r[MetricKey.VAL_SECONDS.value] + r[MetricKey.TEST_SECONDS.value])
            assert r[MetricKey.EPOCH_SECONDS.value] == pytest.approx(
                r[MetricKey.TRAIN_SECONDS.value] + r[MetricKey.EVAL_SECONDS.value] + r[MetricKey.CHECKPOINT_SECONDS.value])
            assert 0 < r[MetricKey.TRAIN_TOKENS.value] <= r[MetricKey.TRAIN_TOKEN_POSITIONS.value]
            assert 0 < r[MetricKey.EVAL_TOKENS.value] <= r[MetricKey.EVAL_TOKEN_POSITIONS.value]
            assert r[MetricKey.CHECKPOINT_SECONDS.value] > 0 and r[MetricKey.PEAK_GPU_MEMORY_BYTES.value] == 0
            assert r[MetricKey.EPOCH_STARTED_UNIX.value] < r[MetricKey.EPOCH_ENDED_UNIX.value]
            assert r[MetricKey.VAL_CLASSES_PREDICTED.value] in (1, 2)  # SST-2: two classes
            assert r[MetricKey.COMPUTE_DTYPE.value] == "float32"  # train.precision fp32 (the default)
    assert all(r[MetricKey.TOKENS_PER_SECOND.value] > 0 and r[MetricKey.ADAPTER_FILE_BYTES.value] > 0
               for r in final.values())


def _assert_best_adapters_load(experiment: Path, trials: list[Path], minilm_path: str) -> None:
    """Every trial's best adapter loads into a fresh model with the reported parameter count, and its
    cores change the model's function."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from search.space.schema import load_space
    from search.trial.config import ttlora_config_for
    from ttlora_core import apply_ttlora, load_adapter, ttlora_layers

    space = load_space(experiment / "space.yaml")
    for trial in trials:
        checkpoint = latest_checkpoint(trial)
        assert checkpoint is not None and (checkpoint / BEST_ADAPTER_DIR).is_dir() and (checkpoint / ADAPTER_DIR).is_dir()
        params = json.loads((trial / "params.json").read_text())
        model = apply_ttlora(AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=2),
                             ttlora_config_for(space, params))
        load_adapter(model, checkpoint / BEST_ADAPTER_DIR)
        counted = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and "classifier" not in n)
        assert counted == results(trial)[-1][MetricKey.TTLORA_PARAMS.value]
        # the same model (same trained head) with its cores zeroed gives other logits
        batch = {"input_ids": torch.tensor([[101, 2023, 3185, 2001, 2307, 102]])}
        with torch.no_grad():
            trained = model(**batch).logits
            for layer in ttlora_layers(model).values():
                for core in layer.cores:
                    core.zero_()
            assert not torch.allclose(model(**batch).logits, trained, atol=1e-5)


def _tiny_llama(folder: Path, minilm_path: str) -> Path:
    """A random 2-layer LLaMA with grouped-query attention (v_proj 32x64), saved with the MiniLM tokenizer."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=30522, max_position_embeddings=256, pad_token_id=0)
    LlamaForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(folder)
    return folder


def test_llama2_boolq_space_on_a_tiny_llama(tmp_path: Path, shared_data_dir: Path, minilm_path: str) -> None:
    model = _tiny_llama(tmp_path / "tiny-llama", minilm_path)
    proc = run_cli([
        "run", "spaces/llama2_boolq.yaml", "--storage", str(tmp_path / "results"), "--name", "tiny_llama_boolq",
        "--set", f"model.name_or_path={model}", "--set", "model.dtype=float32",
        "--set", f"data.dir={shared_data_dir}", "--set", "data.train_split=val[:80%]",
        "--set", "data.val_split=val[80%:]", "--set", "data.limit_train=48", "--set", "data.limit_val=24",
        "--set", "train.max_length=64", "--set", "train.batch_size=16", "--set", "train.max_epochs=2",
        "--set", "scheduler.max_t=2", "--set", "num_samples=2", "--set", "search.shape=auto",
        "--set", "search.cores=4", "--set", "search.rank=[2, 3]", "--set", "resources.gpu=0",
        "--set", "resources.cpu=1", "--set", "baselines.lora.enabled=false",  # the paper space's LoRA r=8 left out
    ])
    _assert_ok(proc)
    experiment = tmp_path / "results" / "tiny_llama_boolq"
    meta = ExperimentMeta.from_json((experiment / EXPERIMENT_META_FILE).read_text())
    assert meta.model_family == "llama" and meta.score_name == "accuracy"
    # q_proj 64x64 and the grouped-query v_proj 32x64 of both layers
    assert sorted(tuple(v) for v in meta.target_dims.values()) == [(32, 64), (32, 64), (64, 64), (64, 64)]
    trials = trial_dirs(experiment)
    assert len(trials) == 2 and all(len(results(t)) >= 1 for t in trials)


def test_trial_that_raises_restarts_from_its_checkpoint(tmp_path: Path, shared_data_dir: Path,
                                                        uninterrupted_trial: Path) -> None:
    """A crash at epoch 2 restarts from the epoch-1 checkpoint and replays exactly what an uninterrupted
    run trains (seeded data order and dropout, the LR schedule and optimizer state restored)."""
    args = ["run", QUICKSTART, "--data-dir", str(shared_data_dir), *ONE_TRIAL_THREE_EPOCHS]
    proc = run_cli([*args, "--storage", str(tmp_path / "crashed")], TTSEARCH_FAIL_ONCE_AT_EPOCH="2")
    _assert_ok(proc)
    assert "[retry]" in proc.stdout and "1 trials: 1 finished, 0 failed." in proc.stdout
    (trial,) = trial_dirs(tmp_path / "crashed" / "quickstart")
    assert (trial / ".ttsearch_injected_failure").exists()
    epochs = [r[MetricKey.EPOCH.value] for r in results(trial)]
    assert epochs == [1, 2, 3]  # epoch 1 restored from the checkpoint, not trained again
    clean = uninterrupted_trial
    crashed_losses = [r[MetricKey.VAL_LOSS.value] for r in results(trial)]
    clean_losses = [r[MetricKey.VAL_LOSS.value] for r in results(clean)]
    assert crashed_losses == pytest.approx(clean_losses, rel=0, abs=1e-6)


def test_diverged_and_out_of_memory_trials_end_at_once_and_keep_their_best(tmp_path: Path,
                                                                         shared_data_dir: Path) -> None:
    """Under HyperBand: lr 1e30 diverges in epoch 1; the lr 0.005 trials diverge (injected) or run out of
    memory (injected) in epoch 2. None is retried, none is an error, and the two that had an epoch keep
    its scores and adapter (they stay in the front and can be exported)."""
    from analysis.loading import load_experiment
    from analysis.pareto import pareto_front
    from vocab.experiment_folder import StopReason

    common = ["--data-dir", str(shared_data_dir), *SMALL_QUICKSTART, "--set", "search.shape=[8,6,8,8,6,8]",
              "--set", "search.rank=4", "--set", "num_samples=1", "--set", "train.max_epochs=3",
              "--set", "scheduler.max_t=3", "--set", "train.max_failures=2", *HYPERBAND]
    for kind, env in (("diverge", {"TTSEARCH_DIVERGE_AT_EPOCH": "2"}), ("oom", {"TTSEARCH_OOM_AT_EPOCH": "2"})):
        lrs = "[0.005, 1.0e+30]" if kind == "diverge" else "[0.005]"
        proc = run_cli(["run", QUICKSTART, "--storage", str(tmp_path / kind), *common,
                        "--set", f"search.learning_rate={{grid: {lrs}}}"], **env)
        _assert_ok(proc)
        assert "[retry]" not in proc.stdout and "failed" in proc.stdout and " 0 failed." in proc.stdout
        experiment = tmp_path / kind / "quickstart"
        assert not [t for t in trial_dirs(experiment) if (t / TUNE_ERROR_FILE).exists()]
        trials = load_experiment(experiment).trials.set_index("learning_rate")
        expected = StopReason.DIVERGED.value if kind == "diverge" else StopReason.OUT_OF_MEMORY.value
        kept = trials.loc[0.005]
        assert kept["stop_reason"] == expected and kept["epochs"] == 1 and kept["best_epoch"] == 1
        assert kept["best_adapter_path"] and 0 < kept["best_score"] <= 1 and expected in kept["error"]
        assert 0 < kept["best_test_score"] <= 1 and kept["test_scored"] == "by the trial"  # on its best adapter
        assert kept["trial_id"] in set(pareto_front(load_experiment(experiment).trials)["trial_id"])
        if kind == "diverge":
            exploded = trials.loc[1e30]
            assert exploded["stop_reason"] == expected and "non-finite" in exploded["error"]
            assert exploded["best_adapter_path"] == ""  # nothing earned in its first epoch


def test_killed_driver_resumes_without_rerunning_finished_trials(tmp_path: Path, shared_data_dir: Path) -> None:
    args = ["run", QUICKSTART, "--storage", str(tmp_path), "--data-dir", str(shared_data_dir), *SMALL_QUICKSTART,
            "--set", "num_samples=4", "--set", "scheduler.type=none", "--set", "train.max_epochs=2",
            "--set", "scheduler.max_t=2", "--set", "resources.max_concurrent_trials=1",
            "--set", "resources.cpu=2"]  # one trial at a time: it may use both cores
    experiment = tmp_path / "quickstart"
    driver = subprocess.Popen([sys.executable, "-m", "ttsearch", *args], cwd=REPO_ROOT, env=cli_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    finished_before: dict[str, list[dict]] = {}
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not finished_before:
            time.sleep(1.0)
            if experiment.is_dir():
                finished_before = {t.name: results(t) for t in trial_dirs(experiment)
                                   if results(t) and results(t)[-1][MetricKey.DONE_BY_TRAINABLE.value]}
        assert finished_before, "no trial finished within 300 s"
        wait_until_quiet(experiment)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray processes it started
        driver.wait()
    finished_before = {t.name: results(t) for t in trial_dirs(experiment)  # as the resume will find them
                       if results(t) and results(t)[-1][MetricKey.DONE_BY_TRAINABLE.value]}
    assert 0 < len(finished_before) < 4

    proc = run_cli([*args, "--resume"])
    _assert_ok(proc)
    trials = trial_dirs(experiment)
    assert len(trials) == 4
    for trial in trials:
        assert results(trial)[-1][MetricKey.EPOCH.value] == 2
    for name, before in finished_before.items():
        assert results(experiment / name) == before  # kept as they were, not rerun
