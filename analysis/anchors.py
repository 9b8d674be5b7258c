#!/usr/bin/python3
# tags: analysis|anchors — desc: published reference numbers (Adams & Agesen 2006, Xen 2003) with their trust tags.
"""Published numbers the paper's reproduction table compares against.

Transcribed from the project's research notes (shared notes/paper-anchors.md);
each carries that note's tag:
  [V] verified against the source text, [D] derived by arithmetic from [V],
  [R] recalled, not re-read against the PDF (treat as approximate).
These are the only typed numbers that reach the paper, and they are the
published ones, never ours.
"""

# Adams & Agesen, ASPLOS 2006, Pentium 4 672 (3.8 GHz), cycles per operation.
# native / bt (VMware software VMM) / hw (first-generation VT-x VMM).
ADAMS_AGESEN = {
    # workload: (native, bt, hw, tag, note)
    "syscall": (None, None, None, "V", "BT adds about 2000 cycles; the HW VMM runs it at native speed"),
    "in": (3209.0, 214.0, 15826.0, "V", "BT value derived: \"fifteen times faster than native\" [D]"),
    "cr8wr": (140.0, 35.0, 140.0, "D", "native about 4x BT; HW similar to native"),
    "callret": (11.0, 51.0, 11.0, "V", "indirect control flow under BT"),
    "pgfault": (1093.0, 3927.0, 11242.0, "V", "true guest page faults, software MMU in both VMMs"),
    "divzero": (889.0, 3223.0, 1014.0, "V", "a fault that does not involve the MMU"),
    "ptemod": (1.0, 391.0, 12733.0, "V", "native is a single-cycle store"),
}

# forkwait, 40,000 fork+wait, seconds.
FORKWAIT = {"native": 6.0, "bt": 36.9, "hw": 106.4, "tag": "V",
            "note": "secondary source quoting the paper"}

# Barham et al., SOSP 2003, lmbench (microseconds), L-UP = native uniprocessor
# Linux, VMW = VMware Workstation 3.2 (binary translation). All [R].
XEN_LMBENCH = {
    # our workload: (lmbench column, native L-UP, Xen, VMW, tag)
    "syscall": ("null call", 0.45, 0.46, 0.73, "R"),
    "forkwait": ("fork proc", 110.0, 198.0, 874.0, "R"),
    "ctxswitch": ("ctx 2p/0K", 0.77, 1.97, 18.1, "R"),
    "pgfault": ("page fault", 1.42, 2.73, 12.4, "R"),
}


def aa_ratio(workload, num, den):
    """Published ratio num/den ('native', 'bt', 'hw') for an Adams & Agesen micro row, or None."""
    if workload == "forkwait":
        a, b = FORKWAIT.get(num), FORKWAIT.get(den)
        return a / b if a and b else None
    row = ADAMS_AGESEN.get(workload)
    if not row:
        return None
    idx = {"native": 0, "bt": 1, "hw": 2}
    a, b = row[idx[num]], row[idx[den]]
    return a / b if a and b else None


def aa_tag(workload):
    if workload == "forkwait":
        return FORKWAIT["tag"]
    row = ADAMS_AGESEN.get(workload)
    return row[3] if row else ""


def xen_ratio(workload, which):
    """Published lmbench ratio which/native ('xen' or 'vmw') for a workload, or None."""
    row = XEN_LMBENCH.get(workload)
    if not row:
        return None
    _, nat, xen, vmw, _ = row
    return (xen if which == "xen" else vmw) / nat
