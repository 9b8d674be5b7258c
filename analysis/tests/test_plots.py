# tags: analysis|tests — desc: the plots on a small recorded result: files exist, are non-empty, have the expected series.
import os
import shutil
import tempfile
import unittest

import matplotlib
matplotlib.use("Agg")

from common import recorded_run
import paper_tex
import plots
import tidy


class PlotsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.run_dir = recorded_run()
        cls.table = tidy.load([cls.run_dir])
        cls.out = tempfile.mkdtemp()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out)

    def expected_series(self, group, exclude=()):
        keys = {(r["engine"], r["backend"], r["mode"]) for r in self.table.rows
                if r["group"] == group and r["metric"] == "ns_per_op" and r["engine"] not in exclude}
        return sorted(plots.series_label(*k) for k in keys)

    def test_micro_per_op(self):
        path = os.path.join(self.out, "micro.pdf")
        info = plots.plot_micro_per_op(self.table, path)
        self.assertTrue(os.path.isfile(path))
        self.assertGreater(os.path.getsize(path), 1000)
        self.assertEqual(sorted(info["series"]), self.expected_series("micro"))
        self.assertTrue(info["series"], "the recorded run has micro results")
        self.assertEqual(info["workloads"], sorted({r["workload"] for r in self.table.rows if r["group"] == "micro"}))

    def test_macro_slowdown(self):
        path = os.path.join(self.out, "macro.png")
        info = plots.plot_macro_slowdown(self.table, path)
        self.assertGreater(os.path.getsize(path), 1000)
        # every non-native macro series that has a native baseline, and never native itself
        self.assertNotIn("native", info["series"])
        self.assertEqual(sorted(info["series"]), self.expected_series("macro", exclude=("native",)))
        sl = plots.slowdowns(self.table)
        for (engine, backend, mode, w), (r, lo, hi) in sl.items():
            self.assertGreater(r, 0)
            if lo != lo:  # no interval from fewer than 3 repetitions (the recorded run has 2)
                self.assertTrue(hi != hi)
                continue
            self.assertLessEqual(lo, r)
            self.assertGreaterEqual(hi, r)

    def test_contradicting_baselines(self):
        # Flagged exactly where the host-native median is above QEMU TCG's (the recorded run has such rows).
        med = plots.cell_medians(self.table)
        expected = set()
        for (e, b, mode, w), m in med.items():
            if e == "native" and mode == "cold":
                t = [v for k, v in med.items() if k[0] == "qemu-tcg" and k[2] == "cold" and k[3] == w]
                if t and m[0] > t[0][0]:
                    expected.add(w)
        flagged = plots.contradicting_baselines(self.table)
        self.assertEqual(set(flagged), expected)
        self.assertIn("forkwait", flagged)  # every engine "faster than native" on the recorded host

    def test_counter_matrix(self):
        # The appendix counts table's values are the medians of the per-op counters.
        rows, cols, data = plots.counter_matrix(self.table)
        self.assertTrue(rows and cols)
        for i, (series, workload) in enumerate(rows):
            for j, c in enumerate(cols):
                vals = [r["value"] for r in self.table.rows if r["workload"] == workload and r["metric"] == c + "/op"
                        and plots.series_label(r["engine"], r["backend"], r["mode"]) == series]
                if vals:
                    self.assertAlmostEqual(data[i, j], sorted(vals)[len(vals) // 2] if len(vals) % 2 else
                                           (sorted(vals)[len(vals) // 2 - 1] + sorted(vals)[len(vals) // 2]) / 2)

    def test_counter_matrix_leaves_out_gauges(self):
        # A gauge an older vtb divided by ops, and one as a level: neither is a count per op.
        t = tidy.Table()
        base = {"group": "micro", "engine": "pv", "backend": "pv", "mode": "cold", "workload": "micro_syscall"}
        for metric, value in (("pv.syscall_bounce/op", 1.0), ("pv.direct_map_resident/op", 5.0),
                              ("pv.direct_map_resident", 512.0)):
            t.rows.append(dict(base, metric=metric, value=value))
        rows, cols, data = plots.counter_matrix(t)
        self.assertEqual(cols, ["pv.syscall_bounce"])
        self.assertEqual(data.tolist(), [[1.0]])

    def test_paper_includes(self):
        run, info = paper_tex.generate(self.run_dir, self.out)
        gen = os.path.join(self.out, "generated")
        for name in ("env.tex", "numbers.tex", "micro_table.tex", "macro_table.tex", "repro_table.tex",
                     "counters_table.tex", "findings.tex", "lost_cells.tex", "census_table.tex", "census_text.tex",
                     "micro_per_op.pdf", "macro_slowdown.pdf", "decomposition_micro.pdf", "decomposition_macro.pdf",
                     "calibration_table.tex", "validation.tex", "reference_table.tex", "model_repro.tex",
                     "orderings.tex", "baselines.tex"):
            p = os.path.join(gen, name)
            self.assertTrue(os.path.isfile(p), name)
            self.assertGreater(os.path.getsize(p), 0, name)
        with open(os.path.join(gen, "env.tex")) as f:
            env = f.read()
        self.assertIn(paper_tex.tex(run.env["commit"]), env)
        with open(os.path.join(gen, "lost_cells.tex")) as f:
            lost = f.read()
        for e in run.table.errors:
            self.assertIn(paper_tex.tex(e["engine"]), lost)

    def test_census_table(self):
        path = os.path.join(self.out, "census.txt")
        info = plots.write_census_table(self.table, path)
        self.assertTrue(self.table.census, "the recorded run includes the census workload")
        census = next(iter(self.table.census.values()))
        expected_insns = sorted({k.split(".")[1] for e in census.values() for k in e["records"] if k.startswith("census.")})
        self.assertEqual(sorted(set(info["instructions"])), expected_insns)
        with open(path) as f:
            text = f.read()
        for e, body in census.items():
            self.assertIn(body.get("backend", e), text)
        self.assertIn("sgdt", text)

    def test_number_formatting(self):
        self.assertEqual(paper_tex.num(None), "---")
        self.assertEqual(paper_tex.num(float("nan")), "---")
        self.assertEqual(paper_tex.num(12345.0), "12\\,345")
        self.assertEqual(paper_tex.num(3.14159), "3.14")
        self.assertEqual(paper_tex.fmt_time_ns(1500.0), "1.50\\,\\textmu s")
        self.assertEqual(paper_tex.tex("exit.port_io"), "exit.port\\_io")


if __name__ == "__main__":
    unittest.main()
