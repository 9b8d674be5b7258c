#!/usr/bin/env bash
# tags: scripts|main — desc: install what is missing, build, and run the main job: the smoke workloads on every available engine and peer, side by side.
#
# usage: scripts/main.sh [--bench [VTB_BENCH_OPTIONS...]]
#   default: `vtb run` of each smoke workload on every available engine and
#   peer, then a side-by-side table (exit code, wall time, phase 1 time).
#   --bench: the full benchmark matrix instead (`vtb bench`, docs/benchmarks.md).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/setup.sh"
VTB="$ROOT/build/harness/vtb"
[ -x "$VTB" ] || { echo "main: $VTB was not built" >&2; exit 5; }
if [ "${1-}" = "--bench" ]; then
  shift
  exec "$VTB" bench "$@"
fi
exec "$ROOT/scripts/smoke_table.sh" "$VTB"
