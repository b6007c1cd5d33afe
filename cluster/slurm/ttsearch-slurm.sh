#!/usr/bin/env bash
# Run a ttsearch search on a SLURM allocation: a Ray head on the first node, a Ray worker on every
# other node, then `ttsearch run` on the head against that cluster. Ray stops with the job.
#
#   sbatch cluster/slurm/ttsearch-slurm.sh spaces/paper.yaml [--set key=value ...] [--resume ...]
#   bash cluster/slurm/ttsearch-slurm.sh --dry-run spaces/paper.yaml   # print the commands only
#
# Arguments after the space file go to `ttsearch run` unchanged.
# Environment knobs (export before sbatch, or edit the defaults below):
#   TTSEARCH_STORAGE   experiment storage, REQUIRED to be shared by all nodes: a directory on the
#                      parallel file system (Lustre/GPFS/NFS scratch; ttsearch recognises these
#                      from /proc/mounts) or an s3:// URI. Node-local /tmp or $TMPDIR will not do:
#                      a multi-node run then stops with an error before any trial starts.
#   TTSEARCH_NAME      experiment name (default: ttsearch-$SLURM_JOB_ID); reuse it with --resume
#   TTSEARCH_VENV      virtualenv to activate on every node (default: none, use the loaded env)
#   RAY_PORT           GCS port on the head (default 6379); RAY_DASHBOARD_PORT (default 8265)
#   RAY_AUTH_TOKEN_PATH  token file in your home (default ~/.ray/ttsearch-$SLURM_JOB_ID.token,
#                      generated here, mode 600, removed at the end). Home is shared on every node
#                      at HPC centres; if yours is not, point this at a shared directory.
#   TTSEARCH_DRY_RUN=1 same as --dry-run.
#
# Dry run works outside SLURM: it reads SLURM_JOB_NODELIST (default "node[01-02]"), expands it
# with scontrol when present (else a small built-in expander) and prints every command.
#
#SBATCH --job-name=ttsearch
#SBATCH --nodes=2
#SBATCH --exclusive
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=96
#SBATCH --mem=0
#SBATCH --time=24:00:00
#SBATCH --output=ttsearch-%j.out

set -euo pipefail

DRY_RUN="${TTSEARCH_DRY_RUN:-0}"
if [[ "${1:-}" == "--dry-run" ]]; then
    DRY_RUN=1
    shift
fi
if [[ $# -lt 1 ]]; then
    echo "usage: $0 [--dry-run] SPACE.yaml [ttsearch run options...]" >&2
    exit 2
fi
SPACE="$1"
shift
if [[ "$DRY_RUN" != 1 && ! -f "$SPACE" ]]; then
    echo "error: space file '$SPACE' does not exist (expected a search-space YAML)" >&2
    exit 2
fi

JOB_ID="${SLURM_JOB_ID:-dryrun}"
NODELIST="${SLURM_JOB_NODELIST:-node[01-02]}"
GPUS_PER_NODE="${SLURM_GPUS_PER_NODE:-8}"
GPUS_PER_NODE="${GPUS_PER_NODE##*:}"            # "h100:8" -> "8"
CPUS_PER_NODE="${SLURM_CPUS_PER_TASK:-96}"
RAY_PORT="${RAY_PORT:-6379}"
RAY_DASHBOARD_PORT="${RAY_DASHBOARD_PORT:-8265}"
TTSEARCH_NAME="${TTSEARCH_NAME:-ttsearch-$JOB_ID}"
TOKEN_FILE="${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/ttsearch-$JOB_ID.token}"

if [[ -z "${TTSEARCH_STORAGE:-}" ]]; then
    if [[ "$DRY_RUN" == 1 ]]; then
        TTSEARCH_STORAGE="/lustre/scratch/${USER:-$(id -un)}/ttsearch"
    else
        echo "error: TTSEARCH_STORAGE is not set (expected a directory on shared storage, e.g." \
             "/lustre/scratch/\$USER/ttsearch, or an s3:// URI)" >&2
        exit 2
    fi
fi

# Print a command (dry run) or run it.
run() {
    if [[ "$DRY_RUN" == 1 ]]; then
        printf '+'; printf ' %q' "$@"; printf '\n'
    else
        "$@"
    fi
}

# Same, in the background (the Ray daemons started with --block live as long as their srun step).
run_bg() {
    if [[ "$DRY_RUN" == 1 ]]; then
        printf '+'; printf ' %q' "$@"; printf ' &\n'
    else
        "$@" &
    fi
}

# Expand a SLURM node list ("gpu[001-003,007],login1") into one host per line.
expand_nodelist() {
    if command -v scontrol >/dev/null 2>&1; then
        scontrol show hostnames "$1"
        return
    fi
    local list="$1" item prefix body part lo hi n width
    while [[ -n "$list" ]]; do
        if [[ "$list" =~ ^([^,\[]*)\[([^]]*)\](.*)$ ]]; then
            prefix="${BASH_REMATCH[1]}"; body="${BASH_REMATCH[2]}"; list="${BASH_REMATCH[3]#,}"
            IFS=',' read -r -a parts <<<"$body"
            for part in "${parts[@]}"; do
                if [[ "$part" == *-* ]]; then
                    lo="${part%-*}"; hi="${part#*-}"; width="${#lo}"
                    for ((n = 10#$lo; n <= 10#$hi; n++)); do printf '%s%0*d\n' "$prefix" "$width" "$n"; done
                else
                    printf '%s%s\n' "$prefix" "$part"
                fi
            done
        else
            item="${list%%,*}"
            printf '%s\n' "$item"
            [[ "$list" == *,* ]] && list="${list#*,}" || list=""
        fi
    done
}

mapfile -t NODES < <(expand_nodelist "$NODELIST")
if [[ ${#NODES[@]} -lt 1 ]]; then
    echo "error: no nodes in SLURM_JOB_NODELIST='$NODELIST'" >&2
    exit 2
fi
HEAD_NODE="${NODES[0]}"
WORKER_NODES=("${NODES[@]:1}")

if [[ "$DRY_RUN" == 1 ]]; then
    HEAD_IP="HEAD-IP-OF-$HEAD_NODE"
else
    HEAD_IP="$(srun --nodes=1 --ntasks=1 -w "$HEAD_NODE" hostname --ip-address | awk '{print $1}')"
fi
RAY_ADDRESS_ARG="$HEAD_IP:$RAY_PORT"

echo "# ttsearch on SLURM job $JOB_ID: head $HEAD_NODE ($HEAD_IP), ${#WORKER_NODES[@]} worker node(s)," \
     "$GPUS_PER_NODE GPUs and $CPUS_PER_NODE CPUs per node; storage $TTSEARCH_STORAGE"

# Token authentication: one random token shared by all nodes through the (shared) home directory.
export RAY_AUTH_MODE=token
export RAY_AUTH_TOKEN_PATH="$TOKEN_FILE"
if [[ "$DRY_RUN" != 1 ]]; then
    mkdir -p "$(dirname "$TOKEN_FILE")"
    (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' >"$TOKEN_FILE")
fi
echo "# RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=$TOKEN_FILE (exported to every srun step)"

if [[ -n "${TTSEARCH_VENV:-}" ]]; then
    echo "# activating $TTSEARCH_VENV"
    [[ "$DRY_RUN" == 1 ]] || source "$TTSEARCH_VENV/bin/activate"
fi

# Wait until N Ray nodes are alive (polls the GCS; gives up after 5 minutes).
wait_for_nodes() {
    if [[ "$DRY_RUN" == 1 ]]; then
        echo "+ wait_for_nodes $1   # poll ray.nodes() at $RAY_ADDRESS_ARG until $1 node(s) are alive"
        return
    fi
    python3 -c '
import sys, time, ray
address, want = sys.argv[1], int(sys.argv[2])
deadline = time.time() + 300
while True:
    try:
        ray.init(address=address, logging_level="ERROR")
        alive = sum(1 for node in ray.nodes() if node["Alive"])
        ray.shutdown()
    except Exception:  # GCS not up yet
        alive = 0
    print(f"# {alive}/{want} Ray nodes up", flush=True)
    if alive >= want:
        break
    if time.time() > deadline:
        sys.exit(f"error: only {alive} of {want} Ray nodes came up within 5 minutes")
    time.sleep(5)
' "$RAY_ADDRESS_ARG" "$1"
}

cleanup() {
    echo "# stopping Ray on all nodes"
    run srun --overlap --nodes="${#NODES[@]}" --ntasks-per-node=1 ray stop --force || true
    [[ "$DRY_RUN" == 1 ]] || rm -f "$TOKEN_FILE"
}
trap cleanup EXIT

run_bg srun --overlap --nodes=1 --ntasks=1 -w "$HEAD_NODE" \
    ray start --head --block --node-ip-address="$HEAD_IP" --port="$RAY_PORT" \
    --dashboard-host=0.0.0.0 --dashboard-port="$RAY_DASHBOARD_PORT" \
    --num-cpus="$CPUS_PER_NODE" --num-gpus="$GPUS_PER_NODE" --disable-usage-stats

wait_for_nodes 1   # the head's GCS is up before workers connect

for worker in "${WORKER_NODES[@]}"; do
    run_bg srun --overlap --nodes=1 --ntasks=1 -w "$worker" \
        ray start --block --address="$RAY_ADDRESS_ARG" \
        --num-cpus="$CPUS_PER_NODE" --num-gpus="$GPUS_PER_NODE" --disable-usage-stats
done
wait_for_nodes "${#NODES[@]}"

# The driver runs in this batch step (on the head node) and connects to the cluster started above.
run ttsearch run "$SPACE" --address "$RAY_ADDRESS_ARG" --storage "$TTSEARCH_STORAGE" \
    --name "$TTSEARCH_NAME" "$@"
