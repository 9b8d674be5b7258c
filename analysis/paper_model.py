#!/usr/bin/python3
# tags: analysis|paper — desc: the paper's counts x unit costs part: calibration table, validation pairs, reference costs with sources, modelled [M] reproduction columns, the Adams & Agesen orderings.
"""Generated includes for the decomposition and the models (called by paper_tex.generate):

  calibration_table.tex  this host's unit costs (environment.json calibration)
  validation.tex         \\vtbPairs{} line + the judged pairs (predicted vs measured)
  reference_table.tex    published reference costs with tags and sources
  model_repro.tex        modelled [M] columns: bt/pv on bare metal, kvm on VT-x/AMD-V, native-tbk
  orderings.tex          each Adams & Agesen ordering: reproduced or not, with the counts behind it
"""
import os

import anchors
import decompose
import reference
import tidy

AA_ROWS = [("syscall", "micro_syscall"), ("in", "micro_in"), ("cr8wr", "micro_cr8wr"), ("callret", "micro_callret"),
           ("pgfault", "micro_pgfault"), ("divzero", "micro_divzero"), ("ptemod", "micro_ptemod"),
           ("forkwait", "forkwait")]


def _tex(s):
    import paper_tex
    return paper_tex.tex(s)


def _ns(x):
    import paper_tex
    return paper_tex.fmt_time_ns(x)


def _ns_prose(x):
    """A time in a sentence: 'not modelled' instead of a dash (a dash cannot break a line)."""
    return "not modelled" if x is None else _ns(x)


def _ratio(x):
    import paper_tex
    return paper_tex.ratio(x)


def write(out, name, text):
    with open(os.path.join(out, name), "w") as f:
        f.write(text)


COMPANIONS = "companions"  # RUN/companions/<run>/: runs that go with RUN (not seen as runs of results/)


def companions(run):
    """The paper's run with every results folder beside it (same parent) and under RUN/companions/,
    cells of its host kind only: the validation pairs, the loop counts (a --scale 2 run) and the
    nested-tcg exit counts come from them (pv-unprotected, --scale 2, kvm@nested-tcg runs)."""
    parent = os.path.dirname(os.path.normpath(run.path))
    paths = tidy.find_runs([parent, os.path.join(run.path, COMPANIONS)])
    table = tidy.Table()
    for p in paths:
        try:
            tidy.load_run(p, table)
        except ValueError:
            continue
    return table.of_host_kind(run.host_kind) if run.host_kind else table


def gen_calibration(run, out):
    cal = run.env.get("calibration")
    costs = (cal.get("costs") if isinstance(cal, dict) else None) or {}
    if not costs:
        write(out, "calibration_table.tex", "\\emph{This run has no calibration (vtb calibrate); its cells are not "
                                            "decomposed.}\n")
        return
    lines = ["\\begin{tabular}{lrr}", "\\toprule", "host event & median & min--max \\\\", "\\midrule"]
    for name, c in costs.items():
        if c.get("available"):
            lines.append("%s & %s & %s--%s \\\\" % (_tex(name), _ns(c["median_ns"]), _ns(c["min_ns"]), _ns(c["max_ns"])))
        else:
            lines.append("%s & \\multicolumn{2}{l}{unavailable} \\\\" % _tex(name))
    lines += ["\\bottomrule", "\\end{tabular}"]
    write(out, "calibration_table.tex", "\n".join(lines) + "\n")


INTERLEAVED = "validation.json"  # RUN/validation.json: analysis/validate_pairs.py's interleaved pairs


VERDICT_TEX = {True: "hit", False: "\\textbf{miss}", None: "not judged", "hit": "hit", "miss": "\\textbf{miss}",
               "unresolvable": "unresolvable", "small": "too small", "unavailable": "unavailable"}


def _pairs_table(rows):
    """rows: (kind, workload, series, predicted ns, measured ns, verdict: True/False/None or a
    validate_pairs verdict, spread ns or None) -> the \\vtbPairsTable tabular."""
    lines = ["\\begin{tabular}{lllrrrl}", "\\toprule", "pair & workload & series & predicted & measured & $\\pm$ & \\\\",
             "\\midrule"]
    for kind, workload, series, pred, meas, verdict, spread in rows:
        lines.append("%s & %s & %s & %s & %s & %s & %s \\\\" % (
            _tex(kind), _tex(workload), _tex(series), _ns(pred), _ns(meas), "---" if spread is None else _ns(spread),
            VERDICT_TEX[verdict]))
    return lines + ["\\bottomrule", "\\end{tabular}"]


# mprotect calls per switch to the guest kernel and back: pv@mprotect's three (validation.json v2);
# the five of pv before its protection rework (v1).
CALLS_PER_SWITCH = {"vtb-validation/2": 3.0}


def _per_op(p, side):
    return p.get(side + "_per_op") or p.get(side + "_loop_per_op") or {}


def _pv_outside_range(pairs, calls_per_switch=5.0):
    """'lo--hi' µs: the measured pv protected / unprotected difference outside pv's mprotect calls (its
    own clock) per switch to the guest kernel and back (validate_pairs.py)."""
    per = []
    for p in pairs:
        calls = _per_op(p, "a").get("host.mprotect", 0) - _per_op(p, "b").get("host.mprotect", 0)
        if p.get("mprotect_in_process_ns") and calls > 0 and p.get("verdict", "hit") != "unavailable":
            per.append((p["measured_ns"] - p["mprotect_in_process_ns"]) / (calls / calls_per_switch))
    if not per:
        return "not measured"
    return "%s--%s" % (_ns(min(per)), _ns(max(per))) if len(per) > 1 else _ns(per[0])


def _verdict(p):
    """A pair's verdict: validate_pairs v2 says it; v1 has judged/hit."""
    if "verdict" in p:
        return p["verdict"]
    return ("hit" if p.get("hit") else "miss") if p.get("judged", True) else "small"


def gen_interleaved_validation(path, out):
    """validation.tex from RUN/validation.json (both cells of each pair in one invocation, interleaved,
    with its own calibrations): the same macros as gen_validation, and \\vtbPairsMisses,
    \\vtbPairsUnresolved (pairs not judged, with the reason)."""
    import json
    with open(path) as f:
        v = json.load(f)
    every = v.get("pairs", [])
    verdicts = [_verdict(p) for p in every]
    ps = [p for p, x in zip(every, verdicts) if x in ("hit", "miss")]
    hits = sum(1 for x in verdicts if x == "hit")
    misses = [p for p, x in zip(every, verdicts) if x == "miss"]
    unresolved = [(p, x) for p, x in zip(every, verdicts) if x not in ("hit", "miss")]
    unavailable = v.get("unavailable", [])
    s = {"hits": hits, "judged": len(ps), "skipped": len(every) - len(ps), "sizes": len(v.get("sizes", [])),
         "sizes_steady": sum(1 for z in v.get("sizes", []) if z.get("steady")),
         "unresolvable": sum(1 for _, x in unresolved if x == "unresolvable"), "unavailable": len(unavailable),
         "rate": hits / len(ps) if ps else float("nan"), "line": v.get("line", "")}
    why = {"small": "host difference under 10\\,\\% of the time", "unresolvable": "measured spread %s at least the prediction"}
    lines = ["\\newcommand{\\vtbPairsLine}{%s}" % _tex(s["line"]),
             "\\newcommand{\\vtbPairsHits}{%d}" % hits, "\\newcommand{\\vtbPairsJudged}{%d}" % len(ps),
             "\\newcommand{\\vtbPairsSkipped}{%d}" % s["skipped"], "\\newcommand{\\vtbPairsRounds}{%d}" % v.get("rounds", 0),
             "\\newcommand{\\vtbPairsCount}{%d}" % (len(every) + len(unavailable)),
             "\\newcommand{\\vtbPairsVerdict}{%s}" % (
                 "at least" if ps and s["rate"] >= decompose.TARGET_HIT_RATE else "below"),
             "\\newcommand{\\vtbSizePairsLine}{%s}" % _tex(
                 "%d of %d cells keep their time per op within ±30 %% between the two sizes" %
                 (s["sizes_steady"], s["sizes"]) if s["sizes"] else
                 "the size pairs are two guest memory sizes (256 and 64 MiB), judged as above"),
             "\\newcommand{\\vtbPairsMisses}{%s}" % ("; ".join(
                 "%s on %s (predicted %s, measured %s)" % (_tex(p["kind"]), _tex(p["workload"]), _ns(p["predicted_ns"]),
                                                           _ns(p["measured_ns"])) for p in misses) or "none"),
             "\\newcommand{\\vtbPairsUnresolved}{%s}" % ("; ".join(
                 "%s on %s (%s%s)" % (_tex(p["kind"]), _tex(p["workload"]),
                                      why[x] % _ns(p.get("spread_ns")) if x == "unresolvable" else why.get(x, x),
                                      "; but the measured %s $\\pm$ %s is resolved and unexplained" % (
                                          _ns(p["measured_ns"]), _ns(p.get("spread_ns")))
                                      if p.get("unexplained") else "")
                 for p, x in unresolved) + "".join(
                 "; %s on %s (unavailable: %s)" % (_tex(u["kind"]), _tex(u["workload"]), _tex(u["reason"]))
                 for u in unavailable) or "none").lstrip("; "),
             "\\newcommand{\\vtbPvProtectLine}{%s}" % ("; ".join(
                 "%s: priced %s, inside the calls %s, whole difference %s" % (
                     _tex(p["workload"]), _ns(p["mprotect_priced_ns"]), _ns(p["mprotect_in_process_ns"]),
                     _ns(p["measured_ns"])) for p in every
                 if p.get("mprotect_in_process_ns") and "MiB" not in p.get("kind", "")) or "no pv pair"),
             "\\newcommand{\\vtbPvOutsideRange}{%s}" % _pv_outside_range(
                 [p for p in every if "MiB" not in p.get("kind", "")], CALLS_PER_SWITCH.get(v.get("schema"), 5.0)),
             "\\newcommand{\\vtbPairsTable}{%"]
    lines += _pairs_table([(p["kind"], p["workload"], "%s vs %s" % (p["a"], p["b"]), p["predicted_ns"],
                            p["measured_ns"], x, p.get("spread_ns")) for p, x in zip(every, verdicts)] +
                          [(u["kind"], u["workload"], "", None, None, "unavailable", None) for u in unavailable])
    lines.append("}")
    write(out, "validation.tex", "\n".join(lines) + "\n")
    return s


def gen_validation(run, table, out):
    if os.path.exists(os.path.join(run.path, INTERLEAVED)):
        return gen_interleaved_validation(os.path.join(run.path, INTERLEAVED), out)
    cs = decompose.cells(table)
    ps = decompose.pairs(cs)
    s = decompose.validation_summary(ps)
    judged = [p for p in ps if p["judged"]]
    lines = ["\\newcommand{\\vtbPairsLine}{%s}" % _tex(s["line"]),
             "\\newcommand{\\vtbPairsHits}{%d}" % s["hits"], "\\newcommand{\\vtbPairsJudged}{%d}" % s["judged"],
             "\\newcommand{\\vtbPairsSkipped}{%d}" % s["skipped"], "\\newcommand{\\vtbPairsRounds}{0}",
             "\\newcommand{\\vtbPairsMisses}{see Table~\\ref{tab:pairs}}",
             "\\newcommand{\\vtbPairsUnresolved}{%d pairs with a host difference under %d\\,\\%% of their time or "
             "within the cells' spread}" % (s["skipped"], decompose.MIN_HOST_DIFF * 100),
             "\\newcommand{\\vtbPairsCount}{%d}" % (s["judged"] + s["skipped"]),
             "\\newcommand{\\vtbPvProtectLine}{not measured in this run}",
             "\\newcommand{\\vtbPvOutsideRange}{not measured}",
             "\\newcommand{\\vtbPairsVerdict}{%s}" % (
                 "at least" if s["judged"] and s["rate"] >= decompose.TARGET_HIT_RATE else "below"),
             "\\newcommand{\\vtbSizePairsLine}{%s}" % _tex(
                 "%d of %d size pairs keep their time per op within ±30 %%" % (s["sizes_steady"], s["sizes"])
                 if s["sizes"] else "no cell was run at two sizes"),
             "\\newcommand{\\vtbPairsTable}{%"]
    if judged:
        lines += _pairs_table([(p["kind"], p["a"].workload, "%s/%s" % (p["a"].series, p["a"].mode), p["predicted_ns"],
                                p["measured_ns"], p["hit"], None) for p in sorted(
                                    judged, key=lambda p: (p["kind"], p["a"].workload, p["a"].mode))])
    else:
        lines.append("\\emph{no pair with a host difference of at least %d\\,\\%% of its time}" %
                     (decompose.MIN_HOST_DIFF * 100))
    lines.append("}")
    write(out, "validation.tex", "\n".join(lines) + "\n")
    return s


def gen_reference(out):
    lines = ["\\begin{tabular}{p{0.17\\linewidth}p{0.2\\linewidth}rcp{0.38\\linewidth}}", "\\toprule",
             "platform & event & cost & tag & source \\\\", "\\midrule"]
    for plat, ev, ns, tag, what, src in reference.table_rows():
        lines.append("%s & %s & %s & [%s] & %s \\\\" % (_tex(plat), _tex(what), _ns(ns), tag, _tex(src)))
    lines += ["\\bottomrule", "\\end{tabular}"]
    write(out, "reference_table.tex", "\n".join(lines) + "\n")


# The series that stands for an engine in the model columns when a run has several (pv's default
# protection mode; an older run's plain "pv"): any other series of the engine still counts, after these.
PREFERRED_SERIES = {"pv": ("pv", "pv@pkeys", "pv@2as", "pv@mprotect")}


def _cell(cs, engine, workload, mode="cold", run=None):
    """The engine's cell for a model column: the paper's own run first (companions only where it has
    none), its preferred series first, never an ablation (pv@off)."""
    got = [c for c in cs if c.engine == engine and not decompose.is_pv_ablation(c.series) and
           c.workload == workload and c.mode == mode and c.terms is not None]
    pref = PREFERRED_SERIES.get(engine, (engine,))
    got.sort(key=lambda c: (c.run != run, pref.index(c.series) if c.series in pref else len(pref), c.series))
    return got[0] if got else None


def _kvm_counts(cs, workload, prefer):
    """Per-op counts of the kvm cell whose exit counts model hardware: kvm@nested-tcg/npt (exact SVM
    semantics) first, then kvm@pvm. (counts, series) or (None, None)."""
    for series in prefer:
        for c in cs:
            if c.series == series and c.workload == workload and c.mode == "cold":
                return c.per_op, series
    return None, None


def modelled(run, table):
    """{aa_row: {...}} modelled per-op times [M] of the Adams & Agesen rows."""
    cs = decompose.cells(table)
    out = {}
    for row, w in AA_ROWS:
        bt = _cell(cs, "bt", w, run=run.name)
        pv = _cell(cs, "pv", w, run=run.name)
        m = {"workload": w}
        m["native"] = reference.native_tbk_ns(bt.per_op) if bt else None
        m["counts"] = bt.per_op if bt else {}
        m["bt"] = reference.bare_metal_ns(bt) if bt else None
        m["pv"] = reference.bare_metal_ns(pv) if pv else None
        m["series"] = {"bt": bt.series if bt else None, "pv": pv.series if pv else None}
        for npt, prefer in (("npt", ("kvm@nested-tcg/npt", "kvm@pvm", "kvm")),
                            ("shadow", ("kvm@nested-tcg/shadow",))):
            counts, src = _kvm_counts(cs, w, prefer)
            exits = counts is not None and (counts.get("kvm.exits", 0.0) > 0 or counts.get("host.kvm_run", 0.0) > 0)
            for plat in reference.VM_EXITS:
                key = "hw_%s_%s" % (plat, npt)
                # An op with no architectural event (a PTE store) has native-tbk ~ 0 beside its exits.
                m[key] = reference.hw_ns(counts, m["native"] or 0.0, plat) if counts is not None and \
                    (m["native"] or exits) else None
            m["hw_source_" + npt] = src
            m["hw_counts_" + npt] = counts or {}
        out[row] = m
    return out


def hw_first_gen(m):
    """The hardware VMM of Adams & Agesen had no nested paging: shadow-paging exit counts where a
    kvm@nested-tcg/shadow cell exists, else the npt (or kvm@pvm) ones."""
    return m.get("hw_VT-x_shadow") or m.get("hw_VT-x_npt")


def _covers(ms, engine):
    """A model column's header: the engine and the series its cells come from ("pv (pv@mprotect)")."""
    got = sorted({m["series"][engine] for m in ms.values() if m["series"].get(engine)})
    return _tex(engine) + (" {\\tiny(%s)}" % _tex(", ".join(got)) if got and got != [engine] else "")


def gen_model_repro(run, table, out):
    ms = modelled(run, table)
    lines = ["\\begin{tabular}{l rrrrrr rrr l}", "\\toprule",
             " & \\multicolumn{6}{c}{per operation [M]} & \\multicolumn{3}{c}{ratios [M], VT-x without npt} & \\\\",
             "\\cmidrule(lr){2-7}\\cmidrule(lr){8-10}",
             "workload & native-tbk & %s & %s & VT-x npt & VT-x no npt & AMD-V no npt & BT/nat & HW/nat & HW/BT & "
             "exit counts from \\\\" % tuple(_covers(ms, e) for e in ("bt", "pv")),
             "\\midrule"]
    for row, _w in AA_ROWS:
        m = ms[row]
        hw_npt, hw = m.get("hw_VT-x_npt"), hw_first_gen(m)
        nat, bt = m["native"], m["bt"]
        r = lambda a, b: a / b if a and b else None  # noqa: E731
        src = [x for x in (m.get("hw_source_npt"), m.get("hw_source_shadow")) if x]
        lines.append("%s & %s & %s & %s & %s & %s & %s & %s & %s & %s & %s \\\\" % (
            _tex(row), _ns(nat), _ns(bt), _ns(m["pv"]), _ns(hw_npt), _ns(m.get("hw_VT-x_shadow")),
            _ns(m.get("hw_AMD-V_shadow")), _ratio(r(bt, nat)),
            _ratio(r(hw, nat)), _ratio(r(hw, bt)), _tex(", ".join(src) or "---")))
    lines += ["\\bottomrule", "\\end{tabular}"]
    write(out, "model_repro.tex", "\n".join(lines) + "\n")
    return ms


def counts_behind(m):
    """'kvm 2.0 exits/op (1.0 to user space); bt 1.0 priv.in, 1.0 bt.tc_exits': the counts a modelled
    ordering rests on."""
    k = m.get("hw_counts_shadow") or m.get("hw_counts_npt") or {}
    parts = []
    if k:
        parts.append("kvm %.3g exits/op (%.3g to user space)" % (
            k.get("kvm.exits", 0.0), max(0.0, k.get("host.kvm_run", 0.0) - k.get("kvm.user.kicks", 0.0))))
    bt = m.get("counts") or {}
    top = sorted(((v, n) for n, v in bt.items() if v >= 0.01 and not n.endswith(("_ns", "_bytes"))
                  and not n.startswith(("timer.", "irq."))), reverse=True)[:3]
    if top:
        parts.append("bt " + ", ".join("%.3g %s" % (v, n) for v, n in top))
    return _tex("; ".join(parts)) if parts else "no counts"


def gen_orderings(run, ms, out):
    """Each ordering of Adams & Agesen, judged on the modelled [M] bare-metal/VT-x figures."""
    def first(m, keys):
        return [m.get(k) for k in keys]
    items = []

    def judge(text, ok, detail):
        verdict = "not judged (a figure is missing)" if ok is None else ("reproduced [M]" if ok else "\\textbf{not reproduced} [M]")
        items.append("\\item %s: %s. %s" % (text, verdict, detail))
    for row in ("syscall", "divzero"):
        m = ms[row]
        bt, hw = m["bt"], hw_first_gen(m)
        judge("HW beats BT on \\texttt{%s}" % row, None if not (bt and hw) else hw < bt,
              "Modelled HW %s vs bt %s per operation (exit counts from %s). Counts: %s." % (
                  _ns_prose(hw), _ns_prose(bt), _tex(m.get("hw_source_shadow") or m.get("hw_source_npt") or "no kvm cell"),
                  counts_behind(m)))
    for row in ("in", "cr8wr", "ptemod", "pgfault"):
        m = ms[row]
        bt, hw = m["bt"], hw_first_gen(m)
        judge("BT beats HW on \\texttt{%s}" % row, None if not (bt and hw) else bt < hw,
              "Modelled bt %s vs HW %s per operation. Counts: %s." % (_ns_prose(bt), _ns_prose(hw), counts_behind(m)))
    # callret is a user-mode loop: the host-native program is the same code, so the measured ratio decides.
    r = run.ratio("bt", "micro_callret", "native")
    items.append("\\item BT loses on \\texttt{callret}: %s. Measured bt/host-native %s (a user-mode loop; "
                 "%s indirect-branch lookups per call)." % (
                     "not judged (no measurement)" if r is None else ("reproduced" if r > 1 else "\\textbf{not reproduced}"),
                     _ratio(r),
                     _tex("%.3g" % run.counters_per_op(run.engine_key("bt", "micro_callret")).get(
                         "bt.indirect_lookup_miss", 0.0)) if run.engine_key("bt", "micro_callret") else "---"))
    m = ms["forkwait"]
    nat, bt, hw = m["native"], m["bt"], hw_first_gen(m)
    ok = None if not (nat and bt and hw) else nat < bt < hw
    judge("forkwait: native $<$ BT $<$ HW", ok, "Modelled native-tbk %s (a lower bound), bt %s, HW %s per "
          "fork+wait. Counts: %s." % (_ns_prose(nat), _ns_prose(bt), _ns_prose(hw), counts_behind(m)))
    write(out, "orderings.tex", "\\begin{itemize}\n" + "\n".join(items) + "\n\\end{itemize}\n")


def generate(run, out):
    table = companions(run)
    gen_calibration(run, out)
    s = gen_validation(run, table, out)
    gen_reference(out)
    ms = gen_model_repro(run, table, out)
    gen_orderings(run, ms, out)
    return s, ms
