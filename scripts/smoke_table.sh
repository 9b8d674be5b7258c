#!/usr/bin/env bash
# tags: scripts|main — desc: run every smoke workload on every available engine and peer (vtb run --json) and print a side-by-side table.
#
# usage: scripts/smoke_table.sh [VTB_BINARY]   (default: build/harness/vtb)
# Cells: "ok <phase-1 ms>" (or wall ms when the workload has no phase), or the
# outcome (exit code / crash / limit / error / skip). Raw JSON reports land in
# a temporary folder whose path is printed.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VTB="${1:-$ROOT/build/harness/vtb}"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
OUT=$(mktemp -d "${TMPDIR:-/tmp}/vtb-smoke.XXXXXX")
"$VTB" list --json > "$OUT/list.json" || { echo "main: vtb list failed" >&2; exit 5; }
mapfile -t ENGINES < <("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); [print(e["name"]) for e in d["engines"] if e["available"]]' "$OUT/list.json")
mapfile -t WORKLOADS < <("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); [print(w["name"]) for w in d["workloads"] if "smoke" in w["groups"]]' "$OUT/list.json")
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); [print("main: engine %s unavailable: %s" % (e["name"], e["reason"])) for e in d["engines"] if not e["available"]]' "$OUT/list.json"
echo "main: engines: ${ENGINES[*]}"
echo "main: smoke workloads: ${WORKLOADS[*]}"
for w in "${WORKLOADS[@]}"; do
  for e in "${ENGINES[@]}"; do
    printf 'main: %-12s on %-9s ... ' "$w" "$e"
    "$VTB" run --engine "$e" --workload "$w" --json --out "$OUT/$w.$e.json" > /dev/null 2> "$OUT/$w.$e.err"
    rc=$?
    echo "exit $rc"
  done
done
"$PY" - "$OUT" "${#ENGINES[@]}" "${ENGINES[@]}" "${WORKLOADS[@]}" <<'PYEOF'
import json, os, sys
out, n = sys.argv[1], int(sys.argv[2])
engines, workloads = sys.argv[3:3 + n], sys.argv[3 + n:]
names = {0: "ok", 10: "exit!=0", 11: "crash", 12: "limit", 2: "bad input", 3: "skip", 4: "error", 5: "host err"}
def cell(w, e):
    p = os.path.join(out, "%s.%s.json" % (w, e))
    if not os.path.exists(p):
        return "-"
    r = json.load(open(p))
    c = r["cli_exit"]
    if c != 0:
        return names.get(c, "exit %d" % c)
    ph = [x for x in r["phases"] if x["phase"] == 1 and x["seconds"] is not None]
    ms = (ph[0]["seconds"] if ph else r["wall_seconds"]) * 1e3
    mark = "" if not r["check_failures"] else " (check!)"
    return "ok %.1f ms%s%s" % (ms, "" if ph else " wall", mark)
w0 = max([len("workload")] + [len(w) for w in workloads])
cols = [max(len(e), 18) for e in engines]
print()
print("workload".ljust(w0) + "  " + "  ".join(e.ljust(c) for e, c in zip(engines, cols)))
print("-" * (w0 + sum(c + 2 for c in cols)))
for w in workloads:
    print(w.ljust(w0) + "  " + "  ".join(cell(w, e).ljust(c) for e, c in zip(engines, cols)))
print()
print("times: phase 1 (the workload's measured loop), host CLOCK_MONOTONIC at the guest's markers;")
print("'wall' = whole run including boot. Reports: " + out)
PYEOF
