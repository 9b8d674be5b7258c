#!/usr/bin/python3
# tags: analysis|paper — desc: generates every run-derived number, table and figure of the paper into .tex includes.
"""Write paper/ includes from one results run: nothing in the paper that comes
from a run is typed by hand.

Outputs (in OUT/generated/):
  env.tex          platform macros (\\vtbCpu, \\vtbKernel, ...)
  numbers.tex      \\vtbNs{engine}{workload}, \\vtbRatio{engine}{workload}{baseline},
                   \\vtbReps, \\vtbCells, \\vtbLost ...
  micro_table.tex  per-op medians with 95 % bootstrap intervals (micro group)
  macro_table.tex  slowdowns vs host-native and vs QEMU TCG (macro group)
  repro_table.tex  our ratios beside Adams & Agesen 2006 and Xen 2003
  counters_table.tex  the dominant counters per op of each cell (the "why")
  findings.tex     generated sentences comparing our ratios with the published ones
  lost_cells.tex   cells that were skipped or lost, with reasons
  census_table.tex the sensitive-instruction census (when the run has one)
  *.pdf            the figures (analysis/plots.py)

A run merged from shards (vtb merge) on hosts of different kinds is never
pooled: the paper is about one host kind, the one with the most measured rows
unless --host-kind names another; its platform macros come from that kind's
shard.

Usage: /usr/bin/python3 analysis/paper_tex.py [--run DIR] --out OUT [--host-kind K]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import anchors  # noqa: E402
import decompose  # noqa: E402
import paper_model  # noqa: E402
import plots  # noqa: E402
import stats  # noqa: E402
import tidy  # noqa: E402

MICRO_ORDER = ["syscall", "in", "out", "cr8wr", "cr3", "callret", "pgfault", "divzero", "ptemod",
               "cpuid", "rdtsc", "clisti", "pushfpopf", "invlpg", "hlt", "hypercall"]


def tex(s):
    s = str(s)
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#"),
                 ("$", r"\$"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\^{}")):
        s = s.replace(a, b)
    return s


def num(x, digits=3):
    """3 significant digits, thousands grouped with a thin space; '---' for None/NaN."""
    if x is None or x != x:
        return "---"
    ax = abs(x)
    if ax >= 1000:
        s = "{:,.0f}".format(x).replace(",", "\\,")
    elif ax >= 100:
        s = "%.0f" % x
    elif ax >= 10:
        s = "%.1f" % x
    elif ax >= 1:
        s = "%.2f" % x
    elif ax == 0:
        s = "0"
    else:
        s = "%.*g" % (digits, x)
    return s


def ratio(x):
    return "---" if x is None or x != x else num(x) + r"$\times$"


def _time_unit(ns):
    for div, unit in ((1e9, "\\,s"), (1e6, "\\,ms"), (1e3, "\\,\\textmu s")):
        if abs(ns) >= div:
            return div, unit
    return 1.0, "\\,ns"


def fmt_time_ns(ns):
    if ns is None or ns != ns:
        return "---"
    div, unit = _time_unit(ns)
    return num(ns / div) + unit


def fmt_time_ci(m, lo, hi):
    """'1.53 us [1.50, 1.56]': the interval in the median's unit."""
    if m is None or m != m:
        return "---"
    div, unit = _time_unit(m)
    return "%s%s {\\tiny[%s, %s]}" % (num(m / div), unit, num(lo / div), num(hi / div))


# Environment fields that describe a host: for a merged run they come from a shard of the paper's host kind.
HOST_FIELDS = ("host", "cpu_model", "cpu_count", "kernel", "kvm_backend", "running_under_hypervisor", "clocksource",
               "load_average_start", "load_average_end", "compiler", "cxx_flags", "build_type", "calibration")


class Run:
    def __init__(self, path, host_kind=None):
        self.path = path
        self.name = os.path.basename(os.path.normpath(path))
        table = tidy.load([path])
        self.kinds = table.host_kinds()
        if host_kind and host_kind not in self.kinds:
            raise ValueError("%s has no cells of host kind '%s' (kinds: %s)" % (path, host_kind, "; ".join(self.kinds)))
        self.host_kind = host_kind or (self.kinds[0] if self.kinds else "")
        self.table = table.of_host_kind(self.host_kind) if self.kinds else table
        self.env = dict(self.table.runs.get(self.name, {}))
        for shard in self.env.get("shards", []):
            if tidy.host_kind(shard) == self.host_kind:
                self.env.update({k: shard[k] for k in HOST_FIELDS if k in shard})
                break
        self.med = plots.cell_medians(self.table)
        self.samples = plots.cell_samples(self.table)
        self.groups = {}
        for r in self.table.rows:
            self.groups[r["workload"]] = r["group"]
        self.flagged = plots.contradicting_baselines(self.table)

    def wname(self, w):
        """A workload's name in a table, with a dagger when its host-native baseline contradicts itself."""
        return tex(w) + ("\\textsuperscript{\\dag}" if w in self.flagged else "")

    def series(self):
        return plots._series_order(k[:3] for k in self.med)

    def engine_key(self, engine, workload, mode="cold"):
        """The (engine, backend, mode, workload) key of an engine's cell: its preferred backend
        (paper_model.PREFERRED_SERIES: pv's default protection mode) first, never an ablation, else
        the first backend by name."""
        pref = paper_model.PREFERRED_SERIES.get(engine, (engine,))
        ks = [k for k in self.med if k[0] == engine and k[2] == mode and k[3] == workload]
        ks.sort(key=lambda k: (decompose.is_pv_ablation(k[1]), pref.index(k[1]) if k[1] in pref else len(pref), k[1]))
        return ks[0] if ks else None

    def series_ratio(self, series, workload, baseline):
        """Ratio of medians of one series' cell (engine, backend, mode) to the baseline engine's cold cell."""
        a, b = tuple(series) + (workload,), self.engine_key(baseline, workload, "cold")
        if a not in self.samples or not b:
            return None
        return stats.ratio_ci(self.samples[a], self.samples[b])[0]

    def median(self, engine, workload, mode="cold"):
        k = self.engine_key(engine, workload, mode)
        return self.med[k][0] if k else None

    def ratio(self, engine, workload, baseline, mode="cold"):
        a = self.engine_key(engine, workload, mode)
        b = self.engine_key(baseline, workload, "cold")
        if not a or not b:
            return None
        return stats.ratio_ci(self.samples[a], self.samples[b])[0]

    def workloads(self, group):
        ws = sorted({k[3] for k in self.med if self.groups.get(k[3]) == group})
        order = {w: i for i, w in enumerate(MICRO_ORDER)}
        return sorted(ws, key=lambda w: (order.get(w[6:] if w.startswith("micro_") else w, 99), w))

    def counters_per_op(self, key):
        """{counter: median per op} for one cell key."""
        per = {}
        for r in self.table.rows:
            if (r["engine"], r["backend"], r["mode"], r["workload"]) == key and r["metric"].endswith("/op"):
                per.setdefault(r["metric"][:-3], []).append(r["value"])
        return {c: stats.median(v) for c, v in per.items()}

    def dominant(self, key, k=3):
        c = self.counters_per_op(key)
        top = sorted(((v, n) for n, v in c.items() if v > 0 and plots.is_event_counter(n)), reverse=True)[:k]
        return ", ".join("%s %s" % (num(v), tex(n)) for v, n in top) or "none recorded"


def write(out, name, text):
    with open(os.path.join(out, name), "w") as f:
        f.write(text)


def gen_env(run, out):
    e = run.env
    m = {"vtbRunName": run.name, "vtbDate": e.get("date", "?"), "vtbHost": e.get("host", "?"),
         "vtbCpu": e.get("cpu_model", "?"), "vtbCpuCount": str(e.get("cpu_count", "?")),
         "vtbKernel": " ".join(e.get("kernel", "?").split()[:2]), "vtbKvmBackend": e.get("kvm_backend", "?"),
         "vtbCompiler": e.get("compiler", "?"), "vtbCxxFlags": e.get("cxx_flags", "?"),
         "vtbBuildType": e.get("build_type", "?"), "vtbCommit": e.get("commit", "?") + ("+dirty" if e.get("commit_dirty") else ""),
         "vtbLoadStart": e.get("load_average_start", "?"), "vtbLoadEnd": e.get("load_average_end", "?"),
         "vtbSuite": "quick" if e.get("quick") else "default", "vtbBenchSeconds": num(e.get("bench_seconds")),
         "vtbUnderHypervisor": e.get("running_under_hypervisor", "?"), "vtbClocksource": e.get("clocksource", "?") or "?",
         "vtbHostKind": run.host_kind or "?", "vtbOtherHostKinds": str(max(0, len(run.kinds) - 1)),
         "vtbShards": str(e.get("shards_count", 1))}
    write(out, "env.tex", "".join("\\newcommand{\\%s}{%s}\n" % (k, tex(v) if k != "vtbBenchSeconds" else v) for k, v in m.items()))


def gen_numbers(run, out):
    lines = ["% generated by analysis/paper_tex.py from results/" + run.name,
             "\\makeatletter",
             "\\newcommand{\\vtbNs}[2]{\\@ifundefined{vtb@ns@#1@#2}{---}{\\@nameuse{vtb@ns@#1@#2}}}",
             "\\newcommand{\\vtbRatio}[3]{\\@ifundefined{vtb@r@#1@#2@#3}{---}{\\@nameuse{vtb@r@#1@#2@#3}}}"]
    engines = sorted({k[0] for k in run.med})
    for k, (m, lo, hi, n) in sorted(run.med.items()):
        if k[2] != "cold":
            continue
        lines.append("\\@namedef{vtb@ns@%s@%s}{%s}" % (k[0], k[3], fmt_time_ns(m)))
        for base in ("native", "qemu-tcg"):
            r = run.ratio(k[0], k[3], base)
            if r is not None and k[0] != base:
                lines.append("\\@namedef{vtb@r@%s@%s@%s}{%s}" % (k[0], k[3], base, ratio(r)))
    reps = sorted({v[3] for v in run.med.values()})
    cells = len(run.med)
    lines += ["\\makeatother",
              "\\newcommand{\\vtbReps}{%s}" % ("--".join(str(x) for x in (reps[0], reps[-1])) if reps and reps[0] != reps[-1] else (str(reps[0]) if reps else "0")),
              "\\newcommand{\\vtbCells}{%d}" % cells,
              "\\newcommand{\\vtbLost}{%d}" % len({(e["engine"], e["backend"], e["mode"], e["workload"]) for e in run.table.errors}
                                                   - set(run.med)),
              "\\newcommand{\\vtbEngines}{%s}" % tex(", ".join(engines) or "none"),
              "\\newcommand{\\vtbWorkloadCount}{%d}" % len({k[3] for k in run.med})]
    write(out, "numbers.tex", "\n".join(lines) + "\n")


def gen_micro_table(run, out, group="micro"):
    ws = run.workloads(group)
    series = run.series()
    if not ws or not series:
        write(out, "%s_table.tex" % group, "\\emph{No %s results in this run.}\n" % group)
        return
    cols = "l" + "r" * len(series)
    lines = ["\\begin{tabular}{%s}" % cols, "\\toprule",
             "workload & " + " & ".join(tex(plots.series_label(*s)) for s in series) + " \\\\", "\\midrule"]
    for w in ws:
        cells = []
        for s in series:
            m = run.med.get(s + (w,))
            if not m:
                cells.append("---")
            else:
                cells.append(fmt_time_ci(m[0], m[1], m[2]) if m[3] >= stats.MIN_CI_REPS else fmt_time_ns(m[0]))
        lines.append(run.wname(w) + " & " + " & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    write(out, "%s_table.tex" % group, "\n".join(lines) + "\n")


def gen_macro_table(run, out):
    ws = run.workloads("macro")
    series = [s for s in run.series() if s[0] != "native"]
    if not ws or not series:
        write(out, "macro_table.tex", "\\emph{No macro results in this run.}\n")
        return
    lines = ["\\begin{tabular}{ll" + "r" * 3 + "}", "\\toprule",
             "workload & series & per op & vs native & vs QEMU TCG \\\\", "\\midrule"]
    nat = {w: run.median("native", w) for w in ws}
    for w in ws:
        lines.append("%s & native & %s & 1$\\times$ & \\\\" % (run.wname(w), fmt_time_ns(nat[w])) if nat[w] else "%s & native & --- & & \\\\" % tex(w))
        for s in series:
            k = s + (w,)
            if k not in run.med:
                continue
            rn = stats.ratio_ci(run.samples[k], run.samples[run.engine_key("native", w)])[0] if run.engine_key("native", w) else None
            rq = stats.ratio_ci(run.samples[k], run.samples[run.engine_key("qemu-tcg", w)])[0] if run.engine_key("qemu-tcg", w) else None
            lines.append(" & %s & %s & %s & %s \\\\" % (tex(plots.series_label(*s)), fmt_time_ns(run.med[k][0]), ratio(rn), ratio(rq)))
    lines += ["\\bottomrule", "\\end{tabular}"]
    write(out, "macro_table.tex", "\n".join(lines) + "\n")


# Published row -> the manifest workloads that measure the same operation (first present wins).
REPRO_ROWS = [("syscall", ["micro_syscall", "syscall", "syscall_loop"]), ("in", ["micro_in", "in"]),
              ("cr8wr", ["micro_cr8wr", "cr8wr"]), ("callret", ["micro_callret", "callret"]),
              ("pgfault", ["micro_pgfault", "pgfault"]), ("divzero", ["micro_divzero", "divzero"]),
              ("ptemod", ["micro_ptemod", "ptemod"]), ("forkwait", ["forkwait"]), ("ctxswitch", ["ctxswitch"])]


def ours_workload(run, candidates):
    present = {k[3] for k in run.med}
    for w in candidates:
        if w in present:
            return w
    return candidates[0]


def _ours(run, engine, w, base):
    if base == "native" and run.engine_key("native", w) is None:
        return None
    return run.ratio(engine, w, base)


def gen_repro_table(run, out, ms=None):
    """Published ratios, ours measured, and the modelled [M] hardware-assist columns (paper_model)."""
    ms = ms or {}
    lines = ["\\begin{tabular}{l ccc cc cccccc ccc}", "\\toprule",
             " & \\multicolumn{3}{c}{Adams \\& Agesen 2006} & \\multicolumn{2}{c}{Xen 2003 (lmbench)} & \\multicolumn{6}{c}{this run (measured)} & \\multicolumn{3}{c}{modelled [M]} \\\\",
             "\\cmidrule(lr){2-4}\\cmidrule(lr){5-6}\\cmidrule(lr){7-12}\\cmidrule(lr){13-15}",
             "workload & BT/nat & HW/nat & HW/BT & Xen/nat & VMW/nat & bt/nat & pv/nat & kvm/nat & kvm/bt & TCG/nat & bt/TCG & BT/nat & HW/nat & HW/BT \\\\", "\\midrule"]
    for w, candidates in REPRO_ROWS:
        ow = ours_workload(run, candidates)
        tag = anchors.aa_tag(w)
        aa = [anchors.aa_ratio(w, "bt", "native"), anchors.aa_ratio(w, "hw", "native"), anchors.aa_ratio(w, "hw", "bt")]
        aa_s = [ratio(x) + ("\\,[%s]" % tag if x is not None and tag else "") for x in aa]
        if w == "syscall":
            aa_s = ["+2000\\,cyc [V]", "1$\\times$ [V]", "---"]
        xr = anchors.XEN_LMBENCH.get(w)
        xs = [ratio(anchors.xen_ratio(w, "xen")) + " [R]", ratio(anchors.xen_ratio(w, "vmw")) + " [R]"] if xr else ["---", "---"]
        ours = [_ours(run, "bt", ow, "native"), _ours(run, "pv", ow, "native"), _ours(run, "kvm", ow, "native"),
                run.ratio("kvm", ow, "bt"), _ours(run, "qemu-tcg", ow, "native"), run.ratio("bt", ow, "qemu-tcg")]
        name = (tex(w) if ow == w else "%s ({\\small %s})" % (tex(w), tex(ow))) + \
            ("\\textsuperscript{\\dag}" if ow in run.flagged else "")
        m = ms.get(w, {})
        nat, bt, hw = m.get("native"), m.get("bt"), paper_model.hw_first_gen(m)
        mod = [bt / nat if bt and nat else None, hw / nat if hw and nat else None, hw / bt if hw and bt else None]
        mod_s = [ratio(x) + ("\\,[M]" if x is not None else "") for x in mod]
        lines.append(name + " & " + " & ".join(aa_s + xs + [ratio(x) for x in ours] + mod_s) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    write(out, "repro_table.tex", "\n".join(lines) + "\n")


def gen_counters_table(run, out):
    """The appendix: every measured cell's dominant counters per operation, as a longtable (the full
    counts stay in the results' bench.json)."""
    rows = []
    for w in run.workloads("micro") + run.workloads("macro"):
        for s in run.series():
            k = s + (w,)
            if k in run.med and s[0] != "native" and run.counters_per_op(k):
                rows.append("%s & %s & %s \\\\" % (tex(w), tex(plots.series_label(*s)), run.dominant(k, 4)))
    if not rows:
        write(out, "counters_table.tex", "\\emph{No counters recorded in this run.}\n")
        return
    silent = sorted({plots.series_label(*k[:3]) for k in run.med if not run.counters_per_op(k)})
    head = ["\\begin{longtable}{p{0.2\\linewidth}p{0.16\\linewidth}p{0.56\\linewidth}}",
            "\\caption{The dominant counters per operation of every measured cell (the full counts are in the "
            "results' \\texttt{bench.json}).}\\label{tab:counters}\\\\",
            "\\toprule", "workload & series & dominant counters per operation \\\\", "\\midrule", "\\endfirsthead",
            "\\toprule", "workload & series & dominant counters per operation (continued) \\\\", "\\midrule",
            "\\endhead", "\\bottomrule", "\\endfoot"]
    if silent:
        rows.append("\\midrule\\multicolumn{3}{l}{\\emph{No counters recorded by: %s.}} \\\\" % tex(", ".join(silent)))
    write(out, "counters_table.tex", "\n".join(head + rows + ["\\end{longtable}"]) + "\n")


def gen_findings(run, out):
    """Sentences with generated numbers; the prose around them is in paper.tex."""
    s = []
    for pub_w, candidates in REPRO_ROWS:
        w = ours_workload(run, candidates)
        parts = []
        has_native = run.engine_key("native", w) is not None
        base = "native" if has_native else "qemu-tcg"
        # every series of the run (engines and backends it has never seen included), cold rows; the
        # published figure beside the engine it was measured for
        for ser in [x for x in run.series() if x[2] == "cold" and x[0] not in ("native", base)]:
            pub = "bt" if ser[1] == "bt" else "hw" if ser[0] == "kvm" else None
            r = run.series_ratio(ser, w, base)
            if r is None:
                continue
            p = anchors.aa_ratio(pub_w, pub, "native") if pub and has_native else None
            txt = "%s %s %s" % (tex(plots.series_label(*ser)), ratio(r), "native" if has_native else "QEMU TCG")
            if p is not None:
                txt += " (published %s %s)" % ("BT" if pub == "bt" else "HW", ratio(p))
            txt += ", with %s per operation" % run.dominant(tuple(ser) + (w,), 2)
            parts.append(txt)
        if parts:
            s.append("\\item \\textbf{%s}: %s." % (tex(w), "; ".join(parts)))
    body = "\\begin{itemize}\n" + "\n".join(s) + "\n\\end{itemize}\n" if s else \
        "\\emph{This run has no workload measured both on an engine and on the host-native baseline.}\n"
    write(out, "findings.tex", body)


def gen_baselines(run, out):
    """The self-contradicting baselines, named with their reason (the daggers of the tables and figures)."""
    if not run.flagged:
        write(out, "baselines.tex", "No host-native baseline of this run is slower than QEMU TCG.\n")
        return
    items = ["%s (%s)" % (tex(w), tex(why)) for w, why in sorted(run.flagged.items())]
    write(out, "baselines.tex", "\\textsuperscript{\\dag}~Baselines that contradict themselves: the host-native "
          "program is slower than the same program under QEMU TCG, so the host's own path (a host instruction that "
          "traps to the outer hypervisor, a host kernel path emulation skips) is what such a ratio measures: "
          + "; ".join(items) + ".\n")


def gen_lost(run, out):
    seen = {}
    for e in run.table.errors:
        seen.setdefault((e["engine"], e["backend"], e["workload"], e["mode"]), e["message"])
    if not seen:
        write(out, "lost_cells.tex", "No cell was skipped or lost.\n")
        return
    by_reason = {}
    for (eng, _b, w, mode), msg in sorted(seen.items()):
        by_reason.setdefault((eng, msg), []).append(w + ("" if mode == "cold" else " (%s)" % mode))
    lines = ["\\begin{itemize}\\small"]
    for (eng, msg), ws in sorted(by_reason.items()):
        lines.append("\\item \\texttt{%s}, %d cell%s (%s): %s" % (tex(eng), len(ws), "" if len(ws) == 1 else "s",
                                                           tex(", ".join(ws[:8]) + (", ..." if len(ws) > 8 else "")), tex(msg[:200])))
    lines.append("\\end{itemize}")
    write(out, "lost_cells.tex", "\n".join(lines) + "\n")


def gen_census(run, out):
    census = run.table.census.get(run.name)
    if not census:
        write(out, "census_text.tex", "This run has no census results (the census group did not run).\n")
        write(out, "census_table.tex", "\\emph{no census results in this run}\n")
        return
    rows, cols = plots.census_matrix(census)
    ok = sum(1 for r in rows.values() for v in r.values() if v == "ok")
    total = sum(len(r) for r in rows.values())
    write(out, "census_text.tex",
          "Table~\\ref{tab:census} runs each sensitive instruction of Robin and Irvine~\\cite{robin00} in the guest kernel and in "
          "guest user mode on every engine that ran the census; ``ok'' means the guest saw its own (virtual) state, "
          "``trap:$n$'' that it took exception $n$ instead. %d of %d checks were ok in this run.\n" % (ok, total))
    lines = ["\\begin{tabular}{l" + "c" * len(cols) + "}", "\\toprule",
             "instruction & " + " & ".join("%s %s" % (tex(e), tex(w)) for e, w in cols) + " \\\\", "\\midrule"]
    for insn in sorted(rows):
        lines.append(tex(insn) + " & " + " & ".join(tex(rows[insn].get(c, "---")) for c in cols) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    write(out, "census_table.tex", "\n".join(lines) + "\n")


def generate(run_dir, out_dir, host_kind=None):
    gen = os.path.join(out_dir, "generated")
    os.makedirs(gen, exist_ok=True)
    run = Run(run_dir, host_kind)
    gen_env(run, gen)
    gen_numbers(run, gen)
    gen_micro_table(run, gen, "micro")
    gen_macro_table(run, gen)
    _, ms = paper_model.generate(run, gen)
    gen_repro_table(run, gen, ms)
    gen_counters_table(run, gen)
    gen_findings(run, gen)
    gen_lost(run, gen)
    gen_baselines(run, gen)
    gen_census(run, gen)
    info = plots.make_all(run.table, gen, "pdf", companions=paper_model.companions(run))
    return run, info


def main(argv=None):
    ap = argparse.ArgumentParser(description="Generate the paper's includes from one results run.")
    ap.add_argument("--run", help="results folder (default: newest under results/)")
    ap.add_argument("--out", required=True, help="output folder; includes go to OUT/generated/")
    ap.add_argument("--host-kind", help="the host kind the paper is about (default: the one with the most rows)")
    args = ap.parse_args(argv)
    run = args.run or tidy.latest_run([tidy.default_results_dir()])
    if not run or not tidy.is_run_dir(run):
        print("paper_tex: no results folder (with bench.json): %s" % (run or "results/ is empty"), file=sys.stderr)
        return 2
    try:
        r, info = generate(run, args.out, args.host_kind)
    except ValueError as e:
        print("paper_tex: %s" % e, file=sys.stderr)
        return 2
    print("paper_tex: %s -> %s/generated (%d cells, %d lost%s)" % (
        r.name, args.out, len(r.med), len(r.table.errors),
        "; host kind %s, %d other kind(s) left out" % (r.host_kind, len(r.kinds) - 1) if len(r.kinds) > 1 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
