#!/bin/sh
# tags: harness|bench|tests — desc: ctest: vtb bench --min-phase on real native runs: short cells scaled (iteration params only), params as run recorded, --quick / --min-phase 0 / --scale leave them alone.
# usage: min_phase_test.sh VTB_BINARY OUT_DIR
# Host-native runs of micro_syscall (n = 20000 getpid calls: milliseconds on any host), memtouch
# (pages is a size, rounds the iteration count), 2 repetitions each:
#  1. --min-phase 0.05: the short cells get a power-of-two factor > 1 on their iteration params
#     only; every row of a cell has the same params (the probe is not a row), the label and
#     environment.json say the factor, ops = the scaled count.
#  2. --min-phase 0.000001: every phase is longer: factor 1, one run per repetition.
#  3. --quick, --min-phase 0 and --scale 2: the manifest's params (x 2), no probe.
#  4. --phase-scales-from the run of 1.: its factors, no probe (a companion run measures the same
#     params); a folder without them is refused with one line and exit 2.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/test_setup.sh"
SEL="--engines native --workloads micro_syscall,memtouch --repetitions 2"

run() {  # run NAME OPTIONS...: the results folder in $OUT/NAME
  name=$1; shift
  "$VTB" bench $SEL "$@" --out "$OUT/$name" > "$OUT/$name.log" 2>&1 || { cat "$OUT/$name.log"; fail "$name: exit $?"; }
  ls -d "$OUT/$name"/*/ > /dev/null || fail "$name: no results folder"
}

check() {  # check NAME EXPECT: EXPECT = scaled | one | plain | double | from (the factors of run "scaled")
  "$PY" - "$OUT/$1"/*/ "$2" "$OUT"/scaled/*/ <<'PYEOF'
import json, os, sys
d, want, ref = sys.argv[1], sys.argv[2], sys.argv[3]
bench = json.load(open(os.path.join(d, "bench.json")))
env = json.load(open(os.path.join(d, "environment.json")))
def fail(msg):
    print("FAIL (%s): %s" % (want, msg)); sys.exit(1)
rows = {}
for b in bench["benchmarks"]:
    if b.get("run_type") != "iteration": continue
    if b.get("error_occurred"): fail("lost row %s: %s" % (b["name"], b.get("error_message")))
    lab = dict(p.split("=", 1) for p in b["label"].split(";"))
    params = dict(kv.split("=", 1) for kv in lab["params"].split(",") if kv)
    rows.setdefault(lab["workload"], []).append((params, int(lab.get("phase_scale", "1")), b))
if sorted(rows) != ["memtouch", "micro_syscall"]: fail("cells %s" % sorted(rows))
scales = env.get("phase_scales", {})
for w, rs in rows.items():
    if len(rs) != 2: fail("%s: %d rows, want 2 (the probe is not a row)" % (w, len(rs)))
    if any(r[0] != rs[0][0] or r[1] != rs[0][1] for r in rs): fail("%s: rows with different params" % w)
    params, f, b = rs[0]
    if want in ("scaled", "from") and (f < 2 or f & (f - 1)): fail("%s: factor %d, want a power of two > 1" % (w, f))
    if want == "from" and json.load(open(os.path.join(ref, "environment.json")))["phase_scales"]["native/%s/cold" % w] != f:
        fail("%s: factor %d is not the one of %s" % (w, f, ref))
    if want in ("one", "plain", "double") and f != 1: fail("%s: factor %d, want 1" % (w, f))
    probed = "native/%s/cold" % w in scales
    if want in ("scaled", "one", "from") and scales.get("native/%s/cold" % w) != f: fail("%s: environment phase_scales %s" % (w, scales))
    if want in ("plain", "double") and probed: fail("%s: probed without --min-phase: %s" % (w, scales))
    k = 2 if want == "double" else 1
    if w == "micro_syscall":
        if params != {"n": str(20000 * f * k), "reps": "1"}: fail("micro_syscall params %s (factor %d)" % (params, f))
        if int(b["ops"]) != 20000 * f * k: fail("micro_syscall ops %s" % b["ops"])
    else:
        # pages is a size: never scaled by --min-phase (--scale multiplies every integer)
        if params != {"pages": str(1024 * k), "rounds": str(f if k == 1 else 1)}: fail("memtouch params %s (factor %d)" % (params, f))
        if int(b["ops"]) != 1024 * k * f: fail("memtouch ops %s" % b["ops"])
expect_probes = {"scaled": None, "one": 2, "plain": 0, "double": 0, "from": 0}[want]
if expect_probes is not None and env.get("probe_runs") != expect_probes: fail("probe_runs %s" % env.get("probe_runs"))
if want == "scaled" and not 4 <= env.get("probe_runs", 0) <= 6: fail("probe_runs %s, want 2 or 3 per cell" % env.get("probe_runs"))
print("%s: ok: factors %s, probe runs %s, min_phase %s" % (want, scales, env.get("probe_runs"), env.get("min_phase")))
PYEOF
}

run scaled --min-phase 0.05
check scaled scaled || exit 1
grep -q 'min_phase=0.05' "$OUT"/scaled/*/environment.json || fail "the options line lacks min_phase"
run one --min-phase 0.000001
check one one || exit 1
run quick --quick
check quick plain || exit 1
run off --min-phase 0
check off plain || exit 1
run scale2 --scale 2
check scale2 double || exit 1
run from --min-phase 0.000001 --phase-scales-from "$(ls -d "$OUT"/scaled/*/)"
check from from || exit 1
rc=0
"$VTB" bench $SEL --phase-scales-from "$OUT" > "$OUT/bad.log" 2>&1 || rc=$?
[ "$rc" = 2 ] && [ "$(wc -l < "$OUT/bad.log")" = 1 ] && grep -q 'phase-scales-from' "$OUT/bad.log" || { cat "$OUT/bad.log"; fail "a folder without phase_scales: exit $rc"; }
# --list shows the plan: the manifest's params, before any probe.
"$VTB" bench $SEL --list | grep -q 'native/micro_syscall/cold .*params=n=20000,reps=1' || fail "--list: planned params"
echo "PASS"
