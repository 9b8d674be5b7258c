#!/bin/sh
# tags: paper|tests — desc: paper/build.sh fails (exit 1, one message) on an overfull box and on a float too large for its page, and passes on the paper as committed.
# usage: paper/tests/build_strict_test.sh WORKDIR   (exit 77 when latexmk or the Python libraries are missing)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${1:?usage: build_strict_test.sh WORKDIR}
RUN="$ROOT/results/2026-11-28-1413_vm_59975046602b"  # the small checked-in sample: fast to build
rm -rf "$WORK" && mkdir -p "$WORK"
fail() { echo "FAIL: $*"; exit 1; }

# A copy of the tree's paper/ whose paper.tex gets one defect inserted before \end{document}.
variant() {  # name, LaTeX to insert
  d="$WORK/$1"
  mkdir -p "$d/paper"
  cp "$ROOT/paper/build.sh" "$d/paper/"
  ln -s "$ROOT/analysis" "$d/analysis"
  INS="$2" awk '/^\\end\{document\}/ { print ENVIRON["INS"] } { print }' "$ROOT/paper/paper.tex" > "$d/paper/paper.tex"
  "$d/paper/build.sh" --run "$RUN" --out "$d/out" > "$d/stdout" 2> "$d/stderr"
  echo $?
}

rc=$(variant clean "")
[ "$rc" = 77 ] && { cat "$WORK/clean/stderr"; exit 77; }
[ "$rc" = 0 ] || fail "the committed paper does not pass build.sh (exit $rc): $(tail -3 "$WORK/clean/stderr")"

rc=$(variant overfull '\noindent\rule{1.3\textwidth}{1pt}\par')
[ "$rc" = 1 ] || fail "an overfull box: exit $rc, expected 1"
grep -q 'does not fit' "$WORK/overfull/stderr" || fail "an overfull box: no message: $(cat "$WORK/overfull/stderr")"
grep -q 'Overfull' "$WORK/overfull/stderr" || fail "an overfull box: the log line is not shown"

rc=$(variant float '\begin{figure}[t]\rule{1pt}{1.5\textheight}\caption{too tall}\end{figure}')
[ "$rc" = 1 ] || fail "a float too large: exit $rc, expected 1"
grep -q 'Float too large' "$WORK/float/stderr" || fail "a float too large: not named: $(cat "$WORK/float/stderr")"

rc=$(variant cite 'See~\cite{nosuchpaper}.')
[ "$rc" = 1 ] || fail "an undefined citation: exit $rc, expected 1"
grep -q 'undefined' "$WORK/cite/stderr" || fail "an undefined citation: not named"
echo "ok: build.sh passes the paper and fails on an overfull box, a float too large and an undefined citation"
