#!/bin/sh
# tags: harness|bench|tests — desc: ctest: `vtb bench --engines kvm@nested-tcg` measures kvm cells in the nested runner, npt and shadow apart, with exact exit counts.
# usage: nested_bench_test.sh VTB_BINARY OUT_DIR
set -eu
VTB="$1"
OUT="$2"
rm -rf "$OUT"
mkdir -p "$OUT"
# micro_out: one port exit per op in both modes; micro_pgfault: with shadow
# paging (npt=0) every guest fault and page-table change is an exit too.
"$VTB" bench --engines kvm@nested-tcg --workloads micro_out,micro_pgfault --quick --repetitions 1 \
  --out "$OUT" > "$OUT/stdout.txt" 2> "$OUT/stderr.txt" || {
  rc=$?; cat "$OUT/stderr.txt"; echo "vtb bench failed (exit $rc)"; exit 1; }
cat "$OUT/stdout.txt"
RUN=$(sed -n 's/^results: \([^ ]*\) .*/\1/p' "$OUT/stdout.txt")
[ -n "$RUN" ] && [ -s "$RUN/bench.json" ] && [ -s "$RUN/nested.json" ] || { echo "no results folder with bench.json + nested.json"; exit 1; }
/usr/bin/python3 - "$RUN" <<'PYEOF'
import json, sys
run = sys.argv[1]
raw = json.load(open(run + "/bench.json"))
cells = {}
for b in raw["benchmarks"]:
    if b.get("run_type") != "iteration":
        continue
    lab = dict(kv.split("=", 1) for kv in b["label"].split(";") if "=" in kv)
    assert "error_message" not in b, (b["name"], b.get("error_message"))
    cells[(lab["backend"], lab["workload"])] = b
want = {(be, w) for be in ("kvm@nested-tcg/npt", "kvm@nested-tcg/shadow") for w in ("micro_out", "micro_pgfault")}
assert set(cells) == want, sorted(cells)
for be in ("kvm@nested-tcg/npt", "kvm@nested-tcg/shadow"):
    out = cells[(be, "micro_out")]
    # exact: the loop's n port writes plus the run's fixed overhead (console, markers), each a KVM_EXIT_IO
    assert out["kvm.io_exits/op"] == out["exit.port_io/op"], (be, out["kvm.io_exits/op"], out["exit.port_io/op"])
    assert 1.0 <= out["exit.port_io/op"] < 1.1, (be, out["exit.port_io/op"])
npt, shadow = cells[("kvm@nested-tcg/npt", "micro_pgfault")], cells[("kvm@nested-tcg/shadow", "micro_pgfault")]
assert shadow.get("kvm.pf_guest/op", 0) >= 1.0, shadow.get("kvm.pf_guest/op")  # each guest #PF passes through KVM
assert npt.get("kvm.pf_guest/op", 0) == 0, npt.get("kvm.pf_guest/op")        # with NPT it never leaves the guest
assert shadow["kvm.exits/op"] > npt["kvm.exits/op"] + 1, (shadow["kvm.exits/op"], npt["kvm.exits/op"])
print("nested bench: io_exits/op %.3f; micro_pgfault exits/op npt %.2f shadow %.2f"
      % (cells[("kvm@nested-tcg/npt", "micro_out")]["kvm.io_exits/op"], npt["kvm.exits/op"], shadow["kvm.exits/op"]))
PYEOF
