#!/usr/bin/python3
# tags: analysis|validate — desc: interleaved validation: the two cells of each pair run alternately (A, B, B, A, ...) at two sizes in one invocation, with the calibration taken in it too, so load drift cancels; counts × unit costs predict each pair's difference.
"""Validation pairs measured under the same conditions.

A results run measures its cells minutes apart, one after the other, and a
companion run (pv unprotected, a second size) is another invocation: on a
shared machine the load changes between them. Here the two cells of every
pair run in one invocation, interleaved round by round (A B, then B A, ...),
each at two sizes n and 2n, and ``vtb calibrate`` runs at the start, the
middle and the end (each unit cost: the median of the three).

Per cell: time per op = median over rounds of phase-1 time / ops at size 2n;
loop counts per op = (median run total at 2n − median at n) / (ops difference)
(boot, teardown and setup cancel; analysis/decompose.py loop_counts). The
pair's predicted difference is Σ Δ(loop count) × unit cost
(decompose.host_terms); a hit is within ±30 % of the measured difference.
Size pairs (a cell at n and 2n) say whether the time per op is steady.

Usage: /usr/bin/python3 analysis/validate_pairs.py [--vtb PATH] [--rounds N] [--out FILE] [--pairs a,b]
Writes FILE (JSON, atomically; default: validation.json in the newest results run) and prints the
pairs and "pairs within ±30 %: N of M". Exit 0, 2 bad input, 1 a run failed.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decompose  # noqa: E402
import tidy  # noqa: E402

# (name, kind, (engine A, A unprotected), (engine B, B unprotected), workload, n): each cell well under
# 5 s at 2n on the development machine (pv's protected syscall costs ~0.1 ms).
PAIRS = [
    ("pv-syscall", "pv / pv-unprotected", ("pv", False), ("pv", True), "micro_syscall", 4000),
    ("pv-pgfault", "pv / pv-unprotected", ("pv", False), ("pv", True), "micro_pgfault", 512),
    ("pv-ctxswitch", "pv / pv-unprotected", ("pv", False), ("pv", True), "ctxswitch", 2000),
    ("pv-forkwait", "pv / pv-unprotected", ("pv", False), ("pv", True), "forkwait", 200),
    ("bt-syscall", "bt / bt-direct", ("bt", False), ("bt-direct", False), "micro_syscall", 20000),
    ("bt-pgfault", "bt / bt-direct", ("bt", False), ("bt-direct", False), "micro_pgfault", 2048),
    ("bt-ctxswitch", "bt / bt-direct", ("bt", False), ("bt-direct", False), "ctxswitch", 4000),
]


def series(engine, unprotected):
    return "pv-unprotected" if unprotected else engine


def run_cell(vtb, engine, unprotected, workload, n):
    """One `vtb run --json`: (phase ns, ops, counters). Raises RuntimeError with the run's one line."""
    env = dict(os.environ, VTB_PV_UNPROTECTED="1" if unprotected else "0")
    p = subprocess.run([vtb, "run", "--engine", engine, "--workload", workload, "--param", "n=%d" % n, "--json",
                        "--timeout", "60"], env=env, capture_output=True, text=True)
    try:
        r = json.loads(p.stdout)
    except ValueError:
        raise RuntimeError("%s %s: no JSON report (exit %d): %s" % (engine, workload, p.returncode,
                                                                    p.stderr.strip()[-200:]))
    if r.get("outcome") != "exited" or r.get("exit_code") != 0 or r.get("check_failures"):
        raise RuntimeError("%s %s: %s %s" % (engine, workload, r.get("outcome"), r.get("message", "")))
    phase = sum(ph["end_ns"] - ph["begin_ns"] for ph in r.get("phases", []) if ph.get("phase") == 1)
    ops = next((int(x["value"]) for x in r.get("records", []) if x.get("key") == "ops"), n)
    return phase, ops, r.get("counters", {})


def calibrate(vtb):
    p = subprocess.run([vtb, "calibrate", "--json"], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("vtb calibrate: exit %d: %s" % (p.returncode, p.stderr.strip()[-200:]))
    return json.loads(p.stdout)


def median_costs(cals):
    """Each unit cost: the median over the invocation's calibrations (decompose.unit_costs of each)."""
    each = [decompose.unit_costs({"calibration": c}) for c in cals]
    names = set().union(*each)
    return {k: statistics.median([e[k] for e in each if k in e]) for k in names}


class Cell:
    """One series × workload at sizes n and 2n: every round's (phase ns, ops, counters)."""

    def __init__(self, name, series_name, workload):
        self.name, self.series, self.workload = name, series_name, workload
        self.runs = {}  # size -> [(phase, ops, counters)]

    def ns_per_op(self, size):
        return statistics.median([ph / ops for ph, ops, _ in self.runs[size]])

    def spread(self, size):
        v = [ph / ops for ph, ops, _ in self.runs[size]]
        return max(v) - min(v)

    def per_op_at(self, size, key):
        """Median over rounds of a counter's run total / ops at one size (boot included)."""
        return statistics.median([c.get(key, 0) / ops for _, ops, c in self.runs[size]])

    def loop_per_op(self, small, big):
        """Per-op counts of the loop alone (every counter; decompose prices host.* and kvm.exits): median
        totals at 2n minus at n over the ops difference."""
        def totals(size):
            keys = set().union(*[c for _, _, c in self.runs[size]])
            return {k: statistics.median([c.get(k, 0) for _, _, c in self.runs[size]]) for k in keys}, \
                statistics.median([ops for _, ops, _ in self.runs[size]])
        (tb, ob), (ts, os_) = totals(big), totals(small)
        d = ob - os_
        return {k: max(0.0, (tb.get(k, 0) - ts.get(k, 0)) / d) for k in set(tb) | set(ts)} if d > 0 else {}


def summarise(pairs_sel, cells_by, costs, n_of):
    out = {"pairs": [], "sizes": []}
    for name, kind, a, b, workload, n in pairs_sel:
        ca, cb = cells_by[(name, 0)], cells_by[(name, 1)]
        la, lb = ca.loop_per_op(n, 2 * n), cb.loop_per_op(n, 2 * n)
        ta, tb = decompose.host_terms(la, costs), decompose.host_terms(lb, costs)
        if ta is None or tb is None:
            raise RuntimeError("%s: the calibration lacks a figure its counts need" % name)
        pred = sum(ta.values()) - sum(tb.values())
        meas = ca.ns_per_op(2 * n) - cb.ns_per_op(2 * n)
        hit = meas != 0 and abs(pred - meas) <= decompose.TOLERANCE * abs(meas)
        # decompose's noise rule: a priced difference under 10 % of the slower cell or within either
        # cell's spread over the rounds says nothing about the model.
        judged = (abs(pred) >= decompose.MIN_HOST_DIFF * max(ca.ns_per_op(2 * n), cb.ns_per_op(2 * n)) and
                  abs(pred) > max(ca.spread(2 * n), cb.spread(2 * n)))
        # Evidence for pv's pairs: the time pv spent inside its mprotect calls (time.pv.protect_ns,
        # measured in the engine; per op of the larger size: a time, so no difference of two sizes)
        # against their priced cost.
        k = "time.pv.protect_ns"
        inproc = ca.per_op_at(2 * n, k) - cb.per_op_at(2 * n, k)
        priced = ta.get("mprotect", 0.0) - tb.get("mprotect", 0.0)
        out["pairs"].append({
            "name": name, "kind": kind, "workload": workload, "a": ca.series, "b": cb.series, "n": n,
            "predicted_ns": pred, "measured_ns": meas, "hit": hit, "judged": judged,
            "mprotect_priced_ns": priced, "mprotect_in_process_ns": inproc,
            "a_ns_per_op": ca.ns_per_op(2 * n), "b_ns_per_op": cb.ns_per_op(2 * n),
            "a_spread_ns": ca.spread(2 * n), "b_spread_ns": cb.spread(2 * n),
            "a_host_terms": ta, "b_host_terms": tb, "a_loop_per_op": la, "b_loop_per_op": lb,
            "rounds": len(ca.runs[2 * n])})
        for c in (ca, cb):
            small, big = c.ns_per_op(n), c.ns_per_op(2 * n)
            out["sizes"].append({"series": c.series, "workload": workload, "n": n, "ns_per_op_n": small,
                                 "ns_per_op_2n": big, "steady": abs(big - small) <= decompose.TOLERANCE * abs(big)})
    judged = [p for p in out["pairs"] if p["judged"]]
    hits = sum(p["hit"] for p in judged)
    out["hits"], out["judged"], out["skipped"] = hits, len(judged), len(out["pairs"]) - len(judged)
    out["sizes_steady"] = sum(s["steady"] for s in out["sizes"])
    out["line"] = "pairs within ±30 %%: %d of %d (interleaved, %d rounds, calibration in the same invocation%s)" % (
        hits, len(judged), n_of, "; %d more within the noise, not judged" % out["skipped"] if out["skipped"] else "")
    return out


def print_summary(s, out=sys.stdout):
    for p in s["pairs"]:
        print("%-4s %-20s %-15s %-15s vs %-15s predicted %10s measured %10s (spread %s / %s)" % (
            ("hit" if p["hit"] else "miss") if p["judged"] else "-", p["kind"], p["workload"], p["a"], p["b"],
            decompose.fmt_ns(p["predicted_ns"]), decompose.fmt_ns(p["measured_ns"]),
            decompose.fmt_ns(p["a_spread_ns"]), decompose.fmt_ns(p["b_spread_ns"])), file=out)
        if p["mprotect_in_process_ns"]:
            print("     mprotect: priced %s, measured inside pv's calls %s" % (
                decompose.fmt_ns(p["mprotect_priced_ns"]), decompose.fmt_ns(p["mprotect_in_process_ns"])), file=out)
    for z in s["sizes"]:
        print("size %-15s %-15s n %s, 2n %s%s" % (z["series"], z["workload"], decompose.fmt_ns(z["ns_per_op_n"]),
                                                 decompose.fmt_ns(z["ns_per_op_2n"]), "" if z["steady"] else "  (not steady)"),
              file=out)
    print(s["line"], file=out)
    print("size pairs: time per op steady within ±30 %%: %d of %d" % (s["sizes_steady"], len(s["sizes"])), file=out)


def write_atomic(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def main(argv=None):
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description="Run validation pairs interleaved and judge counts x unit costs.")
    ap.add_argument("--vtb", default=os.path.join(here, "build", "harness", "vtb"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", help="JSON file (default: validation.json in the newest results run)")
    ap.add_argument("--pairs", help="comma-separated pair names (default: all: %s)" % ",".join(p[0] for p in PAIRS))
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every n (tests: small)")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.rounds > 50 or args.scale <= 0:
        print("validate_pairs: --rounds wants 1..50 and --scale > 0", file=sys.stderr)
        return 2
    if not os.access(args.vtb, os.X_OK):
        print("validate_pairs: no vtb binary at %s (--vtb PATH)" % args.vtb, file=sys.stderr)
        return 2
    want = args.pairs.split(",") if args.pairs else [p[0] for p in PAIRS]
    unknown = [w for w in want if w not in {p[0] for p in PAIRS}]
    if unknown:
        print("validate_pairs: unknown pair '%s' (%s)" % (unknown[0], ",".join(p[0] for p in PAIRS)), file=sys.stderr)
        return 2
    sel = [(nm, k, a, b, w, max(2, int(n * args.scale))) for nm, k, a, b, w, n in PAIRS if nm in want]
    out = args.out
    if not out:
        runs = tidy.find_runs([tidy.default_results_dir()])
        if not runs:
            print("validate_pairs: no results run to write into (--out FILE)", file=sys.stderr)
            return 2
        out = os.path.join(sorted(runs)[-1], "validation.json")
    cells_by = {}
    for nm, _, a, b, w, _ in sel:
        cells_by[(nm, 0)] = Cell(nm, series(*a), w)
        cells_by[(nm, 1)] = Cell(nm, series(*b), w)
    try:
        cals = [calibrate(args.vtb)]
        load = [os.getloadavg()[0]]
        for r in range(args.rounds):
            for nm, _, a, b, w, n in sel:
                order = [(0, a), (1, b)] if r % 2 == 0 else [(1, b), (0, a)]
                for size in (n, 2 * n):
                    for side, (engine, unprot) in order:
                        cells_by[(nm, side)].runs.setdefault(size, []).append(run_cell(args.vtb, engine, unprot, w, size))
            load.append(os.getloadavg()[0])
            if r == args.rounds // 2:
                cals.append(calibrate(args.vtb))
        cals.append(calibrate(args.vtb))
    except RuntimeError as e:
        print("validate_pairs: %s" % e, file=sys.stderr)
        return 1
    costs = median_costs(cals)
    try:
        s = summarise(sel, cells_by, costs, args.rounds)
    except RuntimeError as e:
        print("validate_pairs: %s" % e, file=sys.stderr)
        return 1
    s.update({"schema": "vtb-validation/1", "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
              "rounds": args.rounds, "calibrations": len(cals), "unit_costs_ns": costs,
              "mprotect_fit": decompose.mprotect_fit(costs), "load_avg_1min": load})
    write_atomic(out, s)
    print_summary(s)
    print("written: %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
