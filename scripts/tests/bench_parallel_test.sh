#!/usr/bin/env bash
# tags: scripts|tests — desc: ctest: scripts/bench-parallel.sh runs 3 shards through GNU parallel (this machine as the host list) and merges them.
# usage: bench_parallel_test.sh VTB_BINARY OUT_DIR
# Installs Debian's `parallel` when missing (SKIP, exit 77, with the reason when it cannot), then
# runs a small selection (--quick --engines bt,native --groups micro: seconds) as 3 shards over
# the sshlogin ':' (this machine, 2 at a time), merges, builds the analysis and the paper, and
# checks the merged folder has exactly the selection's cells.
set -euo pipefail
VTB=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
OUT=$2
PY="${VTB_PYTHON:-/usr/bin/python3}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
"$PY" -c 'import numpy, matplotlib' >/dev/null 2>&1 || { echo "SKIP: $PY lacks numpy/matplotlib"; exit 77; }
if ! command -v parallel >/dev/null; then
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || { echo "SKIP: GNU parallel missing and not root to apt-get install it"; exit 77; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends parallel > "$OUT.apt.log" 2>&1 ||
    { apt-get update -qq >> "$OUT.apt.log" 2>&1; apt-get install -y -qq --no-install-recommends parallel >> "$OUT.apt.log" 2>&1; } ||
    { echo "SKIP: apt-get install parallel failed: $(tail -1 "$OUT.apt.log")"; exit 77; }
fi
rm -rf "$OUT"
mkdir -p "$OUT"
SEL=(--quick --engines "bt,native" --groups micro)
export VTB_BUILD_DIR
VTB_BUILD_DIR=$(dirname "$(dirname "$VTB")")
"$ROOT/scripts/bench-parallel.sh" --hosts : --jobs-per-host 2 --shards 3 --sweep "$OUT/sweep" --results "$OUT/results" \
  -- "${SEL[@]}" > "$OUT/run.log" 2>&1 || { cat "$OUT/run.log"; echo "FAIL: bench-parallel.sh exit $?"; exit 1; }
grep -E '^(bench-parallel|results|merge-sweep):' "$OUT/run.log"
MERGED=$(sed -n 's/^results: \([^ ]*\) .*/\1/p' "$OUT/sweep/merge.log" | tail -1)
"$VTB" bench "${SEL[@]}" --list > "$OUT/sel.list"
"$PY" "$ROOT/harness/bench/tests/check_merged.py" "$MERGED" "$OUT/sel.list" || { echo "FAIL: merged folder"; exit 1; }
[ "$(ls "$OUT/sweep/shards" | wc -l)" = 3 ] || { echo "FAIL: want 3 shard folders"; exit 1; }
[ -s "$OUT/sweep/paper/paper.pdf" ] || grep -q "paper skipped" "$OUT/run.log" || { echo "FAIL: no paper"; exit 1; }
echo "bench_parallel: ok"
