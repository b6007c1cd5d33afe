"""One epoch's report to Tune (``vocab.experiment_folder.MetricKey``): the trial's state and sizes,
and the epoch's time budget (train, validation, test and checkpoint seconds, real tokens and token
positions, peak GPU memory, the worker's resident host memory). Built by search/trial/trainable.py."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from search.trial.host_memory import resident_bytes
from search.trial.state import TrialState
from search.trial.training import EpochResult, EvalResult
from vocab.experiment_folder import MetricKey, StopReason


@dataclass
class EpochCosts:
    """An epoch's evaluation and checkpoint costs and when its training began, for the report."""

    val: EvalResult | None = None
    test: EvalResult | None = None
    checkpoint_seconds: float = 0.0
    started_unix: float = math.nan  # wall clock at the epoch's first training step


@dataclass
class EpochReporter:
    """Builds the per-epoch report (``MetricKey``) from what does not change during a trial."""

    score_name: str
    method: str
    counts: dict[str, int]
    gpus: float
    setup_seconds: float
    base_model_reused: bool
    device: torch.device
    compute_dtype: str  # MetricKey.COMPUTE_DTYPE: "bfloat16" under autocast, else the model's dtype

    def metrics(self, state: TrialState, stop: StopReason, trained: EpochResult | None, evals: EpochCosts,
                adapter_bytes: int) -> dict[str, Any]:
        val = evals.val
        return {
            MetricKey.EPOCH.value: state.epoch,
            MetricKey.TRAIN_LOSS.value: trained.train_loss if trained else math.nan,
            MetricKey.VAL_LOSS.value: val.loss if val else math.inf,
            MetricKey.SCORE.value: val.score if val else math.nan,
            MetricKey.SCORE_NAME.value: self.score_name,
            MetricKey.VAL_CLASSES_PREDICTED.value: val.classes_predicted if val else math.nan,
            MetricKey.BEST_EPOCH.value: state.best_epoch,
            MetricKey.BEST_VAL_LOSS.value: state.best_val_loss if state.best_epoch else math.nan,  # NaN: no best yet
            MetricKey.BEST_SCORE.value: state.best_score if state.best_epoch else math.nan,
            MetricKey.BEST_TEST_LOSS.value: state.best_test_loss,
            MetricKey.BEST_TEST_SCORE.value: state.best_test_score,
            MetricKey.METHOD.value: self.method,
            MetricKey.ADAPTER_PARAMS.value: self.counts["adapter"],
            MetricKey.TTLORA_PARAMS.value: self.counts["ttlora"],
            MetricKey.HEAD_PARAMS.value: self.counts["head"],
            MetricKey.TRAINABLE_PARAMS.value: self.counts["total_trainable"],
            MetricKey.ADAPTER_BYTES_16BIT.value: self.counts["adapter"] * 2,
            MetricKey.ADAPTER_FILE_BYTES.value: adapter_bytes,
            **self.time_budget(trained, evals),
            MetricKey.TRIAL_SETUP_SECONDS.value: self.setup_seconds,
            MetricKey.BASE_MODEL_REUSED.value: self.base_model_reused,
            MetricKey.COMPUTE_DTYPE.value: self.compute_dtype,
            MetricKey.STOP_REASON.value: stop.value,
            MetricKey.DONE_BY_TRAINABLE.value: stop is not StopReason.RUNNING,
        }

    def time_budget(self, trained: EpochResult | None, evals: EpochCosts) -> dict[str, Any]:
        """Where the epoch's time went, and how much of what it computed was real tokens."""
        train_seconds = trained.train_seconds if trained else 0.0
        val_seconds = evals.val.seconds if evals.val else 0.0
        test_seconds = evals.test.seconds if evals.test else 0.0
        seconds = train_seconds + val_seconds + test_seconds + evals.checkpoint_seconds
        evaluated = [e for e in (evals.val, evals.test) if e is not None]
        peak = torch.cuda.max_memory_allocated(self.device) if self.device.type == "cuda" else 0
        return {
            MetricKey.EPOCH_SECONDS.value: seconds,
            MetricKey.TRAIN_SECONDS.value: train_seconds,
            MetricKey.EVAL_SECONDS.value: val_seconds + test_seconds,
            MetricKey.VAL_SECONDS.value: val_seconds,
            MetricKey.TEST_SECONDS.value: test_seconds,
            MetricKey.CHECKPOINT_SECONDS.value: evals.checkpoint_seconds,
            MetricKey.TOKENS_PER_SECOND.value: trained.tokens / train_seconds if trained and train_seconds > 0 else 0.0,
            MetricKey.TRAIN_TOKENS.value: trained.tokens if trained else 0,
            MetricKey.TRAIN_TOKEN_POSITIONS.value: trained.token_positions if trained else 0,
            MetricKey.EVAL_TOKENS.value: sum(e.tokens for e in evaluated),
            MetricKey.EVAL_TOKEN_POSITIONS.value: sum(e.token_positions for e in evaluated),
            MetricKey.GPU_SECONDS.value: seconds * self.gpus,
            MetricKey.PEAK_GPU_MEMORY_BYTES.value: peak,
            MetricKey.WORKER_RSS_BYTES.value: resident_bytes(),
            MetricKey.EPOCH_STARTED_UNIX.value: evals.started_unix,
            MetricKey.EPOCH_ENDED_UNIX.value: time.time(),
        }


__all__ = ["EpochCosts", "EpochReporter"]
