#!/bin/sh
# tags: scripts|cluster — desc: after the shards of a sweep ran: vtb merge, the tidy table and the paper from the merged folder.
# usage: scripts/merge-sweep.sh SWEEP_DIR [RESULTS_DIR]
#   SWEEP_DIR    holds shards/ (one results folder per shard, from vtb bench --shard i/N)
#   RESULTS_DIR  where the merged results folder goes (default: the repository's results/)
# Writes RESULTS_DIR/<date>_merged_<commit>/, SWEEP_DIR/tidy.csv and SWEEP_DIR/paper/paper.pdf.
# Environment: VTB_BUILD_DIR (default ./build), VTB_PYTHON (default /usr/bin/python3).
# Exit: vtb merge's status (0 complete, 1 cells missing: listed by cell), else the first failing step's.
# Used by scripts/slurm/merge.sbatch and scripts/bench-parallel.sh.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { sed -n '3,10p' "$0" >&2; exit 2; }
SWEEP=$1
RESULTS=${2:-$ROOT/results}
VTB="${VTB_BUILD_DIR:-$ROOT/build}/harness/vtb"
PY="${VTB_PYTHON:-/usr/bin/python3}"
[ -x "$VTB" ] || { echo "merge-sweep: $VTB is not built (set VTB_BUILD_DIR)" >&2; exit 2; }

rc=0
"$VTB" merge "$SWEEP/shards" --out "$RESULTS" > "$SWEEP/merge.log" || rc=$?
cat "$SWEEP/merge.log"
RUN=$(sed -n 's/^results: \([^ ]*\) .*/\1/p' "$SWEEP/merge.log" | tail -1)
if [ -z "$RUN" ]; then
  echo "merge-sweep: vtb merge wrote no results folder (exit $rc)" >&2
  exit $(( rc ? rc : 1 ))
fi
"$PY" "$ROOT/analysis/tidy.py" "$RUN" --csv "$SWEEP/tidy.csv"
prc=0
"$ROOT/paper/build.sh" --run "$RUN" --out "$SWEEP/paper" || prc=$?
case "$prc" in
  0) ;;
  77) echo "merge-sweep: paper skipped (a tool is missing, see above)" ;;
  *) echo "merge-sweep: the paper did not build (exit $prc)" >&2; [ "$rc" != 0 ] || rc=$prc ;;
esac
echo "merge-sweep: merged $RUN (vtb merge exit $rc); tidy table $SWEEP/tidy.csv; paper $SWEEP/paper/paper.pdf"
exit "$rc"
