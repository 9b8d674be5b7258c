# tags: analysis|tests — desc: decompose.py: Σ count x unit cost per cell, the remainder, the validation pairs and their ±30 % rule; the decomposition figure.
import os
import shutil
import tempfile
import unittest

import matplotlib
matplotlib.use("Agg")

from common import decompose_run
import decompose
import plots
import tidy

COSTS = {"signal": 2000.0, "sigsys": 1500.0, "mmap_touch": 6000.0, "mprotect": 1000.0, "mprotect_sparse": 9191.0,
         "kvm_exit_user": 8000.0, "kvm_exit_kernel": 2500.0, "syscall": 100.0, "cpuid": 4000.0}


def env(unprotected=False, costs=COSTS):
    e = {"calibration": {"costs": {k: {"available": True, "median_ns": v} for k, v in costs.items()}},
         "host_kind": "test host"}
    if unprotected:
        e["vtb_env"] = {"VTB_PV_UNPROTECTED": "1"}
    return e


def rows(run, engine, workload, ns_per_op, per_op, ops=1000, mode="cold", backend=None):
    base = {"run": run, "date": "", "host": "h", "host_kind": "test host", "shard": "", "commit": "c",
            "kvm_backend": "", "engine": engine, "backend": backend or engine, "workload": workload,
            "group": "micro", "mode": mode, "params": "n=%d" % ops, "ops": ops}
    out = []
    for rep in range(3):
        for metric, value in [("ns_per_op", ns_per_op), ("phase_ns", ns_per_op * ops)] + \
                             [(k + "/op", v) for k, v in per_op.items()]:
            r = dict(base)
            r.update(repetition=rep, metric=metric, value=value)
            out.append(r)
    return out


class DecomposeTest(unittest.TestCase):
    def table(self):
        t = tidy.Table()
        t.runs = {"r1": env(), "r2": env(unprotected=True), "r3": env()}
        # bt vs bt-direct: 1 SIGSYS per op more on bt-direct -> predicted difference -1500 ns.
        t.rows += rows("r1", "bt", "micro_syscall", 1000.0, {"host.signal": 0.01})
        t.rows += rows("r1", "bt-direct", "micro_syscall", 2600.0, {"host.signal": 0.01, "host.sigsys": 1.0})
        # pv protected vs unprotected: 5 mprotects over 2 pages each -> 5 x (1000 + 1 page x 1 ns).
        t.rows += rows("r1", "pv", "micro_syscall", 9000.0, {"host.sigsys": 1.0, "host.mprotect": 5.0,
                                                              "host.mprotect_pages": 10.0})
        t.rows += rows("r2", "pv", "micro_syscall", 1000.0, {"host.sigsys": 1.0})
        # kvm: user exits and in-kernel exits (kvm.exits counts both).
        t.rows += rows("r1", "kvm", "micro_out", 9000.0, {"host.kvm_run": 1.0, "kvm.exits": 3.0}, backend="kvm@pvm")
        # two sizes of bt micro_syscall (r3 at 2x): a miss on purpose (measured doubles the host prediction).
        t.rows += rows("r3", "bt", "micro_syscall", 1000.0, {"host.signal": 0.005}, ops=2000)
        t.rows += rows("r1", "native", "micro_syscall", 100.0, {})
        return t

    def test_host_share_is_counts_times_unit_costs(self):
        cells = {(c.run, c.series, c.workload): c for c in decompose.cells(self.table())}
        self.assertNotIn(("r1", "native", "micro_syscall"), cells)  # peers are not decomposed
        d = cells[("r1", "bt-direct", "micro_syscall")]
        self.assertAlmostEqual(d.host_ns, 0.01 * 2000 + 1.0 * 1500)
        self.assertAlmostEqual(d.remainder_ns, 2600 - 1520)
        p = cells[("r1", "pv", "micro_syscall")]
        self.assertAlmostEqual(p.terms["mprotect"], 5 * 1000 + 5 * 1.0)  # 5 pages beyond the calls' first
        self.assertAlmostEqual(p.host_ns, 5005 + 1500)
        k = cells[("r1", "kvm@pvm", "micro_out")]
        self.assertAlmostEqual(k.terms["KVM_RUN user exits"], 8000)
        self.assertAlmostEqual(k.terms[decompose.KVM_KERNEL_EXITS], 2 * 2500)
        self.assertEqual(cells[("r2", "pv-unprotected", "micro_syscall")].series, "pv-unprotected")

    def test_mprotect_priced_from_the_pv_pattern_fit(self):
        # three pv-pattern probes on the line 3000 + 0.5 x pages: the fit gives them back, and a call
        # count and its pages are priced a x calls + b x pages.
        costs = {name: 3000.0 + 0.5 * pages for name, pages in decompose.PV_PROBE_PAGES.items()}
        a, b = decompose.mprotect_fit(costs)
        self.assertAlmostEqual(a, 3000.0)
        self.assertAlmostEqual(b, 0.5)
        terms = decompose.host_terms({"host.mprotect": 3.0, "host.mprotect_pages": 3 * 6000.0}, costs)
        self.assertAlmostEqual(terms["mprotect"], 3 * 3000.0 + 3 * 6000 * 0.5)
        self.assertIsNone(decompose.mprotect_fit({"mprotect_pv_4096": 1.0}))  # one size is no line
        # bt's one-page calls are priced at the one-page probe, not at the fit's intercept (pv's large
        # calls); between one page and the smallest pv-pattern size, linearly.
        costs["mprotect"] = 1000.0
        terms = decompose.host_terms({"host.mprotect": 2.0, "host.mprotect_pages": 2.0}, costs)
        self.assertAlmostEqual(terms["mprotect"], 2 * 1000.0)
        x1 = min(decompose.PV_PROBE_PAGES.values())
        mid = (1.0 + x1) / 2
        terms = decompose.host_terms({"host.mprotect": 1.0, "host.mprotect_pages": mid}, costs)
        self.assertAlmostEqual(terms["mprotect"], (1000.0 + 3000.0 + 0.5 * x1) / 2)
        terms = decompose.host_terms({"host.mprotect": 1.0, "host.mprotect_pages": x1 + 100}, costs)
        self.assertAlmostEqual(terms["mprotect"], 3000.0 + 0.5 * (x1 + 100))

    def test_pv_2as_user_process_priced_from_its_counters(self):
        """pv@2as: the user process's traps, hand-overs, mmaps, their vetting (old results) and its mapper are priced from pv's own
        counters; the engine's futex waits (also host.futex_wait) are priced once."""
        costs = dict(COSTS, futex_handoff=10000.0, futex_handoff_pinned=2000.0, futex_handoff_cross=30000.0,
                     spin_handoff=100.0, scm_rights=3000.0, seccomp_notify=5000.0, mapper_relay=5500.0)
        # Spinning quiet mode: 4 handoffs per op, 3 end in a guest syscall (SIGSYS there), 1 in a fault
        # (SIGSEGV there); the engine caught 1 spinning and slept 3 times (1 after a missed spin;
        # host.futex_wait 3, plus 0.5 waits of its own elsewhere), the user process 2 and 2 (1 after a
        # missed spin); 2 user-process mmaps, 0.5 of them vetted per op; 2 window
        # mmaps in the engine; 1.5 mapping logs relayed through the mapper (which slept for 1 of them:
        # its wake-up is inside the relay's price, not priced again).
        per_op = {"pv.2as.handoffs": 4.0, "pv.syscall_bounce": 3.0, "pv.2as.engine_spins": 1.0,
                  "pv.2as.engine_futex_waits": 3.0, "pv.2as.engine_spin_misses": 1.0, "pv.2as.user_spins": 2.0,
                  "pv.2as.user_futex_waits": 2.0, "pv.2as.user_spin_misses": 1.0, "pv.2as.user_mmaps": 2.0,
                  "pv.2as.map_checks": 0.5, "host.futex_wait": 3.5, "host.mmap": 2.0,
                  "pv.2as.mapper_logs": 1.5, "pv.2as.mapper_wakes": 1.0,
                  "pv.2as.quiet_epochs": 3.0, "pv.2as.contended_epochs": 1.0, "pv.2as.runqueue_samples": 40.0}
        t = decompose.host_terms(per_op, costs)
        self.assertEqual(t, {"user-process SIGSYS": 3 * 1500.0, "user-process signals": 1 * 2000.0,
                             "2as futex hand-overs, one CPU": 3 * 2000.0, "2as futex hand-overs, two CPUs": 2 * 30000.0,
                             "2as spin hand-overs": 3 * 100.0, "user-process mmap+touch": 2 * 6000.0,
                             "2as vetted mmaps": 0.5 * 5000.0, "2as mapper relays": 1.5 * 5500.0,
                             "futex handoffs": 0.5 * 10000.0, "mmap+touch": 2 * 6000.0})
        # Co-locating (the default) or pinned: every futex hand-over on one CPU; host.futex_wait 3.5 minus
        # the engine's 4: nothing, never negative.
        colo = {"pv.2as.handoffs": 4.0, "pv.syscall_bounce": 4.0, "pv.2as.engine_futex_waits": 4.0,
                "pv.2as.user_futex_waits": 4.0, "host.futex_wait": 3.5, "pv.2as.colocations": 1.0}
        self.assertEqual(decompose.host_terms(colo, costs), {"user-process SIGSYS": 4 * 1500.0,
                                                             "2as futex hand-overs, one CPU": 8 * 2000.0})
        self.assertEqual(decompose.host_terms(dict(colo, **{"host.futex_wait": 4.5}), costs)["futex handoffs"], 5000.0)
        for gate in ("pv.2as.pinned", "pv.2as.contended_epochs", "pv.2as.runqueue_samples"):
            c = decompose.two_as_counts(dict(colo, **{"pv.2as.colocations": 0.0, gate: 1.0}))
            self.assertEqual(c["2as futex hand-overs, one CPU"], 8.0, gate)
        # Futex only (no gate, no spin, no co-location): where the sides ran is not counted: unpinned.
        c = decompose.two_as_counts(dict(colo, **{"pv.2as.colocations": 0.0}))
        self.assertEqual((c["2as futex hand-overs, one CPU"], c["2as futex hand-overs, unpinned"]), (0.0, 8.0))
        # A calibration without the one-CPU figure cannot price co-located hand-overs: not decomposed, and said.
        old = {k: v for k, v in costs.items() if k != "futex_handoff_pinned"}
        self.assertIsNone(decompose.host_terms(colo, old))
        self.assertEqual(decompose.missing_figures(colo, old), ["futex_handoff_pinned"])
        self.assertEqual(decompose.missing_figures(colo, costs), [])
        # A calibration without mapper_relay (before 2026-12-05 08:30 UTC) cannot price a cell with mapper
        # logs: not decomposed, and said; one without them needs no such figure.
        old = {k: v for k, v in costs.items() if k != "mapper_relay"}
        self.assertIsNone(decompose.host_terms(per_op, old))
        self.assertEqual(decompose.missing_figures(per_op, old), ["mapper_relay"])
        self.assertIsNotNone(decompose.host_terms(dict(per_op, **{"pv.2as.mapper_logs": 0.0}), old))
        # Not pv@2as: none of this.
        self.assertEqual(decompose.two_as_counts({"pv.syscall_bounce": 1.0, "host.sigsys": 1.0}), {})

    def test_no_calibration_no_decomposition(self):
        t = self.table()
        t.runs["r1"] = {"host_kind": "test host"}
        c = [c for c in decompose.cells(t) if c.run == "r1" and c.series == "bt"][0]
        self.assertIsNone(c.terms)
        self.assertNotEqual(c.host_ns, c.host_ns)  # NaN, never a made-up share
        # A calibration that lacks a figure a non-zero count needs: no decomposition either.
        t.runs["r1"] = env(costs={"signal": 1.0})
        c = [c for c in decompose.cells(t) if c.run == "r1" and c.series == "bt-direct"][0]
        self.assertIsNone(c.terms)

    def test_merged_shards_use_their_own_calibration(self):
        t = self.table()
        # A folder merged from shards: the calibration is in the shard's own record only.
        t.runs["r1"] = {"host_kind": "test host", "calibration": "mixed (see shards)",
                        "shards": [dict(env(), shard="2/2")]}
        for r in t.rows:
            if r["run"] == "r1":
                r["shard"] = "2/2"
        d = [c for c in decompose.cells(t) if c.run == "r1" and c.series == "bt-direct"][0]
        self.assertAlmostEqual(d.host_ns, 0.01 * 2000 + 1500)

    def test_loop_counts_from_two_sizes(self):
        cells = {(c.run, c.series, c.workload): c for c in decompose.cells(self.table())}
        small, big = cells[("r1", "bt", "micro_syscall")], cells[("r3", "bt", "micro_syscall")]
        # 10 signals in both runs (0.01 x 1000, 0.005 x 2000): boot's, none in the loop.
        self.assertTrue(small.boot_subtracted and big.boot_subtracted)
        self.assertEqual(small.per_op["host.signal"], 0.0)
        self.assertAlmostEqual(small.raw_per_op["host.signal"], 0.01)
        self.assertEqual(small.host_ns, 0.0)
        # No second size: the whole-run counts stay.
        self.assertFalse(cells[("r1", "bt-direct", "micro_syscall")].boot_subtracted)

    def test_pairs_and_the_30_percent_rule(self):
        ps = decompose.pairs(decompose.cells(self.table()))
        kinds = sorted(p["kind"] for p in ps)
        self.assertEqual(kinds, ["bt / bt-direct", "pv / pv-unprotected", "size 2000 / 1000"])
        by = {p["kind"]: p for p in ps}
        bt = by["bt / bt-direct"]
        self.assertAlmostEqual(bt["predicted_ns"], 0 - (0.01 * 2000 + 1500))  # bt's loop has no host event
        self.assertAlmostEqual(bt["measured_ns"], -1600)
        self.assertTrue(bt["judged"] and bt["hit"])      # |−1520 − (−1600)| = 80 <= 480
        pv = by["pv / pv-unprotected"]
        self.assertAlmostEqual(pv["predicted_ns"], 5005)
        self.assertAlmostEqual(pv["measured_ns"], 8000)
        self.assertTrue(pv["judged"])
        self.assertFalse(pv["hit"])                       # |5005 - 8000| = 2995 > 0.3 x 8000
        size = by["size 2000 / 1000"]                     # the loop counts' premise: time per op steady
        self.assertFalse(size["judged"])
        self.assertTrue(size["hit"])
        s = decompose.validation_summary(ps)
        self.assertEqual((s["judged"], s["hits"], s["skipped"], s["sizes"], s["sizes_steady"]), (2, 1, 0, 1, 1))
        self.assertTrue(s["line"].startswith("pairs within ±30 %: 1 of 2"), s["line"])

    def test_noise_floor(self):
        t = self.table()
        # bt-direct's repetitions spread wider than the predicted difference: not judged.
        for r in t.rows:
            if r["engine"] == "bt-direct" and r["metric"] == "ns_per_op" and r["repetition"] == 0:
                r["value"] = 9000.0
        ps = {p["kind"]: p for p in decompose.pairs(decompose.cells(t))}
        self.assertFalse(ps["bt / bt-direct"]["judged"])

    def test_unseen_engines_and_modes_are_kept(self):
        """Series the analysis has never seen (bt-softmmu, pv@2as with futex handoffs) are decomposed,
        paired and drawn; pv's protection modes pair with pv@off; the model column takes the default mode
        (pv@2as without PKU) over pv@mprotect."""
        import paper_model
        costs = dict(COSTS, futex_handoff=5000.0, futex_wake=900.0, spin_handoff=800.0)
        t = tidy.Table()
        t.runs = {"r1": env(costs=costs)}
        t.rows += rows("r1", "bt-softmmu", "micro_syscall", 800.0, {"host.signal": 0.01})
        t.rows += rows("r1", "pv", "micro_syscall", 20000.0, {"host.sigsys": 1.0, "host.futex_wait": 2.0,
                                                               "host.futex_wake": 1.0, "host.spin_handoff": 1.0},
                       backend="pv@2as")
        t.rows += rows("r1", "pv", "micro_syscall", 9000.0, {"host.sigsys": 1.0, "host.mprotect": 3.0,
                                                              "host.mprotect_pages": 6.0}, backend="pv@mprotect")
        t.rows += rows("r1", "pv", "micro_syscall", 1000.0, {"host.sigsys": 1.0}, backend="pv@off")
        # the ablation as vtb bench --engines pv:protect=off labels it: paired too, never a model column
        t.rows += rows("r1", "pv:protect=off", "micro_syscall", 1100.0, {"host.sigsys": 1.0},
                       backend="pv@off:protect=off")
        cs = decompose.cells(t)
        by = {c.series: c for c in cs}
        self.assertEqual(set(by), {"bt-softmmu", "pv@2as", "pv@mprotect", "pv@off", "pv@off:protect=off"})
        self.assertAlmostEqual(by["pv@2as"].terms["futex handoffs"], 2 * 5000.0)
        self.assertAlmostEqual(by["pv@2as"].terms["futex wakes"], 900.0)
        self.assertAlmostEqual(by["pv@2as"].terms["spin handoffs"], 800.0)
        kinds = sorted(p["kind"] for p in decompose.pairs(cs))
        self.assertEqual(kinds, ["pv@2as / pv@off", "pv@2as / pv@off:protect=off", "pv@mprotect / pv@off",
                                 "pv@mprotect / pv@off:protect=off"])
        self.assertEqual(paper_model._cell(cs, "pv", "micro_syscall", run="r1").series, "pv@2as")  # the default mode
        with tempfile.TemporaryDirectory() as d:
            info = plots.plot_decomposition(t, os.path.join(d, "f.pdf"), "micro")
        self.assertEqual(set(info["series"]), set(by))
        self.assertIn("futex handoffs", info["components"])

    def test_recorded_run_and_figure(self):
        table = tidy.load([decompose_run()])
        cs = decompose.cells(table)
        self.assertTrue(cs and all(c.terms is not None for c in cs), "the recorded run has a calibration")
        bd = [c for c in cs if c.series == "bt-direct" and c.workload == "micro_syscall" and c.mode == "cold"][0]
        # bt-direct's syscalls are SIGSYS bounces: one per op (plus boot's, spread over the loop).
        self.assertGreaterEqual(bd.per_op["host.sigsys"], 1.0)
        self.assertIn("SIGSYS", bd.terms)
        out = tempfile.mkdtemp()
        try:
            path = os.path.join(out, "d.pdf")
            info = plots.plot_decomposition(table, path, "micro")
            self.assertGreater(os.path.getsize(path), 1000)
            self.assertEqual(info["workloads"], sorted({c.workload for c in cs if c.group == "micro"}))
            self.assertEqual(set(info["series"]), {c.series for c in cs})
            self.assertIn("SIGSYS", info["components"])
        finally:
            shutil.rmtree(out)


class DecomposeCliTest(unittest.TestCase):
    def test_prints_cells_and_the_validation_line(self):
        import contextlib
        import io
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = decompose.main([decompose_run()])
        self.assertEqual(rc, 0)
        text = buf.getvalue()
        self.assertIn("micro_syscall", text)
        self.assertIn("pairs within ±30 %:", text)
        with contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(decompose.main(["/nonexistent-results"]), 2)


if __name__ == "__main__":
    unittest.main()
