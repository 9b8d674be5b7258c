# tags: analysis|tests — desc: a run merged from shards on two host kinds: rows keep their host, kinds are never pooled.
import json
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

KIND_A = "AMD EPYC x2, Linux 6.18.44-fc-v782, kvm none, virtualized"
KIND_B = "Intel Xeon x64, Linux 6.1.0-28-amd64, kvm hardware"


def make_merged(src, dst):
    """The recorded run as if merged from two shards: cells of bt on host b (kind B), the rest on host a."""
    shutil.copytree(src, dst)
    with open(os.path.join(dst, "bench.json")) as f:
        bench = json.load(f)
    for b in bench["benchmarks"]:
        on_b = tidy.parse_label(b.get("label", "")).get("engine") == "bt"
        b["label"] = b.get("label", "") + (";host=b;host_kind=%s;shard=2/2" % KIND_B if on_b else
                                           ";host=a;host_kind=%s;shard=1/2" % KIND_A)
    with open(os.path.join(dst, "bench.json"), "w") as f:
        json.dump(bench, f)
    with open(os.path.join(dst, "environment.json")) as f:
        env = json.load(f)
    shard_a = dict(env, shard="1/2", host="a", host_kind=KIND_A)
    shard_b = dict(env, shard="2/2", host="b", host_kind=KIND_B, cpu_model="Intel Xeon", kvm_backend="hardware",
                   date="2026-11-29T00:00:00Z")
    env.update(merged=True, host="a,b", host_kind="mixed", host_kinds=[KIND_A, KIND_B], cpu_model="mixed (see shards)",
               shards=[shard_a, shard_b], shards_count=2)
    with open(os.path.join(dst, "environment.json"), "w") as f:
        json.dump(env, f)


class HostKindTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.run_dir = os.path.join(cls.tmp, "2026-11-29-0000_merged_81a5764f6ab3")
        make_merged(recorded_run(), cls.run_dir)
        cls.table = tidy.load([cls.run_dir])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_kind_formula_matches_the_bench(self):
        env = {"cpu_model": "AMD EPYC", "cpu_count": 2, "kernel": "Linux 6.18.44-fc-v782 #1 SMP PREEMPT_DYNAMIC @0",
               "kvm_backend": "none", "running_under_hypervisor": "present"}
        self.assertEqual(tidy.host_kind(env), KIND_A)  # the same words as harness/bench/environment.cpp
        self.assertEqual(tidy.host_kind({"host_kind": "given"}), "given")
        self.assertEqual(tidy.host_kind({}), "")
        # An unsharded run: every row of the recorded run is of its environment's kind.
        plain = tidy.load([recorded_run()])
        self.assertEqual(plain.host_kinds(), [KIND_A])

    def test_rows_keep_their_shard_host_and_kind(self):
        self.assertEqual(set(self.table.host_kinds()), {KIND_A, KIND_B})
        for r in self.table.rows:
            on_b = r["engine"] == "bt"
            self.assertEqual(r["host"], "b" if on_b else "a")
            self.assertEqual(r["host_kind"], KIND_B if on_b else KIND_A)
            self.assertEqual(r["kvm_backend"], "hardware" if on_b else "none")
            self.assertEqual(r["shard"], "2/2" if on_b else "1/2")
        only_b = self.table.of_host_kind(KIND_B)
        self.assertTrue(only_b.rows)
        self.assertEqual({r["engine"] for r in only_b.rows}, {"bt"})

    def test_plots_never_pool_kinds(self):
        with self.assertRaises(ValueError):
            plots.make_all(self.table, os.path.join(self.tmp, "mixed"))
        out = os.path.join(self.tmp, "plots")
        self.assertEqual(plots.main(["--run", self.run_dir, "--out", out, "--format", "png"]), 0)
        self.assertEqual(sorted(os.listdir(out)), sorted(plots.host_kind_slug(k) for k in (KIND_A, KIND_B)))
        self.assertEqual(plots.main(["--run", self.run_dir, "--out", out, "--host-kind", "nope"]), 2)

    def test_paper_is_about_one_kind(self):
        run = paper_tex.Run(self.run_dir)
        self.assertEqual(run.host_kind, self.table.host_kinds()[0])
        self.assertEqual({r["host_kind"] for r in run.table.rows}, {run.host_kind})
        b = paper_tex.Run(self.run_dir, KIND_B)
        self.assertEqual({k[0] for k in b.med}, {"bt"})
        self.assertEqual(b.env["cpu_model"], "Intel Xeon")  # the platform of that kind's shard
        self.assertEqual(b.env["kvm_backend"], "hardware")
        with self.assertRaises(ValueError):
            paper_tex.Run(self.run_dir, "no such kind")


if __name__ == "__main__":
    unittest.main()
