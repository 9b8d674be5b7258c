# tags: analysis|tests — desc: reference.py: the modelled [M] figures are the published unit costs applied to exact counts (bare metal, VT-x/AMD-V exits, native-tbk).
import unittest

import decompose
import reference
from test_decompose import COSTS


class ReferenceTest(unittest.TestCase):
    def cell(self, per_op, time_ns):
        c = decompose.Cell()
        c.per_op, c.time_ns, c.costs = per_op, time_ns, dict(COSTS)
        c.terms = decompose.host_terms(per_op, c.costs)
        return c

    def test_bare_metal_swaps_host_costs_for_reference_ones(self):
        # 1 SIGSYS (1500 ns here) per op, 2600 ns measured: remainder 1100 + the bare-metal signal cost.
        c = self.cell({"host.sigsys": 1.0}, 2600.0)
        self.assertAlmostEqual(reference.bare_metal_ns(c), 1100.0 + reference.BARE_METAL["signal"][0])
        # mmap has no published figure: it keeps this host's cost.
        c = self.cell({"host.mmap": 1.0}, 10000.0)
        self.assertAlmostEqual(reference.bare_metal_ns(c), 10000.0)
        c.terms = None
        self.assertIsNone(reference.bare_metal_ns(c))

    def test_hw_is_native_plus_exits_at_reference_costs(self):
        user, kernel = reference.VM_EXITS["VT-x"][:2]
        counts = {"host.kvm_run": 3.0, "kvm.user.kicks": 1.0, "kvm.exits": 5.0}
        # 2 user-space exits (3 returns, 1 a kick), 2 in-kernel exits (5 - 3)
        self.assertAlmostEqual(reference.hw_ns(counts, 100.0), 100.0 + 2 * user + 2 * kernel)
        self.assertNotEqual(reference.hw_ns(counts, 0.0, "AMD-V"), reference.hw_ns(counts, 0.0, "VT-x"))

    def test_native_tbk_counts_architectural_events_only(self):
        port = reference.BARE_METAL["port_io"][0]
        self.assertAlmostEqual(reference.native_tbk_ns({"priv.in": 1.0, "exit.port_io": 1.0}), port)  # one in, not two
        self.assertAlmostEqual(reference.native_tbk_ns({"fault.reflected.0": 1.0}), reference.BARE_METAL["trap"][0])
        self.assertIsNone(reference.native_tbk_ns({"priv.sysret": 0.01}))  # instructions dominate: no model

    def test_every_reference_has_a_source_and_a_tag(self):
        for row in reference.table_rows():
            platform, event, ns, tag, what, source = row
            self.assertGreater(ns, 0)
            self.assertIn(tag, ("V", "D", "R"))
            self.assertTrue(source and what and platform)


if __name__ == "__main__":
    unittest.main()
