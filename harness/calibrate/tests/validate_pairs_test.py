#!/usr/bin/python3
# tags: calibrate|tests — desc: analysis/validate_pairs.py on small pairs: the loop counts that separate each pair (SIGSYS per bt-direct syscall, pv@mprotect's three mprotects per syscall, more pages per call with more guest memory, pv@2as's user-process SIGSYS and two hand-overs per syscall), an unavailable mode, the verdicts' arithmetic, bad input.
"""Asserts counts and the summary's consistency, never a timing or a hit."""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "analysis", "validate_pairs.py")
sys.path.insert(0, os.path.join(ROOT, "analysis"))
import decompose  # noqa: E402


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def main(vtb):
    bad = subprocess.run([sys.executable, SCRIPT, "--vtb", vtb, "--pairs", "nope"], capture_output=True, text=True)
    if bad.returncode != 2 or len(bad.stderr.strip().splitlines()) != 1:
        fail("unknown pair: exit %d, stderr %r" % (bad.returncode, bad.stderr))
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "validation.json")
        p = subprocess.run([sys.executable, SCRIPT, "--vtb", vtb, "--rounds", "2", "--scale", "0.05",
                            "--pairs", "bt-syscall,pv-syscall,pv-mem-syscall,pv-2as-syscall", "--out", out], capture_output=True, text=True,
                           timeout=240)
        if p.returncode != 0:
            fail("exit %d: %s" % (p.returncode, p.stderr))
        v = json.load(open(out))
    if v["schema"] != "vtb-validation/2" or v["rounds"] != 2 or v["calibrations"] != 3:
        fail("header %r" % {k: v.get(k) for k in ("schema", "rounds", "calibrations")})
    pairs = {p["name"]: p for p in v["pairs"]}
    unavailable = {u["name"] for u in v["unavailable"]}
    # pv@2as may or may not be built: the pair is either measured or unavailable with a reason, never lost.
    if set(pairs) | unavailable != {"bt-syscall", "pv-syscall", "pv-mem-syscall", "pv-2as-syscall"} or \
            unavailable - {"pv-2as-syscall"} or any(not u["reason"] for u in v["unavailable"]):
        fail("pairs %r, unavailable %r" % (sorted(pairs), v["unavailable"]))
    bt = pairs["bt-syscall"]
    # bt-direct: one SIGSYS per guest system call; bt translates the syscall (no host signal).
    if not 0.95 <= bt["b_per_op"].get("host.sigsys", 0) <= 1.05 or bt["a_per_op"].get("host.sigsys", 0) > 0.05:
        fail("bt/bt-direct sigsys per op %r / %r" % (bt["a_per_op"].get("host.sigsys"),
                                                     bt["b_per_op"].get("host.sigsys")))
    pv = pairs["pv-syscall"]
    # pv protects the guest kernel on every user<->kernel switch: at least one mprotect on the way in
    # and one on the way out (docs/pv.md: 3 per syscall in mprotect mode), each over thousands of
    # pages, and the host count is pv's own; unprotected pv makes none in the loop.
    a_mp = pv["a_per_op"].get("host.mprotect", 0)
    if not 2 <= a_mp <= 6 or pv["b_per_op"].get("host.mprotect", 0) > 0.05:
        fail("pv mprotect per op %r / %r" % (a_mp, pv["b_per_op"].get("host.mprotect")))
    if abs(a_mp - pv["a_per_op"].get("pv.kernel_protect_ops", -1)) > 0.05:
        fail("pv host.mprotect %r per op is not pv.kernel_protect_ops %r" %
             (a_mp, pv["a_per_op"].get("pv.kernel_protect_ops")))
    if pv["a_per_op"].get("host.mprotect_pages", 0) < 1000 * pv["a_per_op"]["host.mprotect"]:
        fail("pv mprotect pages per call below 1000: %r" % pv["a_per_op"])
    mem = pairs["pv-mem-syscall"]
    # The same mode and workload with 4x the guest memory: the same calls, each covering ~4x the pages.
    # (a short loop: timer ticks add a few protection switches per hundred operations on either side)
    if abs(mem["a_per_op"].get("host.mprotect", 0) - mem["b_per_op"].get("host.mprotect", -1)) > 0.2 or \
            not 3 <= mem["a_per_op"].get("host.mprotect_pages", 0) / mem["b_per_op"].get("host.mprotect_pages", 1) <= 4.5:
        fail("pv 256/64 MiB mprotect counts %r / %r" % (mem["a_per_op"], mem["b_per_op"]))
    if pv["mprotect_in_process_ns"] <= 0:
        fail("time.pv.protect_ns not reported")
    if "pv-2as-syscall" in pairs:
        # pv@2as: each guest syscall is one handoff to the user process ending in a SIGSYS there (not in
        # host.sigsys: the engine process takes none), and each side waits once per handoff (spinning or
        # on the futex: two hand-overs per syscall); all of it priced from pv's own counters.
        two = pairs["pv-2as-syscall"]
        a = two["a_per_op"]
        n = decompose.two_as_counts(a)
        waits = sum(v for k, v in n.items() if k.startswith("2as ") and "hand-overs" in k)
        if not (0.95 <= n.get("user-process SIGSYS", 0) <= 1.05 and a.get("host.sigsys", 0) < 0.05 and
                abs(waits - 2 * a["pv.2as.handoffs"]) < 0.01 and 0.95 <= a["pv.2as.handoffs"] <= 1.1):
            fail("pv@2as counts per syscall %r -> %r" % (a, n))
        if not {k for k, v in n.items() if v} <= set(two["a_host_terms"]):
            fail("pv@2as terms %r do not price its counts %r" % (two["a_host_terms"], n))
        if two["b_host_terms"].get("SIGSYS", 0) <= 0 or "user-process SIGSYS" in two["b_host_terms"]:
            fail("pv@off terms %r" % two["b_host_terms"])
    for p in v["pairs"]:
        if abs(p["predicted_ns"] - (sum(p["a_host_terms"].values()) - sum(p["b_host_terms"].values()))) > 1e-6:
            fail("%s: predicted is not the difference of the host terms" % p["name"])
        if p["verdict"] in ("hit", "miss") and (p["verdict"] == "hit") != (
                abs(p["predicted_ns"] - p["measured_ns"]) <= 0.3 * abs(p["measured_ns"])):
            fail("%s: hit does not follow the ±30 %% rule" % p["name"])
        if p["verdict"] in ("hit", "miss") and p["spread_ns"] >= abs(p["predicted_ns"]):
            fail("%s: judged although its spread %r exceeds the prediction" % (p["name"], p["spread_ns"]))
        if len(p["round_diffs_ns"]) != 2:
            fail("%s: %d round differences, want 2" % (p["name"], len(p["round_diffs_ns"])))
    judged = [p for p in v["pairs"] if p["judged"]]
    if v["judged"] != len(judged) or v["hits"] != sum(p["hit"] for p in judged) or \
            v["hits"] + v["misses"] + v["unresolvable"] + v["small"] != len(v["pairs"]):
        fail("summary counts")
    if not v["line"].startswith("pairs within ±30 %%: %d of %d" % (v["hits"], v["judged"])):
        fail("line %r" % v["line"])
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1])
