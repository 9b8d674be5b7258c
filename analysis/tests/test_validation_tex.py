# tags: analysis|tests — desc: the paper's validation include from an interleaved validation.json: only judged pairs count, misses named, pv's outside-the-calls time per switch.
import json
import os
import tempfile
import unittest

import common  # noqa: F401  (puts analysis/ on the path)
import paper_model


def pair(name, kind, workload, pred, meas, judged, mprot_a=0.0, inside=0.0):
    return {"name": name, "kind": kind, "workload": workload, "a": "pv", "b": "pv-unprotected",
            "predicted_ns": pred, "measured_ns": meas, "judged": judged,
            "hit": abs(pred - meas) <= 0.3 * abs(meas), "mprotect_priced_ns": pred,
            "mprotect_in_process_ns": inside, "a_loop_per_op": {"host.mprotect": mprot_a},
            "b_loop_per_op": {"host.mprotect": 0.0}}


def generate(v):
    """(summary, validation.tex text) of paper_model.gen_interleaved_validation on the record v."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "validation.json")
        with open(path, "w") as f:
            json.dump(v, f)
        s = paper_model.gen_interleaved_validation(path, d)
        with open(os.path.join(d, "validation.tex")) as f:
            return s, f.read()


class InterleavedValidationTex(unittest.TestCase):
    def assert_outside_10_12(self, tex):
        rng = [l for l in tex.splitlines() if l.startswith("\\newcommand{\\vtbPvOutsideRange}")][0]
        self.assertIn("10", rng)
        self.assertIn("12", rng)

    def test_macros(self):
        v = {"rounds": 5, "line": "pairs within ±30 %: 1 of 2", "sizes": [{"steady": True}, {"steady": False}],
             "pairs": [pair("a", "pv / pv-unprotected", "micro_syscall", 30000.0, 40000.0, True, 5.0, 30000.0),
                       pair("b", "pv / pv-unprotected", "ctxswitch", 60000.0, 90000.0, True, 10.0, 66000.0),
                       pair("c", "bt / bt-direct", "micro_pgfault", 10.0, 500.0, False)]}
        s, tex = generate(v)
        self.assertEqual((s["hits"], s["judged"], s["skipped"], s["sizes_steady"]), (1, 2, 1, 1))
        self.assertIn("\\newcommand{\\vtbPairsVerdict}{below}", tex)
        self.assertIn("\\newcommand{\\vtbPairsRounds}{5}", tex)
        # the miss is named, the hit and the unjudged pair are not
        misses = [l for l in tex.splitlines() if l.startswith("\\newcommand{\\vtbPairsMisses}")][0]
        self.assertIn("ctxswitch", misses)
        self.assertNotIn("micro\\_syscall", misses)
        self.assertIn("too small", tex)
        # outside the calls per switch (5 calls each): (40-30)/1 = 10 us and (90-66)/2 = 12 us
        self.assert_outside_10_12(tex)

    def test_v2_verdicts(self):
        """validate_pairs v2: the verdicts it gives (unresolvable, unavailable) are shown with their
        reasons and never counted; pv@mprotect makes three calls per switch."""
        a = pair("a", "pv mprotect / off", "micro_syscall", 30000.0, 40000.0, True, 3.0, 30000.0)
        b = pair("b", "pv mprotect / off", "ctxswitch", 60000.0, 90000.0, True, 6.0, 66000.0)
        c = pair("c", "bt / bt-direct", "micro_pgfault", 800.0, 500.0, False)
        c["unexplained"] = True
        for p_, v_ in ((a, "hit"), (b, "miss"), (c, "unresolvable")):
            p_["verdict"], p_["spread_ns"] = v_, 900.0 if v_ == "unresolvable" else 100.0
            p_["a_per_op"], p_["b_per_op"] = p_.pop("a_loop_per_op"), p_.pop("b_loop_per_op")
        v = {"schema": "vtb-validation/2", "rounds": 5, "line": "pairs within ±30 %: 1 of 2", "pairs": [a, b, c],
             "unavailable": [{"name": "d", "kind": "pv 2as / off", "workload": "micro_syscall", "reason": "not built"}]}
        s, tex = generate(v)
        self.assertEqual((s["hits"], s["judged"], s["unresolvable"], s["unavailable"]), (1, 2, 1, 1))
        un = [l for l in tex.splitlines() if l.startswith("\\newcommand{\\vtbPairsUnresolved}")][0]
        self.assertIn("micro\\_pgfault", un)
        self.assertIn("not built", un)
        self.assertIn("resolved and unexplained", un)
        self.assertIn("unresolvable", tex)
        # outside the calls per switch (3 calls each): (40-30)/1 = 10 us and (90-66)/2 = 12 us
        self.assert_outside_10_12(tex)


if __name__ == "__main__":
    unittest.main()
