#!/usr/bin/env bash
# tags: scripts|main — desc: the README's main command: install what is missing, build, run `vtb bench` on the default matrix (every engine that can run here + peers), write results/, the plots and paper/paper.pdf.
#
# usage: scripts/main.sh [--quick] [--smoke] [-- VTB_BENCH_OPTIONS...]
#   default: scripts/reproduce.sh on the release build: the benchmark suite
#            (results/<date>_<host>_<commit>/), the analysis and its plots
#            (build/paper/), and paper/paper.pdf (docs/benchmarks.md).
#   --quick: the CI-sized suite (2 repetitions) instead of the default one.
#   --smoke: only `vtb run` of each smoke workload on every available engine
#            and peer, printed side by side (a fast functional look).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/setup.sh"
VTB="$ROOT/build/harness/vtb"
[ -x "$VTB" ] || { echo "main: $VTB was not built" >&2; exit 5; }
if [ "${1-}" = "--smoke" ]; then
  exec "$ROOT/scripts/smoke_table.sh" "$VTB"
fi
exec "$ROOT/scripts/reproduce.sh" --no-build --build-dir "$ROOT/build" "$@"
