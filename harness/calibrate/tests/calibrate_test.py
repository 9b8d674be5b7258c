#!/usr/bin/python3
# tags: calibrate|tests — desc: `vtb calibrate --json`: schema, every unit cost named and positive or unavailable with a reason; bad options rejected.
"""Asserts what vtb calibrate reports, never how fast the host is."""
import json
import os
import subprocess
import sys

# Every host event an engine counts (docs/counters.md, host.*) must have a price.
EXPECTED = {"signal", "sigsys", "syscall", "cpuid", "callout", "futex_handoff", "futex_handoff_pinned",
            "futex_handoff_cross", "futex_wake", "seccomp_notify", "mapper_relay",
            "spin_handoff", "scm_rights", "mmap",
            "mmap_touch", "mprotect", "mprotect_range64", "mprotect_pv3_4096", "mprotect_pv3_16384", "mprotect_pv3_65536",
            "munmap", "madvise", "kvm_exit_user", "kvm_exit_kernel"}
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))), "analysis"))
import decompose  # noqa: E402

# ... and every figure the analysis prices a counter with (analysis/decompose.py PRICES, the mprotect fit,
# pv@2as's user-process terms).
PRICED = {cal for _, _, cal in decompose.PRICES} | set(decompose.PV_PROBE_PAGES) | {"kvm_exit_kernel"} | \
    {cal for _, cal in decompose.TWO_AS}


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def main(vtb):
    p = subprocess.run([vtb, "calibrate", "--json", "--quick"], capture_output=True, text=True, timeout=100)
    if p.returncode != 0:
        fail("exit %d: %s" % (p.returncode, p.stderr))
    j = json.loads(p.stdout)
    if j.get("schema") != "vtb-calibration/1" or j.get("repetitions") != 3 or j.get("unit") != "ns per event":
        fail("header: %r" % {k: j.get(k) for k in ("schema", "repetitions", "unit")})
    costs = j["costs"]
    if PRICED - set(costs):
        fail("the analysis prices counters with %s, which vtb calibrate does not measure" % sorted(PRICED - set(costs)))
    if set(costs) != EXPECTED:
        fail("names differ: missing %s, extra %s" % (sorted(EXPECTED - set(costs)), sorted(set(costs) - EXPECTED)))
    available = 0
    for name, c in costs.items():
        if not c.get("what"):
            fail(name + ": no description")
        if c["available"]:
            available += 1
            if not (0 < c["min_ns"] <= c["median_ns"] <= c["max_ns"]):
                fail("%s: not 0 < min <= median <= max: %r" % (name, c))
            if c["reps"] != 3 or c["batch"] < 1:
                fail("%s: reps/batch %r" % (name, c))
        elif not c.get("reason"):
            fail(name + ": unavailable without a reason")
    # These need nothing but a Linux host: always measured.
    for name in ("signal", "syscall", "callout", "futex_handoff", "futex_handoff_pinned", "mapper_relay", "futex_wake",
                 "scm_rights", "mmap", "mmap_touch", "mprotect", "munmap", "madvise"):
        if not costs[name]["available"]:
            fail(name + " unavailable: " + costs[name]["reason"])
    # The spinning and the cross-CPU hand-overs need a CPU for each side (as pv@2as's spinning does).
    for name in ("spin_handoff", "futex_handoff_cross"):
        if costs[name]["available"] != (len(os.sched_getaffinity(0)) >= 2):
            fail("%s with %d CPUs allowed: %r" % (name, len(os.sched_getaffinity(0)), costs[name]))
    # ... and with one CPU allowed it says why, while the one-CPU futex hand-over is still measured.
    one = subprocess.run(["taskset", "-c", str(min(os.sched_getaffinity(0))), vtb, "calibrate", "--json", "--quick"],
                         capture_output=True, text=True, timeout=100)
    if one.returncode != 0:
        fail("on one CPU: exit %d: %s" % (one.returncode, one.stderr))
    oc = json.loads(one.stdout)["costs"]
    for name in ("spin_handoff", "futex_handoff_cross"):
        if oc[name]["available"] or "two CPUs" not in oc[name].get("reason", ""):
            fail("on one CPU: %s %r" % (name, oc[name]))
    for name in ("futex_handoff_pinned", "mapper_relay"):
        if not oc[name]["available"]:
            fail("on one CPU: %s %r" % (name, oc[name]))
    # No /dev/kvm: the KVM figures say why, the rest are still measured.
    env = dict(os.environ, VTB_KVM_DEV="/nonexistent-kvm")
    q = subprocess.run([vtb, "calibrate", "--json", "--quick"], capture_output=True, text=True, timeout=100, env=env)
    if q.returncode != 0:
        fail("without /dev/kvm: exit %d" % q.returncode)
    nk = json.loads(q.stdout)["costs"]
    for name in ("kvm_exit_user", "kvm_exit_kernel"):
        if nk[name]["available"] or "/nonexistent-kvm" not in nk[name].get("reason", ""):
            fail("without /dev/kvm, %s: %r" % (name, nk[name]))
    if not nk["signal"]["available"]:
        fail("without /dev/kvm the host figures must still be measured")
    # Bad input: one line on stderr, exit 2.
    for bad in (["--reps", "0"], ["--bogus"], ["--reps=x"]):
        q = subprocess.run([vtb, "calibrate"] + bad, capture_output=True, text=True, timeout=30)
        if q.returncode != 2 or q.stderr.count("\n") != 1 or q.stdout:
            fail("%s: exit %d, stderr %r" % (bad, q.returncode, q.stderr))
    print("ok: %d of %d unit costs measured" % (available, len(costs)))


if __name__ == "__main__":
    main(sys.argv[1])
