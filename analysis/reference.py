#!/usr/bin/python3
# tags: analysis|reference — desc: published unit costs of reference platforms (bare-metal x86-64 Linux, VT-x and AMD-V exits) with their sources, and the modelled [M] columns built from them.
"""Reference platforms, as models.

No machine of this project has VT-x/AMD-V, and every one is itself a guest.
This module holds published unit costs of a bare-metal x86-64 Linux host and
of VM exit round trips on VT-x and AMD-V, each with its source and the
project's trust tag (shared notes/paper-anchors.md: [V] verified against the
source text, [D] derived from [V] by arithmetic, [R] recalled, approximate).
From them it builds **modelled** figures, always tagged [M]:

  bt/pv on bare metal   the cell's measured remainder (analysis/decompose.py)
                        + Σ host count/op × the reference cost of that event;
                        events without a published cost keep this host's
                        calibrated cost (listed in KEPT_AT_HOST_COST)
  kvm on VT-x / AMD-V   modelled native-tbk + user-space exits/op × the
                        reference user-space exit + in-kernel exits/op × the
                        reference in-kernel exit, from the exact exit counts
                        of a kvm@pvm or kvm@nested-tcg cell
  native-tbk            the guest kernel on bare metal, for the kernel-mode
                        micro rows (no host-native program exists) and the
                        macro rows: architectural events per op, counted
                        exactly by the bt engine (port I/O, CR3 loads,
                        invlpg, reflected traps, syscalls), × their
                        bare-metal cost; guest instructions between them are
                        not counted by any engine in a bench run and are left
                        out (so it is a lower bound)

Modelled numbers never enter a measured column; the paper prints them with
[M] and this module's table of sources.
"""
import decompose

GHZ_P4 = 3.8  # Adams & Agesen's Pentium 4 672

# event -> (ns, tag, what, source)
BARE_METAL = {
    "syscall": (82.5, "V", "getpid round trip", "gVisor PR #13331, Xeon 6982P-C, 2026"),
    "signal": (1060.0, "R", "SIGSEGV on a protection fault, handled (lmbench prot fault)",
               "Barham et al. 2003, Table 5, L-UP"),
    "page_fault": (1420.0, "R", "minor page fault (lmbench page fault)", "Barham et al. 2003, Table 5, L-UP"),
    "port_io": (3209.0 / GHZ_P4, "V", "in from port 0x80 (native, 3,209 cycles)", "Adams & Agesen 2006"),
    "trap": (889.0 / GHZ_P4, "V", "divide-by-zero to a handler and back (889 cycles)", "Adams & Agesen 2006"),
    "cr8wr": (140.0 / GHZ_P4, "D", "mov to cr8 (about 140 cycles)", "Adams & Agesen 2006"),
    "cpuid": (1050.0 / 3.0, "D", "cpuid leaf 0 (no exit on bare metal; ~100 cycles is typical, ~1k is its exit)",
              "Christopherson, kvm@vger, Dec 2024 (exit cost as an upper bound)"),
}
# VM exits: (ns user-space exit incl. KVM_RUN return, ns in-kernel exit, tag, source)
VM_EXITS = {
    "VT-x": (1210.0, 450.0, "D", "VirtualBox NemRawBench-1, KVM, i7-7920HQ, Linux 4.15 (OUT / CPUID)"),
    "AMD-V": (2190.0, 570.0, "D", "VirtualBox NemRawBench-1, KVM, Threadripper 1950X, Linux 4.18 (OUT / CPUID)"),
}
NPT_NOTE = ("nested paging changes the exit counts (no exits on guest page faults and PTE writes), not the "
            "cost of one exit; npt on/off is modelled by the exit counts of kvm@nested-tcg/npt and /shadow")

# decompose components -> BARE_METAL event pricing them on bare metal (None: keep the host's cost)
COMPONENT_REFERENCE = {
    "signals": "signal",
    "SIGSYS": "signal",
    "user-process SIGSYS": "signal",   # pv@2as: the same SUD signal, taken in its second process
    "user-process signals": "signal",
    "timer arms": "syscall",
    "host cpuid": "cpuid",
}
KEPT_AT_HOST_COST = ["mmap+touch", "mprotect", "munmap", "madvise", "futex handoffs", "2as futex hand-overs, one CPU",
                     "2as futex hand-overs, two CPUs", "2as futex hand-overs, unpinned", "2as spin hand-overs",
                     "user-process mmap+touch", "2as memfd passes", "2as vetted mmaps", "2as mapper relays"]


def bare_metal_ns(cell):
    """Modelled per-op time of a bt/pv cell on bare metal: remainder + host events at reference costs
    (components without a reference keep this host's cost). None without a decomposition."""
    if cell.terms is None:
        return None
    costs = decompose.unit_costs_for(cell)
    total = cell.remainder_ns
    for comp, ns in cell.terms.items():
        ref = COMPONENT_REFERENCE.get(comp)
        cal = decompose.CALIBRATION_OF.get(comp)
        if ref and cal and costs.get(cal):
            total += ns / costs[cal] * BARE_METAL[ref][0]
        else:
            total += ns
    return total


MIN_EVENTS_PER_OP = 0.5  # below this, instructions (uncounted) dominate and the model says nothing


def native_tbk_ns(per_op):
    """Modelled native-tbk per op from exact architectural event counts per op (bt engine counters):
    port I/O, reflected traps and page faults, syscalls, cr8 writes. A lower bound (instructions between
    the events are not counted in bench runs). None when the loop has fewer than MIN_EVENTS_PER_OP such
    events per op (its time is instructions, which no bench run counts)."""
    faults = sum(v for k, v in per_op.items() if k.startswith("fault.reflected.") and k != "fault.reflected.14")
    port = sum(per_op.get("priv." + k, 0.0) for k in ("in", "out", "ins", "outs")) or per_op.get("exit.port_io", 0.0)
    ns = port * BARE_METAL["port_io"][0]
    ns += faults * BARE_METAL["trap"][0]
    ns += per_op.get("fault.reflected.14", 0.0) * BARE_METAL["page_fault"][0]
    ns += per_op.get("priv.mov_cr8", 0.0) * BARE_METAL["cr8wr"][0]
    ns += per_op.get("priv.cpuid", 0.0) * BARE_METAL["cpuid"][0]
    ns += per_op.get("priv.sysret", 0.0) * BARE_METAL["syscall"][0]
    events = port + faults + sum(per_op.get(k, 0.0) for k in ("fault.reflected.14", "priv.mov_cr8", "priv.cpuid",
                                                              "priv.sysret"))
    return ns if events >= MIN_EVENTS_PER_OP else None


def hw_ns(kvm_per_op, native_ns, platform="VT-x"):
    """Modelled per-op time of the kvm engine on VT-x/AMD-V: native-tbk + exits at reference costs,
    from a kvm cell's exact exit counts (user-space exits = host.kvm_run returns that were exits)."""
    user_ns, kernel_ns, _, _ = VM_EXITS[platform]
    user = max(0.0, kvm_per_op.get("host.kvm_run", 0.0) - kvm_per_op.get("kvm.user.kicks", 0.0))
    kernel = max(0.0, kvm_per_op.get("kvm.exits", 0.0) - kvm_per_op.get("host.kvm_run", 0.0))
    return native_ns + user * user_ns + kernel * kernel_ns


def table_rows():
    """(platform, event, ns, tag, what, source) for the paper's table of reference costs."""
    rows = [("bare-metal x86-64 Linux", k, v[0], v[1], v[2], v[3]) for k, v in BARE_METAL.items()]
    for plat, (u, k, tag, src) in VM_EXITS.items():
        rows.append((plat, "exit to user space (KVM_RUN returns)", u, tag, "port I/O exit, round trip", src))
        rows.append((plat, "exit served in the kernel", k, tag, "cpuid exit, round trip", src))
    return rows
