#!/usr/bin/env bash
# tags: scripts|cluster — desc: a sweep over hosts without Slurm: GNU parallel runs the N shards of vtb bench over ssh, then merges.
#
# usage: scripts/bench-parallel.sh --hosts H1,H2,... [--shards N] [--jobs-per-host J] [--sweep DIR]
#                                  [--results DIR] [-- VTB_BENCH_OPTIONS...]
#   --hosts        GNU parallel --sshlogin list: host names (ssh, no password), user@host, or ':'
#                  for this machine; --hosts-file F reads them one per line (parallel --slf)
#   --shards N     shards (default: the number of hosts)
#   --jobs-per-host J  shards a host runs at once (default 1: clean timings)
#   --sweep DIR    the sweep's folder: shards/, logs/, joblog, merge.log, tidy.csv, paper/
#                  (default: results/sweeps/<date>-<time>)
#   --results DIR  where the merged results folder goes (default: results/)
#   after --        options for `vtb bench`, e.g. -- --quick
# Every host must see this checkout, its build (VTB_BUILD_DIR, default build/) and the sweep
# folder at the same paths (a shared file system). A failed shard is retried once on another
# host; one that still fails leaves its cells missing: vtb merge names each of them (exit 1).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOSTS=()
N=""
J=1
SWEEP=""
RESULTS="$ROOT/results"
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) IFS=, read -r -a h <<< "$2"; HOSTS+=("${h[@]}"); shift 2 ;;
    --hosts-file) mapfile -t h < <(grep -v '^\s*\(#\|$\)' "$2"); HOSTS+=("${h[@]}"); shift 2 ;;
    --shards) N=$2; shift 2 ;;
    --jobs-per-host) J=$2; shift 2 ;;
    --sweep) SWEEP=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '4,19p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "bench-parallel: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#HOSTS[@]} -gt 0 ] || { echo "bench-parallel: --hosts is required (':' = this machine)" >&2; exit 2; }
N=${N:-${#HOSTS[@]}}
case "$N" in ''|*[!0-9]*|0) echo "bench-parallel: --shards needs a positive integer" >&2; exit 2 ;; esac
command -v parallel >/dev/null || { echo "bench-parallel: GNU parallel not found (apt-get install parallel)" >&2; exit 2; }
BUILD="${VTB_BUILD_DIR:-$ROOT/build}"
VTB="$BUILD/harness/vtb"
[ -x "$VTB" ] || { echo "bench-parallel: $VTB is not built (scripts/setup.sh)" >&2; exit 2; }
SWEEP=${SWEEP:-$ROOT/results/sweeps/$(date -u +%Y-%m-%d-%H%M%S)}
mkdir -p "$SWEEP/shards" "$SWEEP/logs"
SWEEP=$(cd "$SWEEP" && pwd)
LOGIN=()
for h in "${HOSTS[@]}"; do LOGIN+=(--sshlogin "$J/$h"); done
echo "bench-parallel: $N shards of vtb bench $* over ${HOSTS[*]} -> $SWEEP/shards"
t0=$(date +%s)
# --retries 2: a shard that failed runs once more (on another host when there is one).
# Failed shards do not stop the others; the merge names their cells.
prc=0
parallel --will-cite --retries 2 --joblog "$SWEEP/joblog" --tagstring 'shard {}/'"$N" "${LOGIN[@]}" \
  "$VTB" bench "$@" --shard "{}/$N" --out "$SWEEP/shards" '>' "$SWEEP/logs/shard-{}.out" '2>&1' \
  ::: $(seq 1 "$N") || prc=$?
echo "bench-parallel: shards done in $(( $(date +%s) - t0 )) s, $prc failed (joblog $SWEEP/joblog)"
exec "$ROOT/scripts/merge-sweep.sh" "$SWEEP" "$RESULTS"
