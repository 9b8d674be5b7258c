#!/bin/sh
# tags: paper|build — desc: generate the paper's includes from a results run (analysis/paper_tex.py) and build paper.pdf with latexmk.
# usage: paper/build.sh [--run RESULTS_DIR] [--out BUILD_DIR] [--pdf DEST.pdf] [--host-kind K]
#   --run  a results/<date>_<host>_<commit>/ folder, or one merged from shards (default: the newest under results/)
#   --host-kind  for a run merged from hosts of different kinds: the kind the paper is about
#          (default: the kind with the most measured cells; kinds are never pooled)
#   --out  where the includes, figures and LaTeX output go (default: paper/build)
#   --pdf  copy the finished PDF there too
# Exit: 0 built, 2 bad input, 1 build failed or the paper does not fit (float too large, overfull box,
#   undefined citation), 77 a tool is missing (latexmk, matplotlib, scipy, pandas).
set -eu
SRC=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$SRC")
OUT="$SRC/build"
RUN=""
PDF=""
KIND=""
while [ $# -gt 0 ]; do
  case "$1" in
    --run) RUN="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --pdf) PDF="$2"; shift 2 ;;
    --host-kind) KIND="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "paper/build.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
PY="${VTB_PYTHON:-/usr/bin/python3}"
if ! command -v latexmk >/dev/null 2>&1 || ! command -v pdflatex >/dev/null 2>&1; then
  echo "paper/build.sh: latexmk/pdflatex not installed (apt-get install \$(cat harness/bench/DEPENDENCIES))" >&2
  exit 77
fi
if ! "$PY" -c 'import matplotlib, numpy, scipy, pandas' >/dev/null 2>&1; then
  echo "paper/build.sh: $PY lacks matplotlib/numpy/scipy/pandas (apt-get install python3-matplotlib python3-numpy python3-scipy python3-pandas)" >&2
  exit 77
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -rf "$OUT/generated"
set -- --out "$OUT"
[ -n "$RUN" ] && set -- "$@" --run "$RUN"
[ -n "$KIND" ] && set -- "$@" --host-kind "$KIND"
"$PY" "$ROOT/analysis/paper_tex.py" "$@" || exit 2
cp "$SRC/paper.tex" "$OUT/paper.tex"
cd "$OUT"
if ! latexmk -pdf -interaction=nonstopmode -halt-on-error -file-line-error paper.tex > latexmk.log 2>&1; then
  grep -E '^(\./|!)|Error' latexmk.log | head -20 >&2
  echo "paper/build.sh: LaTeX failed, see $OUT/latexmk.log" >&2
  exit 1
fi
if [ ! -s paper.pdf ]; then echo "paper/build.sh: no paper.pdf produced" >&2; exit 1; fi
# A paper that builds is not enough: it must also fit. Any of these in the final log fails the build
# (paper.tex sets \hfuzz/\vfuzz to 1pt, so sub-point rounding is not reported).
if grep -q 'undefined' paper.log; then
  grep 'undefined' paper.log | head -5 >&2
  echo "paper/build.sh: undefined references, citations or macros" >&2
  exit 1
fi
if grep -qE 'Float too large|Float\(s\) lost|Overfull \\[hv]box' paper.log; then
  grep -E 'Float too large|Float\(s\) lost|Overfull \\[hv]box' paper.log | head -8 >&2
  echo "paper/build.sh: a float or box does not fit the page (see $OUT/paper.log)" >&2
  exit 1
fi
if [ -n "$PDF" ]; then cp paper.pdf "$PDF"; fi
echo "paper: $OUT/paper.pdf${PDF:+ -> $PDF}"
