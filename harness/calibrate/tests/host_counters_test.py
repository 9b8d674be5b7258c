#!/usr/bin/python3
# tags: calibrate|counters|tests — desc: the host.* counters of a known workload agree with each engine's own counts (pv protect ops, bt shadow-MMU calls, SUD syscalls, KVM_RUN returns).
"""Runs micro_syscall (n user syscalls) on every available engine and checks
that the host events counted at the call sites (common/host_events.h) match
what the engine counts on its own. Counts only, never timings."""
import json
import subprocess
import sys

N = 2000


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(vtb, engine):
    p = subprocess.run([vtb, "run", "--engine", engine, "--workload", "micro_syscall", "--param", "n=%d" % N,
                        "--json"], capture_output=True, text=True, timeout=300)
    if p.returncode == 3:
        return None  # engine unavailable on this host
    if p.returncode != 0:
        fail("%s: exit %d: %s" % (engine, p.returncode, p.stderr.strip()))
    return json.loads(p.stdout)["counters"]


def expect(engine, cond, what, c):
    if not cond:
        fail("%s: %s; host counters %s" % (engine, what, {k: v for k, v in c.items() if k.startswith("host.")}))


def main(vtb):
    checked = []
    c = run(vtb, "pv:protect=mprotect")  # the mode whose switches are mprotects (PKU hosts pick pkeys)
    if c is not None:
        g = c.get
        expect("pv", g("host.mprotect", 0) == g("pv.kernel_protect_ops", 0) > 0, "host.mprotect == pv.kernel_protect_ops > 0", c)
        expect("pv", g("host.mprotect_pages", 0) >= g("host.mprotect", 0), "mprotect_pages >= mprotect calls", c)
        expect("pv", g("host.sigsys", 0) >= N, "every guest syscall bounces through one SIGSYS (>= n)", c)
        checked.append("pv")
    for e in ("bt", "bt-direct"):
        c = run(vtb, e)
        if c is None:
            continue
        g = c.get
        expect(e, g("host.mmap", 0) + g("host.mprotect", 0) == g("mmu.host_calls", 0) > 0,
               "host.mmap + host.mprotect == mmu.host_calls", c)
        expect(e, g("host.signal", 0) >= g("mmu.hidden_fault", 0), "host.signal >= mmu.hidden_fault", c)
        if e == "bt-direct":
            expect(e, g("host.sigsys", 0) == g("bt.direct_syscalls", 0) >= N, "host.sigsys == bt.direct_syscalls >= n", c)
        else:
            expect(e, g("host.sigsys", 0) == 0, "no SIGSYS without direct execution", c)
        checked.append(e)
    c = run(vtb, "kvm")
    if c is not None:
        g = c.get
        user_exits = g("exit.port_io", 0) + g("exit.mmio", 0) + g("exit.halt", 0)
        expect("kvm", g("host.kvm_run", 0) >= user_exits + g("kvm.user.kicks", 0),
               "host.kvm_run >= user-space exits + kicks", c)
        expect("kvm", g("host.signal", 0) >= g("kvm.user.kicks", 0), "host.signal >= kvm.user.kicks", c)
        if "kvm.exits" in c:
            expect("kvm", g("kvm.exits", 0) >= g("host.kvm_run", 0) - g("kvm.user.kicks", 0),
                   "kvm.exits >= KVM_RUN returns that were exits", c)
        checked.append("kvm")
    if not checked:
        print("SKIP: no engine available")
        return 77
    print("ok: host counters consistent on " + ", ".join(checked))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
