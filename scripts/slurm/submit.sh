#!/usr/bin/env bash
# tags: scripts|slurm — desc: submits a sweep to Slurm: an array of N shards of vtb bench, then the dependent merge + analysis job.
#
# usage: scripts/slurm/submit.sh [--shards N] [--sweep DIR] [--results DIR] [--shared] [--wait]
#                                [--sbatch "OPTIONS"] [-- VTB_BENCH_OPTIONS...]
#   --shards N     array tasks = shards (default 4)
#   --sweep DIR    the sweep's folder: shards/, logs/, merge.log, tidy.csv, paper/
#                  (default: results/sweeps/<date>-<time>)
#   --results DIR  where the merged results folder goes (default: results/)
#   --shared       let shards share a node (default: --exclusive, one shard per node: clean timings)
#   --wait         return when the merge job has finished, with its exit code
#   --sbatch "..." more sbatch options for both jobs (partition, account, time, ...)
#   after --        options for `vtb bench` (default: the default suite), e.g. -- --quick
# The checkout and its build (scripts/setup.sh; VTB_BUILD_DIR, default build/) must be on a file
# system every node sees. Prints the two job ids; see docs/benchmarks.md "Running on a cluster".
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
N=4
SWEEP=""
RESULTS="$ROOT/results"
EXCL=(--exclusive)
WAIT=()
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --shards) N=$2; shift 2 ;;
    --sweep) SWEEP=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --shared) EXCL=(); shift ;;
    --wait) WAIT=(--wait); shift ;;
    --sbatch) read -r -a EXTRA <<< "$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '4,17p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "submit.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$N" in ''|*[!0-9]*|0) echo "submit.sh: --shards needs a positive integer" >&2; exit 2 ;; esac
command -v sbatch >/dev/null || { echo "submit.sh: sbatch not found (no Slurm here; scripts/bench-parallel.sh runs over hosts without it)" >&2; exit 2; }
BUILD="${VTB_BUILD_DIR:-$ROOT/build}"
[ -x "$BUILD/harness/vtb" ] || { echo "submit.sh: $BUILD/harness/vtb is not built (scripts/setup.sh)" >&2; exit 2; }
SWEEP=${SWEEP:-$ROOT/results/sweeps/$(date -u +%Y-%m-%d-%H%M%S)}
mkdir -p "$SWEEP/shards" "$SWEEP/logs"
SWEEP=$(cd "$SWEEP" && pwd)
# Every node reads the same checkout, build and sweep folder.
EXPORT="ALL,VTB_ROOT=$ROOT,VTB_BUILD_DIR=$BUILD,VTB_SWEEP=$SWEEP,VTB_SHARDS=$N,VTB_RESULTS=$RESULTS"
array=$(sbatch --parsable --array="1-$N" "${EXCL[@]}" "${EXTRA[@]}" --export="$EXPORT" \
               --output="$SWEEP/logs/shard-%a.out" "$ROOT/scripts/slurm/bench-array.sbatch" "$@")
array=${array%%;*}
echo "submit: array job $array: $N shards of vtb bench $* -> $SWEEP/shards"
echo "$array" > "$SWEEP/array.jobid"
set +e
merge=$(sbatch --parsable "${WAIT[@]}" --dependency="afterany:$array" "${EXTRA[@]}" --export="$EXPORT" \
               --output="$SWEEP/logs/merge.out" "$ROOT/scripts/slurm/merge.sbatch")
rc=$?
set -e
merge=${merge%%;*}
echo "submit: merge job $merge after $array (afterany) -> $RESULTS, $SWEEP/tidy.csv, $SWEEP/paper/ (log $SWEEP/logs/merge.out)"
[ ${#WAIT[@]} -eq 0 ] || echo "submit: merge job finished with exit code $rc"
exit "$rc"
