"""Column names of the per-trial and per-epoch DataFrames built by `analysis.loading`.

One row per trial, whatever its method (TT-LoRA or a baseline, ``vocab.methods``): ``method`` names
it, and the parameter columns are the rows of every method (``vocab.methods.all_param_rows``, TT-LoRA's
first); a cell is empty (NaN, or "" for text) where the trial's method has no such parameter. ``rank``
and ``alpha`` are shared by TT-LoRA and LoRA with different meanings (a TT rank and TT-LoRA's scale vs
LoRA's rank and ``lora_alpha``): read them with the ``method`` column.

Sizes: ``adapter_params`` (the method's trainable parameters besides the task head and saved modules)
is the cost every front, figure and budget uses by default, so methods compare on one axis; for folders
written before methods existed it is filled from ``ttlora_params`` (analysis/folder_upgrade.py). ``ttlora_params`` stays (0 for
baselines).

Metric columns reuse the results schema's ``MetricKey`` values (`vocab.experiment_folder`); only the
columns analysis derives itself are named here. Plain string constants, not an Enum: pandas looks
columns up by hash, and a ``str`` Enum member hashes by its *name*, not its value.
"""
from __future__ import annotations

from typing import Final

import vocab.searched_params as table
from vocab.experiment_folder import MetricKey
from vocab.methods import all_param_rows

# --- identification
TRIAL_ID: Final = "trial_id"
TRIAL_DIR: Final = "trial_dir"  # folder name relative to the experiment folder
EXPERIMENT: Final = "experiment"  # experiment name (multi-experiment views)
METHOD: Final = MetricKey.METHOD.value  # vocab.methods name: "ttlora", "lora", ...

# --- configuration (display forms; the raw sampled values are in CONFIG_JSON)
# One column per parameter row of any method; these have display forms of their own:
SHAPE: Final = table.SHAPE.name  # display string, e.g. "8x6x8x8x6x8" or "query:8x6x8|value:..."; "" for baselines
CORES: Final = table.CORES.name  # core count (int; from the shape when it is explicit)
RANK: Final = table.RANK.name  # display string ("5" or "1,5,5,1"); any list-valued row likewise
ALPHA: Final = table.ALPHA.name  # TT-LoRA's alpha is the colour of the Figure-5 view (LoRA's lora_alpha shares the column)
LEARNING_RATE: Final = table.LEARNING_RATE.name
PARAM_COLUMNS: Final[tuple[str, ...]] = tuple(p.name for p in all_param_rows())
CONFIG_JSON: Final = "config_json"  # the trial's config as Tune sampled it (flat or nested), as JSON

# --- sizes (from the trainable's reports)
ADAPTER_PARAMS: Final = MetricKey.ADAPTER_PARAMS.value  # the method's own trainable parameters (no head)
TTLORA_PARAMS: Final = MetricKey.TTLORA_PARAMS.value  # TT cores (0 for baselines)
HEAD_PARAMS: Final = MetricKey.HEAD_PARAMS.value
TRAINABLE_PARAMS: Final = MetricKey.TRAINABLE_PARAMS.value
ADAPTER_BYTES_16BIT: Final = MetricKey.ADAPTER_BYTES_16BIT.value  # adapter parameters at 16 bits
ADAPTER_FILE_BYTES: Final = MetricKey.ADAPTER_FILE_BYTES.value  # the adapter folder as written (with head, saved modules)
COMPRESSION_VS_FULL: Final = "compression_vs_full"  # full fine-tuning of the targets / adapter params
COMPRESSION_VS_LORA8: Final = "compression_vs_lora8"  # LoRA r=8 on the same targets / adapter params

# --- outcome
BEST_VAL_LOSS: Final = MetricKey.BEST_VAL_LOSS.value
BEST_SCORE: Final = MetricKey.BEST_SCORE.value  # task metric at the best (lowest val loss) epoch
BEST_EPOCH: Final = MetricKey.BEST_EPOCH.value
BEST_TEST_SCORE: Final = MetricKey.BEST_TEST_SCORE.value  # held-out split at BEST_EPOCH; never used to decide
BEST_TEST_LOSS: Final = MetricKey.BEST_TEST_LOSS.value
TEST_SCORED: Final = "test_scored"  # TestScored: by the trial, after the search, not scored, or no test split
SCORE_NAME: Final = MetricKey.SCORE_NAME.value
EPOCHS: Final = "epochs"  # epochs reported
STOP_REASON: Final = MetricKey.STOP_REASON.value  # a StopReason value, inferred where needed
ERROR: Final = "error"  # last line of error.txt, "" when none
WALL_SECONDS: Final = "wall_seconds"  # sum of epoch seconds (train + eval + checkpoint)
# --- time budget, summed over the trial's epochs (NaN in folders from before these keys)
SETUP_SECONDS: Final = MetricKey.TRIAL_SETUP_SECONDS.value  # once per trial (its first report's value)
TRAIN_SECONDS: Final = MetricKey.TRAIN_SECONDS.value
VAL_SECONDS: Final = MetricKey.VAL_SECONDS.value
TEST_SECONDS: Final = MetricKey.TEST_SECONDS.value  # the trial's own test pass (the pass after the search: HELDOUT)
CHECKPOINT_SECONDS: Final = MetricKey.CHECKPOINT_SECONDS.value
HELDOUT_SECONDS: Final = "heldout_seconds"  # the pass after the search, for this trial
TRAIN_TOKENS: Final = MetricKey.TRAIN_TOKENS.value
TRAIN_TOKEN_POSITIONS: Final = MetricKey.TRAIN_TOKEN_POSITIONS.value
EVAL_TOKENS: Final = MetricKey.EVAL_TOKENS.value
EVAL_TOKEN_POSITIONS: Final = MetricKey.EVAL_TOKEN_POSITIONS.value
PEAK_GPU_MEMORY_BYTES: Final = MetricKey.PEAK_GPU_MEMORY_BYTES.value  # the trial's largest report
TIME_BUDGET_COLUMNS: Final[tuple[str, ...]] = (
    SETUP_SECONDS, TRAIN_SECONDS, VAL_SECONDS, TEST_SECONDS, CHECKPOINT_SECONDS, HELDOUT_SECONDS,
    TRAIN_TOKENS, TRAIN_TOKEN_POSITIONS, EVAL_TOKENS, EVAL_TOKEN_POSITIONS, PEAK_GPU_MEMORY_BYTES,
)
GPU_SECONDS: Final = MetricKey.GPU_SECONDS.value  # summed over epochs
LAST_REPORT_UNIX: Final = "last_report_unix"
BEST_ADAPTER_PATH: Final = "best_adapter_path"  # absolute path or "" when no checkpoint holds one
ON_FRONT: Final = "on_front"  # set by analysis.pareto.mark_front

TRIAL_COLUMNS: Final[tuple[str, ...]] = (
    TRIAL_ID, TRIAL_DIR, METHOD, *PARAM_COLUMNS,
    ADAPTER_PARAMS, TTLORA_PARAMS, HEAD_PARAMS, TRAINABLE_PARAMS, ADAPTER_BYTES_16BIT, ADAPTER_FILE_BYTES,
    COMPRESSION_VS_FULL, COMPRESSION_VS_LORA8,
    BEST_VAL_LOSS, BEST_SCORE, BEST_EPOCH, BEST_TEST_SCORE, BEST_TEST_LOSS, TEST_SCORED, SCORE_NAME, EPOCHS,
    STOP_REASON, ERROR, WALL_SECONDS, GPU_SECONDS, *TIME_BUDGET_COLUMNS, LAST_REPORT_UNIX, BEST_ADAPTER_PATH,
    CONFIG_JSON,
)


class TestScored:
    """Values of the ``test_scored`` column: where a trial's held-out score comes from."""

    BY_TRIAL = "by the trial"  # its own final report (it ended by itself)
    AFTER_SEARCH = "after the search"  # the pass after the search (search/run/heldout_pass.py)
    NOT_SCORED = "not scored"  # a test split exists, but this trial was neither on a front nor selected
    NO_TEST_SPLIT = ""  # the search has no held-out split

# Per-epoch curves: TRIAL_ID plus these report keys (missing ones are NaN).
CURVE_METRICS: Final[tuple[str, ...]] = (
    MetricKey.EPOCH.value, MetricKey.TRAIN_LOSS.value, MetricKey.VAL_LOSS.value, MetricKey.SCORE.value,
    MetricKey.BEST_VAL_LOSS.value, MetricKey.BEST_SCORE.value, MetricKey.EPOCH_SECONDS.value,
    MetricKey.TOKENS_PER_SECOND.value, MetricKey.GPU_SECONDS.value, MetricKey.VAL_CLASSES_PREDICTED.value,
)

REPORT_UNIX: Final = "report_unix"  # curves only: when the epoch was reported (Tune's timestamp, whole seconds)

# Metrics a Pareto front / best-trial choice can be computed on, and whether higher is better.
METRIC_DIRECTIONS: Final[dict[str, bool]] = {BEST_SCORE: True, BEST_VAL_LOSS: False}
# Parameter-count columns a front can be computed over (fewer is better); the first is the default.
COST_COLUMNS: Final[tuple[str, ...]] = (ADAPTER_PARAMS, TTLORA_PARAMS, TRAINABLE_PARAMS, ADAPTER_BYTES_16BIT)
DEFAULT_COST: Final = ADAPTER_PARAMS
