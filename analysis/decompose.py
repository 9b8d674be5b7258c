#!/usr/bin/python3
# tags: analysis|decompose — desc: every cell's time split into Σ host count × calibrated unit cost (host share) and the remainder; validation on pairs that differ in host events.
"""Counts × calibrated unit costs.

Each results folder's ``environment.json`` carries ``calibration`` (``vtb
calibrate --json``: this host's cost of one signal, SIGSYS, mmap, mprotect,
KVM_RUN round trip, ...; docs/calibrate.md) and every cell carries its
``host.*`` counts per operation (docs/counters.md). Per cell:

    host share = Σ_k count_k/op × unit_cost_k        remainder = time/op − host share

The remainder is the technique's own work in the engine and the guest (and,
for kvm@pvm, PVM's emulation of guest CPL0, which no host counter sees).

Counts cover the whole run (boot included) while the time is phase 1's. When
the results hold the same cell at two sizes (vtb bench --scale 2 beside the
default run), the loop's own counts per op are the difference of the two run
totals over the difference of their operations: boot, teardown and the
program's setup cancel (loop_counts). Without a second size the whole-run
counts are used, and a short loop's host share can exceed its time: such
cells are listed with a negative remainder, never clipped.

Validation: for pairs of cells that differ in host events, the model predicts
the difference of their times; a pair is a hit when the prediction is within
±30 % of the measured difference. Pairs (each kind only where both cells exist):

  bt / bt-direct        the same workload and mode, one run
  pv@<mode> / pv@off    every pv protection mode against the unprotected ablation
                        (VTB_PV_PROTECT=off; older runs: backend pv-unprotected, or
                        VTB_PV_UNPROTECTED=1 in environment.json vtb_env) of the same workload
  size n / 2n           the same engine, mode and workload at two parameter
                        sizes (vtb bench --scale): they give the loop's own
                        counts (loop_counts), so they are reported apart, as
                        "time per op steady within ±30 %", and not judged

Only pairs whose predicted host difference is at least MIN_HOST_DIFF of the
slower cell's time and larger than either cell's own spread over its
repetitions (max - min) are judged; the rest are within the noise of a shared
machine and are counted apart.

Usage: /usr/bin/python3 analysis/decompose.py [RUN_DIR ...] [--validate]
(a run's companions/ folder, the runs that go with it, is read too)
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tidy  # noqa: E402

TOLERANCE = 0.30
TARGET_HIT_RATE = 0.80
MIN_HOST_DIFF = 0.10

# counter -> (component shown in figures, calibration entry pricing it). host.mprotect is priced with
# host.mprotect_pages as a + b x pages (mprotect_ns).
PRICES = [
    ("host.signal", "signals", "signal"),
    ("host.sigsys", "SIGSYS", "sigsys"),
    ("host.mmap", "mmap+touch", "mmap_touch"),
    ("host.mprotect", "mprotect", "mprotect"),
    ("host.munmap", "munmap", "munmap"),
    ("host.madvise", "madvise", "madvise"),
    ("host.kvm_run", "KVM_RUN user exits", "kvm_exit_user"),
    ("host.futex_wait", "futex handoffs", "futex_handoff"),
    ("host.futex_wake", "futex wakes", "futex_wake"),
    ("host.spin_handoff", "spin handoffs", "spin_handoff"),
    ("host.cpuid", "host cpuid", "cpuid"),
    ("host.timer_arm", "timer arms", "syscall"),
]
KVM_KERNEL_EXITS = "kvm in-kernel exits"   # kvm.exits − host.kvm_run, priced at kvm_exit_kernel
# pv@2as's guest-user process (engines/pv/pv_2as.cpp, docs/pv.md): its host calls are counted by pv's own
# counters, not host.* (the engine process counts only its futex waits as host.futex_wait). Component ->
# calibration entry; two_as_counts says how many of each per op.
TWO_AS = [
    ("user-process SIGSYS", "sigsys"),                 # a guest syscall in the user process (SUD)
    ("user-process signals", "signal"),                # its other traps: faults, the engine's preempt signal
    ("2as futex hand-overs, one CPU", "futex_handoff_pinned"),  # both sides on one CPU (two_as_futex_kinds)
    ("2as futex hand-overs, two CPUs", "futex_handoff_cross"),  # a wait after a missed spin
    ("2as futex hand-overs, unpinned", "futex_handoff"),        # futex only: where they ran is not counted
    ("2as spin hand-overs", "spin_handoff"),           # a wait that caught the post spinning
    ("user-process mmap+touch", "mmap_touch"),         # the user process applying a mapping of guest RAM
    ("2as vetted mmaps", "seccomp_notify"),            # until 2026-12-05: each user-process mmap checked by the engine
    ("2as mapper relays", "mapper_relay"),             # per mapping log: the resume relayed through the mapper thread
]
COMPONENTS = [c for _, c, _ in PRICES] + [KVM_KERNEL_EXITS] + [c for c, _ in TWO_AS]
CALIBRATION_OF = dict([(c, cal) for _, c, cal in PRICES] + [(KVM_KERNEL_EXITS, "kvm_exit_kernel")] + TWO_AS)
TWO_AS_COUNTERS = {"pv.2as.handoffs", "pv.syscall_bounce", "pv.2as.engine_spins", "pv.2as.user_spins",
                   "pv.2as.engine_futex_waits", "pv.2as.user_futex_waits", "pv.2as.user_mmaps",
                   "pv.2as.colocations", "pv.2as.quiet_epochs", "pv.2as.contended_epochs",
                   "pv.2as.runqueue_samples", "pv.2as.engine_spin_misses", "pv.2as.user_spin_misses",
                   "pv.2as.map_checks", "pv.2as.mapper_logs"}


def unit_costs(env):
    """{calibration name: median ns} of one environment record ({} when it has no calibration)."""
    cal = (env or {}).get("calibration")
    if not isinstance(cal, dict):  # absent, or "mixed (see shards)" in a merged folder's shared record
        return {}
    out = {}
    for name, c in (cal.get("costs") or {}).items():
        if isinstance(c, dict) and c.get("available") and c.get("median_ns", 0) > 0:
            out[name] = float(c["median_ns"])
    return out


def unit_costs_for(cell):
    """The calibration a cell was priced with (its run's)."""
    return cell.costs


# vtb calibrate's pv-pattern probes (harness/calibrate/memory_probes.cpp): mprotect_pv3_<P> is one of
# pv@mprotect's three calls per protection cycle over a P-page guest map (NONE and RWX over the map and
# the hypercall page, READ over one PV_TABLE_RUN-page run of page-table frames). Calibrations made
# before pv's protection rework have mprotect_pv_<P> instead: one of five calls covering 2P + 4 pages.
PV_TABLE_RUN = 451  # pv micro_syscall, 64 MiB: 33221 pages per 3.04 calls = 2 x 16385 + 451
PV_PROBE_PAGES = {"mprotect_pv3_%d" % p: (2 * (p + 1) + PV_TABLE_RUN) / 3.0 for p in (4096, 16384, 65536)}
PV_PROBE_PAGES_OLD = {"mprotect_pv_%d" % p: (2 * p + 4) / 5.0 for p in (4096, 8192, 16384)}


def mprotect_fit(costs):
    """(a ns per call, b ns per page) of cost = a + b x pages: the least-squares line through the
    pv-pattern probes (docs/calibrate.md); None when the calibration has fewer than two of them."""
    pts = [(pages, costs[name]) for name, pages in PV_PROBE_PAGES.items() if name in costs]
    if len(pts) < 2:
        pts = [(pages, costs[name]) for name, pages in PV_PROBE_PAGES_OLD.items() if name in costs]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    b = sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)
    b = max(0.0, b)  # a range never gets cheaper with size; noise may say so
    return my - b * mx, b


def mprotect_page_ns(costs):
    """Calibrations before the pv-pattern probes: ns per page beyond a call's first, the slope between
    the one-page probe and the 32 MiB sparse probe (1 page in 128 present); 0 without them."""
    if "mprotect_sparse" not in costs or "mprotect" not in costs:
        return 0.0
    return max(0.0, (costs["mprotect_sparse"] - costs["mprotect"]) / (8192 - 1))


def _pv_probe_points(costs):
    """(pages per call, ns per call) of the pv-pattern probes a calibration has (the newest set)."""
    for probes in (PV_PROBE_PAGES, PV_PROBE_PAGES_OLD):
        pts = sorted((pages, costs[name]) for name, pages in probes.items() if name in costs)
        if len(pts) >= 2:
            return pts
    return []


def mprotect_ns(calls, pages, costs):
    """ns of `calls` mprotect calls covering `pages` pages in all. The cost of a call depends on its
    shape, so it is priced by its pages per call: from the smallest pv-pattern probe's size up (pv's
    calls over megabytes of mostly empty window), a x calls + b x pages from the pv-pattern fit; below
    it (bt's one-page calls on mirror pages), linear between the one-page probe (`mprotect`) and that
    smallest pv-pattern point. Older calibrations without the pv-pattern probes: the one-page cost per
    call plus the sparse slope per page beyond each call's first. None when the calibration has
    neither."""
    if calls <= 0:
        return 0.0
    per_call = pages / calls
    fit, pts = mprotect_fit(costs), _pv_probe_points(costs)
    if fit and (per_call >= pts[0][0] or "mprotect" not in costs):
        return calls * fit[0] + pages * fit[1]
    if "mprotect" not in costs:
        return None
    if fit:
        (x0, y0), (x1, y1) = (1.0, costs["mprotect"]), (pts[0][0], fit[0] + fit[1] * pts[0][0])
        return calls * (y0 + (y1 - y0) * (max(per_call, 1.0) - x0) / (x1 - x0))
    return calls * costs["mprotect"] + max(0.0, pages - calls) * mprotect_page_ns(costs)


def two_as_futex_kinds(per_op):
    """pv@2as's futex hand-overs per op by where its two sides ran: (one CPU, across two CPUs, unknown).
    A wait after a spin that missed is across (the sides were spinning one per CPU). The rest are on one
    CPU when the engine pinned or co-located the sides or ran its contention gate at all (run-queue
    samples, epochs or co-location moves counted): quiet epochs co-locate them, and in contended ones the
    scheduler keeps them together (measured: pv@2as micro_syscall beside a busy loop, every epoch
    contended, costs what it costs co-located, docs/calibrate.md). Otherwise (futex only: no gate, no
    spin) the counters do not say where they ran: unknown, priced at the unpinned probe."""
    g = per_op.get
    futex = g("pv.2as.engine_futex_waits", 0.0) + g("pv.2as.user_futex_waits", 0.0)
    cross = min(futex, g("pv.2as.engine_spin_misses", 0.0) + g("pv.2as.user_spin_misses", 0.0))
    together = g("pv.2as.pinned", 0.0) > 0 or any(g(k, 0.0) > 0 for k in (
        "pv.2as.colocations", "pv.2as.runqueue_samples", "pv.2as.quiet_epochs", "pv.2as.contended_epochs"))
    return (futex - cross, cross, 0.0) if together else (0.0, cross, futex - cross)


def two_as_counts(per_op):
    """{TWO_AS component: events per op} of a pv@2as cell ({} for any other). Each handoff ends in one
    trap posted by the user process (a signal there: SIGSYS for a guest syscall, pv.syscall_bounce,
    else a fault or the preempt signal); each side's wait for the other is one hand-over, caught
    spinning or after a futex wait (spins + futex waits = handoffs on each side; a FUTEX_WAKE that woke
    the sleeper is inside the hand-over's price). A user-process mmap of guest RAM is one mmap and its
    first touch there. Since 2026-12-05 the process's mapper thread applies each resume's mappings
    first: each log (pv.2as.mapper_logs) relays that resume engine -> mapper -> guest thread, priced at
    calibrate's mapper_relay (what the relay adds to the plain hand-over, measured on one CPU as such
    resumes co-locate: the mapper's wake-up, the engine's yield, the eventfd token written and read;
    the mmaps priced apart). Before, the engine checked each mmap through a seccomp user notification
    (pv.2as.map_checks: the round trip to the engine and back, the mmap itself priced apart)."""
    g = per_op.get
    handoffs = g("pv.2as.handoffs", 0.0)
    if not handoffs:
        return {}
    syscalls = min(g("pv.syscall_bounce", 0.0), handoffs)
    one_cpu, cross, unknown = two_as_futex_kinds(per_op)
    return {"user-process SIGSYS": syscalls, "user-process signals": handoffs - syscalls,
            "2as futex hand-overs, one CPU": one_cpu, "2as futex hand-overs, two CPUs": cross,
            "2as futex hand-overs, unpinned": unknown,
            "2as spin hand-overs": g("pv.2as.engine_spins", 0.0) + g("pv.2as.user_spins", 0.0),
            "user-process mmap+touch": g("pv.2as.user_mmaps", 0.0), "2as vetted mmaps": g("pv.2as.map_checks", 0.0),
            "2as mapper relays": g("pv.2as.mapper_logs", 0.0)}


def missing_figures(per_op, costs):
    """The calibration entries a cell's non-zero counts need and `costs` lacks (sorted)."""
    need = {cal for comp, cal in TWO_AS if two_as_counts(per_op).get(comp)}
    need |= {cal for counter, _, cal in PRICES if per_op.get(counter) and counter != "host.mprotect"}
    if per_op.get("host.kvm_run") and per_op.get("kvm.exits", 0.0) > per_op["host.kvm_run"]:
        need.add("kvm_exit_kernel")
    out = {n for n in need if n not in costs}
    if per_op.get("host.mprotect") and mprotect_ns(per_op["host.mprotect"], per_op.get("host.mprotect_pages", 0.0),
                                                  costs) is None:
        out.add("mprotect")
    return sorted(out)


def host_terms(per_op, costs):
    """{component: ns per op} for one cell's counts per op; None when the calibration lacks a
    figure a non-zero count needs (the cell cannot be decomposed). pv@2as's hand-overs and user-process
    calls are priced from its own counters (two_as_counts); the engine's futex waits among them are
    also host.futex_wait, which then prices only what is left beyond them (never twice)."""
    out = {}
    two_as = two_as_counts(per_op)
    for comp, cal in TWO_AS:
        n = two_as.get(comp, 0.0)
        if not n:
            continue
        if costs.get(cal) is None:
            return None
        out[comp] = n * costs[cal]
    if two_as:
        per_op = dict(per_op)
        per_op["host.futex_wait"] = max(0.0, per_op.get("host.futex_wait", 0.0) -
                                        per_op.get("pv.2as.engine_futex_waits", 0.0))
    for counter, comp, cal in PRICES:
        n = per_op.get(counter, 0.0)
        if not n:
            continue
        price = (mprotect_ns(n, per_op.get("host.mprotect_pages", 0.0), costs) if counter == "host.mprotect"
                 else None if costs.get(cal) is None else n * costs[cal])
        if price is None:
            return None
        out[comp] = price
    kernel_exits = per_op.get("kvm.exits", 0.0) - per_op.get("host.kvm_run", 0.0)
    if per_op.get("host.kvm_run") and kernel_exits > 0:
        if "kvm_exit_kernel" not in costs:
            return None
        out[KVM_KERNEL_EXITS] = kernel_exits * costs["kvm_exit_kernel"]
    return out


def run_env(env, shard):
    """The environment a cell ran in: its shard's own record in a folder merged from shards (each shard
    calibrated its host), else the run's."""
    for s in env.get("shards", []) or []:
        if isinstance(s, dict) and shard and s.get("shard") == shard:
            return s
    return env


PV_UNPROTECTED = ("pv@off", "pv-unprotected")  # the pv ablation's series: today's label, older runs'


def base_engine(engine):
    """The engine without the bench's options (vtb bench --engines pv:protect=off runs engine pv)."""
    return engine.split(":")[0]


def is_pv_ablation(series):
    """Whether a series is pv's unprotected ablation: pv@off, an older run's pv-unprotected, or such a
    label with the bench's engine options after it (vtb bench --engines pv:protect=off: pv@off:protect=off)."""
    return series.split(":")[0] in PV_UNPROTECTED


def series_name(engine, backend, env):
    """The series a cell belongs to: its backend label, with engine switches of the run
    (VTB_PV_UNPROTECTED=1) named apart."""
    name = backend or engine
    if name == "pv" and (env.get("vtb_env") or {}).get("VTB_PV_UNPROTECTED") == "1":
        name = "pv-unprotected"  # the pv engine labels such runs itself; older runs say it in vtb_env only
    return name


class Cell:
    __slots__ = ("run", "host_kind", "engine", "series", "mode", "workload", "group", "params", "ops",
                 "time_ns", "spread_ns", "phase_ns", "reps", "per_op", "raw_per_op", "boot_subtracted", "terms", "costs")

    @property
    def host_ns(self):
        return sum(self.terms.values()) if self.terms is not None else float("nan")

    @property
    def remainder_ns(self):
        return self.time_ns - self.host_ns

    @property
    def host_share(self):
        return self.host_ns / self.time_ns if self.time_ns else float("nan")


def cells(table):
    """One Cell per (run, engine, backend, mode, workload, params) of an engine (peers are not
    decomposed); medians over repetitions (pandas groupby). Cells of runs without a calibration get
    terms None. Kept on the table (a table is not changed once loaded; the paper asks three times)."""
    key = (len(table.rows), len(table.runs))
    got = getattr(table, "_decomposed", None)
    if got is None or got[0] != key:
        got = (key, _cells(table))
        table._decomposed = got
    return list(got[1])


def _cells(table):
    df = table.frame()
    df = df[~df["engine"].isin(["native", "qemu-tcg"])]
    if df.empty:
        return []
    keys = ["run", "engine", "backend", "mode", "workload", "params"]
    med = df.groupby(keys + ["metric"])["value"].median()
    times = df[df["metric"] == "ns_per_op"].groupby(keys)["value"]
    reps, spread = times.count(), times.max() - times.min()
    first = df.groupby(keys)[["host_kind", "group", "ops", "shard"]].first()
    out = []
    for key, row in first.iterrows():
        m = med.loc[key]
        if "ns_per_op" not in m.index:
            continue
        run, engine, backend, mode, workload, params = key
        env = run_env(table.runs.get(run, {}), row["shard"])
        c = Cell()
        c.run, c.host_kind, c.engine = run, row["host_kind"], engine
        c.series = series_name(engine, backend, env)
        c.mode, c.workload, c.group, c.params, c.ops = mode, workload, row["group"], params, int(row["ops"])
        c.time_ns = float(m["ns_per_op"])
        c.phase_ns = float(m["phase_ns"]) if "phase_ns" in m.index else float("nan")
        c.reps = int(reps.get(key, 0))
        c.spread_ns = float(spread.get(key, 0.0))
        c.raw_per_op = {k[:-3]: float(v) for k, v in m.items() if k.endswith("/op")}
        c.per_op, c.boot_subtracted = dict(c.raw_per_op), False
        c.costs = unit_costs(env)
        out.append(c)
    # Loop counts from two sizes of the same series, workload and mode: (T(2n) - T(n)) / n, exact
    # for a loop whose events grow with it; boot and teardown cancel.
    shapes = {}
    for c in out:
        shapes.setdefault((c.host_kind, c.series, c.mode, c.workload), []).append(c)
    for cs in shapes.values():
        sizes = sorted({c.ops for c in cs})
        for c in cs:
            other = [d for d in cs if d.ops != c.ops]
            if other and len(sizes) >= 2:
                d = min(other, key=lambda d: abs(d.ops - c.ops))
                c.per_op, c.boot_subtracted = loop_counts(c, d), True
        for c in cs:
            c.terms = host_terms(c.per_op, c.costs) if c.costs else None
    return out


def phases_of(params):
    """Measured phases of a cell: its loop's `reps` parameter (the bench divides counts by all of them)."""
    for kv in (params or "").split(","):
        k, _, v = kv.partition("=")
        if k.strip() == "reps" and v.strip().isdigit():
            return max(1, int(v))
    return 1


def _total(cell, k):
    return cell.raw_per_op.get(k, 0.0) * max(1, cell.ops) * phases_of(cell.params)


def loop_counts(cell, other):
    """Per-op counts of the measured loop alone: the difference of the run totals of two sizes of the
    same cell, divided by the difference of their loop operations (boot, teardown and the program's
    setup cancel). Only the priced counters (host.*, kvm.exits, pv@2as's TWO_AS_COUNTERS) are corrected; a negative difference
    (noise in asynchronous events such as timer signals) is 0."""
    dops = (max(1, cell.ops) * phases_of(cell.params) - max(1, other.ops) * phases_of(other.params))
    out = dict(cell.raw_per_op)
    if dops == 0:
        return out
    for k in set(cell.raw_per_op) | set(other.raw_per_op):
        if k.startswith("host.") or k == "kvm.exits" or k in TWO_AS_COUNTERS:
            out[k] = max(0.0, (_total(cell, k) - _total(other, k)) / dops)
    return out


def host_ns_with(cell, costs):
    """A cell's host share per op priced with `costs` (each cell of a pair with its own run's
    calibration: the host's costs under the load that run met)."""
    t = host_terms(cell.per_op, costs)
    return sum(t.values()) if t is not None else float("nan")


def _pair(kind, a, b, predicted, measured, scale):
    noise = max(a.spread_ns, b.spread_ns)  # the cells' own min-max over repetitions
    return {"kind": kind, "a": a, "b": b, "predicted_ns": predicted, "measured_ns": measured, "scale_ns": scale,
            "judged": abs(predicted) >= MIN_HOST_DIFF * scale and abs(predicted) > noise,
            "hit": measured != 0 and abs(predicted - measured) <= TOLERANCE * abs(measured)}


def pairs(all_cells):
    """Every validation pair of the cells (see the module text), judged or not."""
    ok = [c for c in all_cells if c.terms is not None]
    out = []
    idx = {}
    for c in ok:
        idx.setdefault((c.host_kind, c.series, c.mode, c.workload, c.params), []).append(c)

    def one(kind, series, mode, workload, params):
        got = idx.get((kind, series, mode, workload, params))
        return got[0] if got else None
    ablations = {}
    for c in ok:
        if base_engine(c.engine) == "pv" and is_pv_ablation(c.series):
            ablations.setdefault((c.host_kind, c.mode, c.workload, c.params), []).append(c)
    for c in ok:
        if c.series == "bt":
            d = one(c.host_kind, "bt-direct", c.mode, c.workload, c.params)
            if d:
                out.append(_pair("bt / bt-direct", c, d, host_ns_with(c, c.costs) - host_ns_with(d, d.costs),
                                 c.time_ns - d.time_ns, max(c.time_ns, d.time_ns)))
        if base_engine(c.engine) == "pv" and not is_pv_ablation(c.series):
            # every protection mode (pv@mprotect, pv@2as, ..., or an older run's plain "pv") against the
            # unprotected ablation of the same workload
            for u in ablations.get((c.host_kind, c.mode, c.workload, c.params), []):
                out.append(_pair("%s / %s" % (c.series, u.series), c, u,
                                 host_ns_with(c, c.costs) - host_ns_with(u, u.costs),
                                 c.time_ns - u.time_ns, max(c.time_ns, u.time_ns)))
    # Two sizes: the loop counts come from this very pair (loop_counts), so the model cannot predict
    # their difference independently; the pair says whether the time per op stays the same (a check
    # of the loop counts' premise), reported apart and never judged.
    by_shape = {}
    for c in ok:
        by_shape.setdefault((c.host_kind, c.series, c.mode, c.workload), []).append(c)
    for shape, cs in by_shape.items():
        sizes = {}
        for c in cs:
            sizes.setdefault(c.ops, c)
        if len(sizes) < 2:
            continue
        small, big = sizes[min(sizes)], sizes[max(sizes)]
        p = _pair("size %d / %d" % (big.ops, small.ops), big, small, small.time_ns, big.time_ns, big.time_ns)
        p["judged"] = False
        p["size"] = True
        out.append(p)
    return out


def validation_summary(ps):
    sizes = [p for p in ps if p.get("size")]
    ps = [p for p in ps if not p.get("size")]
    judged = [p for p in ps if p["judged"]]
    hits = sum(1 for p in judged if p["hit"])
    return {"judged": len(judged), "hits": hits, "skipped": len(ps) - len(judged),
            "sizes": len(sizes), "sizes_steady": sum(1 for p in sizes if p["hit"]),
            "rate": hits / len(judged) if judged else float("nan"),
            "line": "pairs within ±30 %%: %d of %d%s" % (hits, len(judged),
                                                        " (%d more with a host difference under %d %% of the time "
                                                        "or within the cells' spread, not judged)" %
                                                        (len(ps) - len(judged), MIN_HOST_DIFF * 100)
                                                        if len(ps) > len(judged) else "")}


def fmt_ns(ns):
    if ns != ns:
        return "-"
    for div, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "us")):
        if abs(ns) >= div:
            return "%.3g %s" % (ns / div, unit)
    return "%.3g ns" % ns


def print_report(cs, ps, out=None):
    out = out or sys.stdout
    print("%-8s %-22s %-15s %-5s %10s %10s %10s %6s  %s" % ("group", "workload", "series", "mode", "time/op",
                                                            "host/op", "rest/op", "host%", "largest host terms"),
          file=out)
    for c in sorted(cs, key=lambda c: (c.group, c.workload, c.series, c.mode)):
        if c.terms is None:
            why = ("the calibration lacks %s" % ", ".join(missing_figures(c.per_op, c.costs)) if c.costs
                   else "no calibration in this run")
            print("%-8s %-22s %-15s %-5s %10s  (%s)" % (c.group, c.workload, c.series, c.mode, fmt_ns(c.time_ns), why),
                  file=out)
            continue
        top = sorted(c.terms.items(), key=lambda kv: -kv[1])[:3]
        print("%-8s %-22s %-15s %-5s %10s %10s %10s %5.0f%%  %s" % (
            c.group, c.workload, c.series, c.mode, fmt_ns(c.time_ns), fmt_ns(c.host_ns), fmt_ns(c.remainder_ns),
            100 * c.host_share, ", ".join("%s %s" % (k, fmt_ns(v)) for k, v in top)), file=out)
    print("", file=out)
    for p in sorted(ps, key=lambda p: (p.get("size", False), not p["judged"], p["kind"], p["a"].workload)):
        print("%-4s %-22s %-28s %-28s predicted %10s measured %10s" % (
            ("hit" if p["hit"] else "miss") if p["judged"] else "-", p["kind"], p["a"].workload,
            "%s/%s vs %s" % (p["a"].series, p["a"].mode, p["b"].series), fmt_ns(p["predicted_ns"]),
            fmt_ns(p["measured_ns"])), file=out)
    s = validation_summary(ps)
    print(s["line"], file=out)
    if s["sizes"]:
        print("size pairs (loop counts from them; not judged): time per op steady within ±30 %%: %d of %d" %
              (s["sizes_steady"], s["sizes"]), file=out)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Split each cell into host share (counts x unit costs) and remainder.")
    ap.add_argument("paths", nargs="*", help="results folders (default: the repository's results/)")
    ap.add_argument("--validate", action="store_true", help="exit 1 when fewer than 80 %% of the pairs hit")
    args = ap.parse_args(argv)
    paths = args.paths or [tidy.default_results_dir()]
    runs = tidy.find_runs(paths + [os.path.join(p, "companions") for p in paths if tidy.is_run_dir(p)])
    if not runs:
        print("decompose: no results folder (with bench.json)", file=sys.stderr)
        return 2
    try:
        table = tidy.load(runs)
    except ValueError as e:
        print("decompose: %s" % e, file=sys.stderr)
        return 2
    cs = cells(table)
    ps = pairs(cs)
    print_report(cs, ps)
    s = validation_summary(ps)
    for p in paths:  # the interleaved pairs (analysis/validate_pairs.py) a run keeps beside its cells
        v = os.path.join(p, "validation.json")
        if os.path.exists(v):
            with open(v) as f:
                print("%s: %s" % (os.path.basename(os.path.normpath(p)), json.load(f).get("line", "")))
    if args.validate and (not s["judged"] or s["rate"] < TARGET_HIT_RATE):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
