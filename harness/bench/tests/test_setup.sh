# tags: harness|bench|tests — desc: sourced by the bench's shell tests: VTB, OUT (emptied), PY, ROOT, fail(); SKIP (77) without numpy/matplotlib.
# usage, in a test run as `TEST VTB_BINARY OUT_DIR`:
#   HERE=$(cd "$(dirname "$0")" && pwd); . "$HERE/test_setup.sh"
# shellcheck shell=sh disable=SC2034
VTB="$1"
OUT="$2"
PY="${VTB_PYTHON:-/usr/bin/python3}"
ROOT=$(cd "$HERE/../../.." && pwd)
if ! "$PY" -c 'import numpy, matplotlib' >/dev/null 2>&1; then
  echo "SKIP: $PY lacks numpy/matplotlib"; exit 77
fi
rm -rf "$OUT"
mkdir -p "$OUT"
fail() { echo "FAIL: $*"; exit 1; }
