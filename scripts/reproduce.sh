#!/bin/sh
# tags: scripts|reproduce — desc: one command: build, run the benchmark suite, regenerate the analysis and rebuild paper/paper.pdf.
# usage: scripts/reproduce.sh [--quick] [--no-build] [--build-dir DIR] [--validate] [--from RUN] [-- VTB_BENCH_OPTIONS...]
#   --quick       2 repetitions of the manifest's (CI-sized) parameters (the CI variant)
#   --no-build    use an existing build (default: configure + build, -j2)
#   --build-dir   build folder (default: $VTB_BUILD_DIR or ./build, the release preset's folder)
#   --validate    first run the companions of the model's validation (pv with VTB_PV_PROTECT=off;
#                 bt, bt-direct, pv at --scale 2: the loops' own counts), each its own results folder,
#                 and after the suite the interleaved pairs (analysis/validate_pairs.py, ~2 min) into
#                 the suite's folder as validation.json (the paper's validation line); the suite takes
#                 the pv companion's --min-phase factors (--phase-scales-from), so that pv and
#                 pv@off cells have the same params and the analysis pairs them
#   --from RUN    only the analysis + paper stage, on an existing results folder (its companions/ and
#                 validation.json included): no build, no bench; a few seconds plus LaTeX
#   anything after -- goes to `vtb bench` (e.g. -- --engines bt,qemu-tcg,native)
# Writes results/<date>_<host>_<commit>/ (new, immutable), build/paper/ (figures, tables,
# tidy.csv, decomposition.txt) and paper/paper.pdf; prints the summary table, the decomposition
# (counts x calibrated unit costs) with its validation line and the time of each stage.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="${VTB_BUILD_DIR:-$ROOT/build}"
QUICK=""
DO_BUILD=1
VALIDATE=0
FROM=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK="--quick"; shift ;;
    --no-build) DO_BUILD=0; shift ;;
    --build-dir) BUILD="$2"; shift 2 ;;
    --validate) VALIDATE=1; shift ;;
    --from) [ $# -ge 2 ] || { echo "reproduce.sh: --from wants a results folder" >&2; exit 2; }
            FROM="$2"; DO_BUILD=0; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "reproduce.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
PY="${VTB_PYTHON:-/usr/bin/python3}"
t0=$(date +%s)
stage() { echo "== $1 ($(( $(date +%s) - t0 )) s elapsed)"; }

if [ -n "$FROM" ]; then
  [ -f "$FROM/bench.json" ] || { echo "reproduce.sh: --from $FROM: not a results folder (no bench.json)" >&2; exit 2; }
  RUN=$(cd "$FROM" && pwd)
  VALIDATE=0
  bench_s=0
else
  if [ "$DO_BUILD" = 1 ]; then
    stage "build ($BUILD)"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j2
  fi
  VTB="$BUILD/harness/vtb"
  [ -x "$VTB" ] || { echo "reproduce.sh: $VTB not built (drop --no-build)" >&2; exit 2; }

  if [ "$VALIDATE" = 1 ]; then  # before the suite, so the suite's folder stays the newest
    stage "validation companions (pv@off; --scale 2)"
    VTB_PV_PROTECT=off "$VTB" bench $QUICK --engines pv --groups micro,macro --out "$ROOT/results" > "$BUILD/reproduce-pvunprot.log"
    "$VTB" bench $QUICK --engines bt,bt-direct,pv --groups micro,macro --scale 2 --out "$ROOT/results" > "$BUILD/reproduce-scale2.log"
  fi

  stage "benchmark suite (vtb bench $QUICK $*)"
  tb=$(date +%s)
  LOG="$BUILD/reproduce-bench.log"
  rc=0
  SCALES=""
  if [ "$VALIDATE" = 1 ]; then
    SCALES="--phase-scales-from $(sed -n 's/^results: \([^ ]*\) .*/\1/p' "$BUILD/reproduce-pvunprot.log" | tail -1)"
  fi
  # shellcheck disable=SC2086  # SCALES: an option and a folder path without spaces
  "$VTB" bench $QUICK $SCALES --out "$ROOT/results" "$@" > "$LOG" || rc=$?
  cat "$LOG"
  [ "$rc" = 0 ] || { echo "reproduce.sh: vtb bench failed (exit $rc)" >&2; exit "$rc"; }
  RUN=$(sed -n 's/^results: \([^ ]*\) .*/\1/p' "$LOG" | tail -1)
  [ -n "$RUN" ] && [ -f "$RUN/bench.json" ] || { echo "reproduce.sh: the bench wrote no results folder" >&2; exit 1; }
  bench_s=$(( $(date +%s) - tb ))

  if [ "$VALIDATE" = 1 ]; then
    stage "interleaved validation pairs (analysis/validate_pairs.py)"
    "$PY" "$ROOT/analysis/validate_pairs.py" --vtb "$VTB" --out "$RUN/validation.json"
  fi

fi

stage "analysis + paper ($RUN)"
mkdir -p "$BUILD/paper"
"$PY" "$ROOT/analysis/tidy.py" "$RUN" --csv "$BUILD/paper/tidy.csv"
# Counts x calibrated unit costs per cell, and the validation pairs (analysis/decompose.py): the
# run itself and, for the pairs and the loop counts, the companion folders (--validate).
COMP=""
if [ "$VALIDATE" = 1 ] && [ -z "$FROM" ]; then
  COMP=$(sed -n 's/^results: \([^ ]*\) .*/\1/p' "$BUILD/reproduce-pvunprot.log" "$BUILD/reproduce-scale2.log")
fi
# shellcheck disable=SC2086  # COMP: folder paths without spaces (vtb bench names them)
"$PY" "$ROOT/analysis/decompose.py" "$RUN" $COMP > "$BUILD/paper/decomposition.txt" || true
cat "$BUILD/paper/decomposition.txt"
"$ROOT/paper/build.sh" --run "$RUN" --out "$BUILD/paper" --pdf "$ROOT/paper/paper.pdf"

total=$(( $(date +%s) - t0 ))
echo "== done in ${total} s (bench ${bench_s} s): results $RUN, figures $BUILD/paper/generated, paper $ROOT/paper/paper.pdf"
