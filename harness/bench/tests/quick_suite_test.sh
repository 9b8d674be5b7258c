#!/bin/sh
# tags: harness|bench|tests — desc: ctest: `vtb bench --quick` over the available engines writes a results folder the analysis loads.
# usage: quick_suite_test.sh VTB_BINARY OUT_DIR
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/test_setup.sh"
"$VTB" bench --quick --out "$OUT" > "$OUT/stdout.txt" 2> "$OUT/stderr.txt" || {
  echo "vtb bench --quick failed (exit $?)"; cat "$OUT/stderr.txt"; exit 1; }
cat "$OUT/stdout.txt"
RUN=$(sed -n 's/^results: \([^ ]*\) .*/\1/p' "$OUT/stdout.txt")
[ -n "$RUN" ] || { echo "no 'results:' line"; exit 1; }
for f in bench.json environment.json summary.txt; do
  [ -s "$RUN/$f" ] || { echo "missing $RUN/$f"; exit 1; }
done
if ls -a "$OUT" | grep -q '^\.tmp-'; then echo "a temporary folder was left behind"; exit 1; fi
"$PY" - "$RUN" "$ROOT/analysis" <<'PYEOF'
import json, os, sys
run, analysis = sys.argv[1], sys.argv[2]
sys.path.insert(0, analysis)
import tidy
with open(os.path.join(run, "bench.json")) as f:
    raw = json.load(f)
iters = [b for b in raw["benchmarks"] if b.get("run_type") == "iteration"]
t = tidy.load([run])
measured = {(r["engine"], r["workload"], r["mode"], r["repetition"]) for r in t.rows}
assert len(measured) + len(t.errors) == len(iters), (len(measured), len(t.errors), len(iters))
assert measured, "no cell produced a measurement (native and qemu-tcg should)"
for r in t.rows:
    assert r["engine"] and r["backend"] and r["workload"], r
env = json.load(open(os.path.join(run, "environment.json")))
for k in ("cpu_model", "kernel", "kvm_backend", "compiler", "commit", "load_average_start", "date"):
    assert k in env, k
print("quick suite: %d measured repetitions, %d lost/skipped, series %s" % (len(measured), len(t.errors), t.series()))
PYEOF
