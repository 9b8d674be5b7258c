# tags: analysis|tests — desc: the tidy loader on a small recorded result.
import io
import json
import os
import shutil
import tempfile
import unittest

from common import recorded_run
import stats
import tidy


class TidyTest(unittest.TestCase):
    def setUp(self):
        self.run_dir = recorded_run()
        self.table = tidy.load([self.run_dir])
        with open(os.path.join(self.run_dir, "bench.json")) as f:
            self.raw = json.load(f)

    def test_one_row_per_repetition_and_metric(self):
        iters = [b for b in self.raw["benchmarks"] if b["run_type"] == "iteration" and not b.get("error_occurred")]
        self.assertGreater(len(iters), 0)
        rows = self.table.select(metric="ns_per_op")
        self.assertEqual(len(rows), len(iters))
        for b in iters:
            dims = tidy.parse_label(b["label"])
            match = self.table.select(metric="ns_per_op", engine=dims["engine"], workload=dims["workload"],
                                      mode=dims["mode"], repetition=b["repetition_index"])
            self.assertEqual(len(match), 1, b["name"])
            self.assertAlmostEqual(match[0]["value"], b["ns_per_op"])
            self.assertEqual(match[0]["backend"], dims["backend"])
            self.assertEqual(match[0]["params"], dims["params"])

    def test_aggregates_are_not_rows(self):
        aggs = [b for b in self.raw["benchmarks"] if b["run_type"] == "aggregate"]
        self.assertGreater(len(aggs), 0, "the recorded run has repetitions, so Google Benchmark wrote aggregates")
        reps = {r["repetition"] for r in self.table.rows}
        self.assertTrue(reps <= set(range(max(reps) + 1)))

    def test_errors_kept_apart(self):
        lost = [b for b in self.raw["benchmarks"] if b.get("error_occurred")]
        self.assertEqual(len(self.table.errors), len(lost))
        for e in self.table.errors:
            self.assertTrue(e["message"])
            self.assertFalse(self.table.select(engine=e["engine"], workload=e["workload"], mode=e["mode"],
                                               repetition=e["repetition"]))

    def test_environment_joined(self):
        env = self.table.runs[os.path.basename(self.run_dir)]
        self.assertIn(env["kvm_backend"], ("hardware", "pvm", "none", "unknown"))
        for r in self.table.rows:
            self.assertEqual(r["commit"], env["commit"])
            self.assertEqual(r["kvm_backend"], env["kvm_backend"])

    def test_every_counter_becomes_a_metric(self):
        iters = [b for b in self.raw["benchmarks"] if b["run_type"] == "iteration" and not b.get("error_occurred")]
        for b in iters:
            dims = tidy.parse_label(b["label"])
            got = {r["metric"]: r["value"] for r in self.table.select(
                engine=dims["engine"], workload=dims["workload"], mode=dims["mode"], repetition=b["repetition_index"])}
            for k, v in b.items():
                if k in tidy._GB_KEYS or isinstance(v, (str, bool)):
                    continue
                self.assertAlmostEqual(got[k], v, msg="%s %s" % (b["name"], k))
            for k in ("ns_per_op", "ops", "phase_ns", "wall_s"):
                self.assertIn(k, got, b["name"])
            self.assertAlmostEqual(got["ns_per_op"] * got["ops"], got["phase_ns"], delta=1e-6 * got["phase_ns"] + 1)

    def test_metric_kinds(self):
        # The recorded run predates the kinds: its gauge bt.tc_bytes is per op, and loads as such.
        kinds = {r["metric"]: tidy.metric_kind(r["metric"]) for r in self.table.rows}
        self.assertEqual(kinds["bt.tc_bytes/op"], "legacy_gauge")
        self.assertEqual(kinds["ns_per_op"], "cell")
        self.assertIn("per_op", kinds.values())
        self.assertEqual(tidy.metric_kind("pv.direct_map_resident"), "gauge")
        self.assertEqual(tidy.metric_kind("priv.syscall/op"), "per_op")

    def test_gauges_load_as_levels(self):
        # A row as vtb bench writes it since the kinds: a gauge as its level, an event count per op.
        d = tempfile.mkdtemp()
        try:
            run = os.path.join(d, "2026-12-05-0600_vm_0000000")
            os.makedirs(run)
            row = {"name": "pv/micro_syscall/cold/iterations:1/repeats:1/manual_time", "run_type": "iteration",
                   "repetition_index": 0, "real_time": 1.0, "time_unit": "us",
                   "label": "engine=pv;backend=pv@mprotect;workload=micro_syscall;group=micro;mode=cold;ops=200",
                   "ns_per_op": 5.0, "ops": 200, "phase_ns": 1000.0, "wall_s": 0.1,
                   "pv.syscall_bounce/op": 1.0, "pv.direct_map_resident": 512.0}
            with open(os.path.join(run, "bench.json"), "w") as f:
                json.dump({"benchmarks": [row]}, f)
            t = tidy.load([run])
            got = {r["metric"]: r["value"] for r in t.rows}
            self.assertEqual(got["pv.direct_map_resident"], 512.0)
            self.assertEqual(got["pv.syscall_bounce/op"], 1.0)
            self.assertEqual(tidy.metric_kind("pv.direct_map_resident"), "gauge")
        finally:
            shutil.rmtree(d)

    def test_csv(self):
        buf = io.StringIO()
        self.table.write_csv(buf)
        lines = buf.getvalue().splitlines()
        self.assertEqual(lines[0].split(","), tidy.COLUMNS)
        self.assertEqual(len(lines), len(self.table.rows) + 1)

    def test_series_never_mix_backends(self):
        for engine, backend in self.table.series():
            rows = self.table.select(engine=engine, backend=backend)
            self.assertEqual({r["backend"] for r in rows}, {backend})

    def test_find_runs_and_corrupt_input(self):
        d = tempfile.mkdtemp()
        try:
            shutil.copytree(self.run_dir, os.path.join(d, "a"))
            os.makedirs(os.path.join(d, "b"))
            with open(os.path.join(d, "b", "bench.json"), "w") as f:
                f.write("{not json")
            os.makedirs(os.path.join(d, ".tmp-c"))  # unpublished folders are ignored
            self.assertEqual([os.path.basename(p) for p in tidy.find_runs([d])], ["a", "b"])
            with self.assertRaises(ValueError):
                tidy.load([d])
            self.assertEqual(tidy.main([os.path.join(d, "b")]), 2)
            self.assertEqual(tidy.main([os.path.join(d, "none")]), 2)
        finally:
            shutil.rmtree(d)

    def test_label_parsing(self):
        d = tidy.parse_label("engine=bt;backend=bt;params=n=10,m=2;mode=warm")
        self.assertEqual(d, {"engine": "bt", "backend": "bt", "params": "n=10,m=2", "mode": "warm"})
        n = tidy.parse_name("qemu-tcg/forkwait/cold/iterations:1/repeats:2/manual_time")
        self.assertEqual((n["engine"], n["workload"], n["mode"]), ("qemu-tcg", "forkwait", "cold"))


class StatsTest(unittest.TestCase):
    def test_median_ci(self):
        m, lo, hi = stats.median_ci([1.0, 2.0, 3.0, 4.0, 100.0])
        self.assertEqual(m, 3.0)
        self.assertLessEqual(lo, m)
        self.assertGreaterEqual(hi, m)
        m1 = stats.median_ci([5.0, 7.0])  # under 3 repetitions: a median, no interval
        self.assertEqual(m1[0], 6.0)
        self.assertTrue(m1[1] != m1[1] and m1[2] != m1[2])
        self.assertEqual(stats.median_ci([5.0, 5.0, 5.0]), (5.0, 5.0, 5.0))
        self.assertTrue(all(x != x for x in stats.median_ci([])))
        self.assertEqual(stats.median_ci([1, 2, 3, 9]), stats.median_ci([1, 2, 3, 9]))  # fixed seed

    def test_ratio_ci(self):
        r, lo, hi = stats.ratio_ci([10, 10, 10], [2, 2, 2])
        self.assertEqual((r, lo, hi), (5.0, 5.0, 5.0))
        r, lo, hi = stats.ratio_ci([9, 10, 11], [1, 2, 3])
        self.assertEqual(r, 5.0)
        self.assertLess(lo, r)
        self.assertGreater(hi, r)
        r, lo, hi = stats.ratio_ci([9, 10], [1, 2, 3])  # a side with 2 repetitions: no interval
        self.assertAlmostEqual(r, 4.75)
        self.assertTrue(lo != lo and hi != hi)


if __name__ == "__main__":
    unittest.main()
