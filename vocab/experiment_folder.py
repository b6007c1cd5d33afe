"""The experiment-folder schema, shared by the trainable and driver (writers) and `analysis/` (reader).

Every metric key the trainable reports to Tune, and every file it or the driver writes into an
experiment folder, is spelled here once; the sampled hyperparameters' keys are the names of
``vocab.searched_params``. Stdlib only (docs/ARCHITECTURE.md, "Results schema").

Experiment folder layout (``<storage_path>/<experiment_name>/``)::

    ttsearch_experiment.json   ExperimentMeta (written by the driver before Tune starts)
    space.yaml                 the fully resolved search space (defaults < YAML < --set)
    .ttsearch.lock             held while a search runs (search/run/experiment_lock.py)
    ray_logs/                  Ray's own log output (driver side)
    <trial_dir>/params.json    Tune: the sampled hyperparameters and ``method`` (``vocab.methods.flat_trial_config``)
    <trial_dir>/result.json    Tune: one JSON line per report (keys in ``MetricKey`` + Tune's own)
    <trial_dir>/progress.csv   Tune: the same as CSV
    <trial_dir>/error.txt      Tune: present when the trial failed
    <trial_dir>/heldout_test.json   HeldoutScore: the held-out score of a trial a scheduler stopped
                               (scored after the search from its best adapter; the trial's own final
                               report holds it when the trial ended by itself)
    <trial_dir>/checkpoint_NNNNNN/   latest checkpoint (num_to_keep=1):
        trial_state.json       TrialState: epoch, best epoch, best val loss, patience counter
        adapter/               current adapter (TT-LoRA: ttlora_core.save_adapter; PEFT: save_pretrained;
                               BitFit / full: trained tensors, search/trial/baselines.py)
        best_adapter/          adapter at the best epoch (lowest val loss)
        optimizer.pt           optimizer state (torch.save of tensors only; weights_only load)
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

EXPERIMENT_META_FILE = "ttsearch_experiment.json"
RESOLVED_SPACE_FILE = "space.yaml"
LOCK_FILE = ".ttsearch.lock"  # one search per folder (search/run/experiment_lock.py): the holder's pid, host, start
RAY_LOG_DIR = "ray_logs"
TUNE_PARAMS_FILE = "params.json"
TUNE_RESULT_FILE = "result.json"
TUNE_PROGRESS_FILE = "progress.csv"
TUNE_ERROR_FILE = "error.txt"
CHECKPOINT_PREFIX = "checkpoint_"
TRIAL_STATE_FILE = "trial_state.json"
ADAPTER_DIR = "adapter"
BEST_ADAPTER_DIR = "best_adapter"
OPTIMIZER_FILE = "optimizer.pt"
# <trial_dir>/heldout_test.json: the held-out score of a trial a scheduler stopped, from its best
# adapter, written by the pass after the search (search/run/heldout_pass.py); HeldoutScore below
HELDOUT_TEST_FILE = "heldout_test.json"
# The confirmation stage (``ttsearch confirm``): finalists re-trained with new seeds, one more Tune
# experiment inside the experiment folder (its own meta file, trials and lock)
CONFIRM_DIR = "confirm"


class MetricKey(str, Enum):
    """Keys of every per-epoch report the trainable makes with ``tune.report``."""

    EPOCH = "epoch"  # 1-based epoch just finished
    TRAIN_LOSS = "train_loss"
    VAL_LOSS = "val_loss"
    SCORE = "score"  # the task metric at this epoch (higher is better), name in SCORE_NAME
    SCORE_NAME = "score_name"  # e.g. "accuracy", "f1", "matthews_corrcoef", "spearmanr"
    BEST_EPOCH = "best_epoch"  # epoch with the lowest val loss so far
    BEST_VAL_LOSS = "best_val_loss"
    BEST_SCORE = "best_score"  # task metric at BEST_EPOCH
    VAL_CLASSES_PREDICTED = "val_classes_predicted"  # distinct classes among this epoch's validation
    # predictions: 1 = the trial still predicts one class for every row (0 for regression, no classes)
    BEST_TEST_LOSS = "best_test_loss"  # held-out test split on the best adapter, scored once when the trial
    BEST_TEST_SCORE = "best_test_score"  # ends by itself (NaN until then, or without data.test_split); never
    # used for any decision (selection, scheduling, front). A trial a scheduler stopped: HELDOUT_TEST_FILE
    METHOD = "method"  # vocab.methods name: "ttlora", "lora", ...
    ADAPTER_PARAMS = "adapter_params"  # the method's trainable parameters besides head and saved modules
    TTLORA_PARAMS = "ttlora_params"  # trainable TT-core parameters (0 for baselines)
    HEAD_PARAMS = "head_params"  # trainable task-head parameters
    TRAINABLE_PARAMS = "trainable_params"  # total trainable
    ADAPTER_BYTES_16BIT = "adapter_bytes_16bit"  # ADAPTER_PARAMS at 16 bits
    ADAPTER_FILE_BYTES = "adapter_file_bytes"  # the adapter folder as written (cores fp32 + head + saved modules)
    EPOCH_SECONDS = "epoch_seconds"  # wall seconds of this epoch (train + eval + checkpoint)
    TRAIN_SECONDS = "train_seconds"  # training steps only
    EVAL_SECONDS = "eval_seconds"  # VAL_SECONDS + TEST_SECONDS
    VAL_SECONDS = "val_seconds"  # validation split
    TEST_SECONDS = "test_seconds"  # held-out split (only in the report where the trial ends by itself)
    CHECKPOINT_SECONDS = "checkpoint_seconds"  # writing this epoch's checkpoint folder (Tune's copy not counted)
    TOKENS_PER_SECOND = "tokens_per_second"  # training tokens (non-padding) / TRAIN_SECONDS
    TRAIN_TOKENS = "train_tokens"  # real (non-padding) tokens in this epoch's training batches
    TRAIN_TOKEN_POSITIONS = "train_token_positions"  # token positions of those batches, padding included
    EVAL_TOKENS = "eval_tokens"  # real tokens evaluated this epoch (validation and test)
    EVAL_TOKEN_POSITIONS = "eval_token_positions"  # token positions of those batches, padding included
    PEAK_GPU_MEMORY_BYTES = "peak_gpu_memory_bytes"  # torch.cuda.max_memory_allocated of the trial (0 on CPU)
    WORKER_RSS_BYTES = "worker_rss_bytes"  # the trial worker's resident host memory at this report
    GPU_SECONDS = "gpu_seconds"  # epoch_seconds * GPUs held (0 on CPU)
    EPOCH_STARTED_UNIX = "epoch_started_unix"  # wall clock at the epoch's first training step (NaN: none)
    EPOCH_ENDED_UNIX = "epoch_ended_unix"  # wall clock just before this report (concurrency checks)
    TRIAL_SETUP_SECONDS = "trial_setup_seconds"  # trial start -> first training step (model load/reuse)
    BASE_MODEL_REUSED = "base_model_reused"  # bool: the worker's cached base model was reused
    COMPUTE_DTYPE = "compute_dtype"  # what the matmuls ran in: "bfloat16" under bf16-mixed autocast (CUDA,
    # or a CPU with native bf16), else the model's dtype ("float32", ...): train.precision as this host ran it
    STOP_REASON = "stop_reason"  # StopReason value; "running" until the trial stops itself
    DONE_BY_TRAINABLE = "done_by_trainable"  # bool: the trial stopped itself (early stop / max epochs / diverged)
    END_MESSAGE = "end_message"  # diverged / out_of_memory: what happened


class StopReason(str, Enum):
    """Why a trial ended. The trainable reports the first six; analysis infers the rest."""

    RUNNING = "running"
    EARLY_STOP = "early_stop"  # patience epochs without val-loss improvement
    MAX_EPOCHS = "max_epochs"
    DIVERGED = "diverged"  # non-finite loss: ended at once, best epoch and adapter kept
    OUT_OF_MEMORY = "out_of_memory"  # ended at once, best epoch and adapter kept
    STORAGE_FAILED = "storage_failed"  # a checkpoint could not be written (disk full): ended at once, no retry,
    # its last written checkpoint kept
    SCHEDULER = "scheduler"  # stopped by HyperBand/ASHA (inferred: terminated while RUNNING)
    ERROR = "error"  # error.txt present
    SINGLE_RUN = "single_run"  # reserved: exported best.yaml re-run (no search)


# The task metric is maximised; val loss is minimised. The driver's Tuner uses these.
SEARCH_METRIC = MetricKey.VAL_LOSS.value
SEARCH_MODE = "min"


# The experiment folder's format, written into its meta file. 1: folders written before the field existed
# (some trials' reports lack ``method`` and ``adapter_params``); 2: every report names both. Readers
# upgrade an older folder in one step (analysis/folder_upgrade.py) instead of branching on its age.
FOLDER_FORMAT_VERSION = 2


@dataclass
class ExperimentMeta:
    """What the driver knows about an experiment before any trial runs; analysis reads it.

    ``target_dims`` lists every adapted matrix as module name -> [out_features, in_features], so
    analysis can compute compression ratios (against full fine-tuning of the targets and against
    LoRA r=8) without torch or the model.
    """

    name: str
    space_file: str  # the YAML the user ran (as given)
    model: str  # hub id or local folder
    model_family: str  # e.g. "bert", "roberta", "deberta", "llama"; used for paper reference points
    task: str  # registry name, e.g. "mrpc", "boolq"
    score_name: str  # the task metric reported as MetricKey.SCORE
    metric: str = SEARCH_METRIC  # what the scheduler optimises
    mode: str = SEARCH_MODE
    scheduler: str = "hyperband"
    search_algorithm: str = "random"  # the searcher (search.algorithm): random, optuna, optuna_mo
    num_samples: int = 1
    max_epochs: int = 20
    patience: int = 5
    target_dims: dict[str, list[int]] = field(default_factory=dict)
    methods: list[str] = field(default_factory=lambda: ["ttlora"])  # vocab.methods names in the search
    has_test_split: bool = False  # a held-out split is scored (data.test_split); False in older folders
    created_unix: float = 0.0
    finished_unix: float | None = None  # set when Tuner.fit() returns (None: running or interrupted)
    ttsearch_version: str = ""
    format_version: int = 1  # FOLDER_FORMAT_VERSION when written; absent (1) in older folders
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ExperimentMeta":
        """Parse the meta file; ``ValueError`` when it is not an object with the required fields."""
        raw = json_object(text, EXPERIMENT_META_FILE, ("name", "space_file", "model", "model_family", "task",
                                                        "score_name"))
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def full_params(self) -> int:
        """Parameters of full fine-tuning of the target matrices (sum of out*in)."""
        return sum(out * inp for out, inp in self.target_dims.values())

    def lora_params(self, rank: int = 8) -> int:
        """Parameters of a LoRA adapter of ``rank`` on the same targets: r*(out+in) each."""
        return sum(rank * (out + inp) for out, inp in self.target_dims.values())


@dataclass
class HeldoutScore:
    """The held-out test score of one trial's best adapter, scored by the pass after the search."""

    best_test_loss: float
    best_test_score: float
    best_epoch: int  # the epoch whose adapter was scored
    test_seconds: float
    scored_unix: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "HeldoutScore":
        raw = json_object(text, HELDOUT_TEST_FILE, tuple(cls.__dataclass_fields__))
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__})


def json_object(text: str, file_name: str, required: tuple[str, ...]) -> dict[str, Any]:
    """``text`` parsed as a JSON object holding ``required``; ``ValueError`` naming ``file_name`` otherwise."""
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError(f"{file_name} holds a JSON {type(raw).__name__}, expected an object")
    missing = [key for key in required if key not in raw]
    if missing:
        raise ValueError(f"{file_name} lacks {', '.join(missing)}")
    return raw
