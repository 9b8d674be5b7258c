#!/usr/bin/env bash
# tags: scripts|test — desc: install what is missing, build, and run the whole test suite with ctest (the README's test command).
#
# usage: scripts/test.sh [ctest options...]   e.g. scripts/test.sh -R harness
#   VTB_TEST_TIMEOUT  per-test timeout in seconds (default 900)
#   VTB_TEST_JOBS     ctest parallelism (default 2; QEMU tests run serially anyway)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/setup.sh"
cd "$ROOT"
t0=$(date +%s)
set +e
ctest --preset release --output-on-failure --timeout "${VTB_TEST_TIMEOUT:-900}" -j "${VTB_TEST_JOBS:-2}" "$@"
rc=$?
set -e
echo "test: ctest finished in $(( $(date +%s) - t0 )) s, status $rc"
exit $rc
