#!/usr/bin/python3
# tags: analysis|plots — desc: the paper's figures from one results folder (matplotlib, Agg, PDF/PNG).
"""Figures from one vtb results run (default: the newest under results/).

  micro_per_op    per-op cost per engine, log scale, the micro group
  decomposition_<group>  per cell: Σ host count × calibrated unit cost, by kind, and the remainder
                  (analysis/decompose.py), one panel per workload, micro and macro groups
  macro_slowdown  slowdown vs the host-native build, the macro group

One series = one (engine, backend, mode): backends are never mixed in a
series. Bars are medians over repetitions; whiskers are 95 % bootstrap
confidence intervals of the median (analysis/stats.py), drawn only for cells
with at least 3 repetitions. Warm rows are a lighter shade of the engine's
colour with black hatching; a missing cell is an 'x' on the axis; a bar far
above the rest is cut at the axis top and labelled with its value. Host kinds are never
mixed either: a run merged from shards on different kinds of host gets one
set of figures per kind (OUT/<host kind>/), or the one --host-kind names.

Usage: /usr/bin/python3 analysis/plots.py [--run DIR] [--out DIR] [--format pdf|png] [--host-kind K]
"""
import argparse
import os
import re
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.colors  # noqa: E402
import matplotlib.lines  # noqa: E402
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stats  # noqa: E402
import decompose  # noqa: E402
import tidy  # noqa: E402

TIME_METRIC = "ns_per_op"
PEERS = ("native", "qemu-tcg")


def series_label(engine, backend, mode):
    """'bt', 'kvm@pvm', 'qemu-tcg warm': the backend label names the series (never mixed)."""
    if not backend or backend == engine:
        lab = engine
    elif backend.startswith(engine):
        lab = backend
    else:
        lab = "%s (%s)" % (engine, backend)
    return lab + (" warm" if mode == "warm" else "")


def cell_medians(table, metric=TIME_METRIC, group=None):
    """{(engine, backend, mode, workload): (median, lo, hi, n)} for `metric`."""
    samples = {}
    for r in table.rows:
        if r["metric"] != metric or (group and r["group"] != group):
            continue
        samples.setdefault((r["engine"], r["backend"], r["mode"], r["workload"]), []).append(r["value"])
    return {k: stats.median_ci(v) + (len(v),) for k, v in samples.items()}


def cell_samples(table, metric=TIME_METRIC, group=None):
    out = {}
    for r in table.rows:
        if r["metric"] == metric and (not group or r["group"] == group):
            out.setdefault((r["engine"], r["backend"], r["mode"], r["workload"]), []).append(r["value"])
    return out


def _series_order(keys):
    """Peers first (native, qemu-tcg), then engines by name; cold before warm."""
    def k(s):
        engine, backend, mode = s
        return (0 if engine == "native" else 1 if engine == "qemu-tcg" else 2, engine, backend, mode != "cold")
    return sorted(set(keys), key=k)


_ENGINE_COLOR = {"native": "C0", "qemu-tcg": "C1", "bt": "C2", "pv": "C3", "kvm": "C4", "bt-direct": "C8"}


def series_color(engine, backend, mode):
    """The same color for a series in every figure (warm rows a lighter hatch of it)."""
    if engine in _ENGINE_COLOR and backend in ("", engine):
        return _ENGINE_COLOR[engine]
    return "C%d" % (5 + sum(map(ord, backend or engine)) % 5)


def _lighter(color, f=0.55):
    r, g, b, _ = matplotlib.colors.to_rgba(color)
    return (r + (1 - r) * f, g + (1 - g) * f, b + (1 - b) * f)


OUTLIER_FACTOR = 30.0  # a bar this many times above the 90th percentile of the figure gets its own label


def _bars(ax, workloads, series, med, log, flagged=()):
    """Grouped bars: cold solid in the engine's colour, warm a lighter shade with black hatching, every bar
    with a black edge; a missing cell is an 'x' on the axis; a bar far above the rest is cut at the axis
    top and labelled with its value; whiskers only where the cell has an interval (>= 3 repetitions)."""
    n = max(1, len(series))
    width = 0.8 / n
    x = np.arange(len(workloads))
    vals = [m[0] for m in med.values() if m and m[0] == m[0] and m[0] > 0]
    top = None
    if vals and log:
        p90 = float(np.percentile(vals, 90))
        if max(vals) > OUTLIER_FACTOR * p90:
            top = OUTLIER_FACTOR * p90
    cut = {}  # workload index -> the largest value cut at the axis top
    for i, s in enumerate(series):
        ys, lo, hi, missing = [], [], [], []
        for j, w in enumerate(workloads):
            m = med.get(s + (w,))
            if m is None or not (m[0] == m[0]):
                ys.append(np.nan); lo.append(0); hi.append(0); missing.append(j)
            else:
                ys.append(m[0])
                lo.append(max(0.0, m[0] - m[1]) if m[1] == m[1] else 0.0)
                hi.append(max(0.0, m[2] - m[0]) if m[2] == m[2] else 0.0)
        xs = x + (i - (n - 1) / 2) * width
        warm = s[2] == "warm"
        color = series_color(*s)
        shown = [min(y, top) if top and y == y else y for y in ys]
        ax.bar(xs, shown, width, yerr=[lo, hi], capsize=2, label=series_label(*s),
               color=_lighter(color) if warm else color, edgecolor="black", linewidth=0.5,
               hatch="////" if warm else None, error_kw={"elinewidth": 0.6})
        for j in missing:
            ax.plot(xs[j], 0, marker="x", color="black", markersize=3, transform=ax.get_xaxis_transform(),
                    clip_on=False)
        if top:
            for j, y in enumerate(ys):
                if y == y and y > top:
                    cut[j] = max(cut.get(j, 0.0), y)
    ax.set_xticks(x)
    ax.set_xticklabels([_tick(w, flagged) for w in workloads], rotation=40, ha="right", fontsize=7)
    if log:
        ax.set_yscale("log")
    if top:
        ax.set_ylim(top=top * 4)
        for j, y in cut.items():  # one label per cut group, above its bars
            ax.text(x[j], top * 1.4, "up to %s (cut)" % (("%.3g ms" % (y / 1e6)) if y >= 1e6 else "%.3g us" % (y / 1e3)),
                    ha="center", va="bottom", fontsize=5.5)
    ax.plot([], [], "x", color="black", markersize=3, label="not measured")
    ax.legend(fontsize=6, ncol=5, loc="lower left", bbox_to_anchor=(0.0, 1.01), frameon=False)


def contradicting_baselines(table, group=None):
    """{workload: reason} where the host-native baseline contradicts itself: slower than QEMU TCG (the
    host's own path is slow, e.g. a host instruction that traps to the outer hypervisor, or a host
    kernel path emulation skips). Ratios against such a baseline are flagged (a dagger) in the figures,
    the tables and the paper."""
    med = cell_medians(table, TIME_METRIC, group)
    out = {}
    for (engine, backend, mode, w), m in med.items():
        if engine != "native" or mode != "cold":
            continue
        tcg = [v for k, v in med.items() if k[0] == "qemu-tcg" and k[2] == "cold" and k[3] == w]
        if tcg and m[0] > tcg[0][0]:
            out[w] = "host-native %.3gx slower than QEMU TCG" % (m[0] / tcg[0][0])
    return out


def _tick(w, flagged):
    return (w[6:] if w.startswith("micro_") else w) + (" \u2020" if w in flagged else "")


def plot_micro_per_op(table, out_path, group="micro"):
    """Per-op time per series, log scale. Returns {'series': [...labels], 'workloads': [...]}."""
    med = cell_medians(table, TIME_METRIC, group)
    workloads = sorted({k[3] for k in med})
    series = _series_order(k[:3] for k in med)
    fig, ax = plt.subplots(figsize=(10, 3.4))
    if workloads:
        flagged = contradicting_baselines(table, group)
        _bars(ax, workloads, series, med, log=True, flagged=flagged)
        ax.set_ylabel("time per operation (ns, log)")
        if flagged:
            ax.text(1.0, -0.45, "\u2020 host-native baseline slower than QEMU TCG", transform=ax.transAxes,
                    ha="right", fontsize=6)
    else:
        ax.text(0.5, 0.5, "no %s results in this run" % group, ha="center", va="center")
    ax.set_title("Per-operation cost, %s workloads" % group, fontsize=9, pad=30)
    fig.tight_layout()
    fig.savefig(out_path)
    plt.close(fig)
    return {"series": [series_label(*s) for s in series], "workloads": workloads}


def is_event_counter(name):
    """Counts of events; excludes accumulated durations (*_ns), sizes (*_bytes) and the gauges older
    results hold per op (tidy.LEGACY_GAUGES; newer ones are no "/op" metric at all)."""
    return not name.endswith(("_ns", "_bytes")) and name not in tidy.LEGACY_GAUGES


def counter_matrix(table, group="micro", max_counters=12, min_per_op=0.01):
    """Rows (series label, workload), columns counter names, values = median count per op."""
    per = {}
    for r in table.rows:
        if r["group"] != group or not r["metric"].endswith("/op") or not is_event_counter(r["metric"][:-3]):
            continue
        key = (series_label(r["engine"], r["backend"], r["mode"]), r["workload"])
        per.setdefault(key, {}).setdefault(r["metric"][:-3], []).append(r["value"])
    rows = sorted(per)
    peak = {}
    for key in rows:
        for c, vs in per[key].items():
            peak[c] = max(peak.get(c, 0.0), float(np.median(vs)))
    cols = [c for c, v in sorted(peak.items(), key=lambda kv: (-kv[1], kv[0])) if v >= min_per_op][:max_counters]
    cols.sort()
    data = np.full((len(rows), len(cols)), np.nan)
    for i, key in enumerate(rows):
        for j, c in enumerate(cols):
            if c in per[key]:
                data[i, j] = float(np.median(per[key][c]))
    return rows, cols, data


# The order of the series that exist (any other series follows, by name: none is dropped).
DECOMP_SERIES = ("bt", "bt-direct", "bt-softmmu", "pv", "pv@mprotect", "pv@2as", "pv@pkeys", "pv-unprotected", "pv@off",
                 "kvm@pvm", "kvm")


def fmt_ns_short(ns):
    for div, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "\u00b5s")):
        if ns >= div:
            return "%.3g%s" % (ns / div, unit)
    return "%.3gns" % ns


def plot_decomposition(table, out_path, group="micro", companions=None):
    """Small multiples, one panel per workload: a 100 %-stacked bar per engine (cold rows) of the host
    share by kind (counts x calibrated unit costs) and the remainder, the time per op printed above;
    a black tick marks the measured time (below the stack top when the counts, which include boot,
    price more than the loop's time). `companions`: a table holding the same runs
    and others (a --scale 2 run gives the loop's own counts, decompose.loop_counts). Returns {'workloads', 'series', 'components'}."""
    runs = set(table.runs)
    cs = [c for c in decompose.cells(companions or table)
          if c.run in runs and c.group == group and c.mode == "cold" and c.terms is not None]
    workloads = sorted({c.workload for c in cs})
    series = [s for s in DECOMP_SERIES if any(c.series == s for c in cs)]
    series += sorted({c.series for c in cs} - set(series))
    comps = [k for k in decompose.COMPONENTS if any(c.terms.get(k) for c in cs)]
    cmap = plt.get_cmap("tab10")
    colors = {k: cmap(i % 10) for i, k in enumerate(comps)}
    ncol = 6 if len(workloads) > 8 else 3
    nrow = max(1, -(-len(workloads) // ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(7.0, 1.55 * nrow + 0.6), squeeze=False)
    for ax in axes.flat[len(workloads):]:
        ax.set_axis_off()
    if not workloads:
        axes[0][0].text(0.5, 0.5, "no %s cells with host counts and a calibration" % group, ha="center",
                        va="center", transform=axes[0][0].transAxes)
    for ax, w in zip(axes.flat, workloads):
        cell = {c.series: c for c in cs if c.workload == w}
        for i, s in enumerate(series):
            c = cell.get(s)
            if c is None:
                ax.plot(i, 0.02, marker="x", color="black", markersize=4)
                continue
            # 100 % = the larger of the measured time and the host share (counts that include boot
            # can price more than the loop took: then the black tick sits below the top).
            whole = max(c.time_ns, c.host_ns) or 1.0
            bottom = 0.0
            for k in comps:
                v = c.terms.get(k, 0.0) / whole
                if v > 0:
                    ax.bar(i, v, 0.72, bottom=bottom, color=colors[k], edgecolor="black", linewidth=0.3)
                    bottom += v
            rest = c.remainder_ns / whole
            if rest > 0:
                ax.bar(i, rest, 0.72, bottom=bottom, color="0.88", edgecolor="black", linewidth=0.3)
            ax.plot([i - 0.42, i + 0.42], [c.time_ns / whole] * 2, color="black", linewidth=1.2)
            ax.text(i, 1.03, fmt_ns_short(c.time_ns), ha="center", va="bottom", fontsize=4.5, rotation=90)
        ax.set_ylim(0, 1.45)
        ax.set_yticks([0, 0.5, 1.0])
        ax.set_yticklabels(["0", "50%", "100%"])
        ax.set_title(w[6:] if w.startswith("micro_") else w, fontsize=6.5, pad=2)
        ax.set_xticks(np.arange(len(series)))
        ax.set_xticklabels(series, rotation=60, ha="right", fontsize=5)
        ax.tick_params(axis="y", labelsize=5, pad=1)
    handles = [matplotlib.patches.Patch(facecolor=colors[k], edgecolor="black", linewidth=0.3, label=k) for k in comps]
    handles.append(matplotlib.patches.Patch(facecolor="0.85", edgecolor="black", linewidth=0.3,
                                            label="remainder (engine + guest)"))
    handles.append(matplotlib.lines.Line2D([], [], color="black", linewidth=1.2, label="measured time"))
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=6, frameon=False)
    fig.tight_layout(rect=(0, 0.5 / (1.55 * nrow + 0.6), 1, 1), h_pad=0.5, w_pad=0.3)
    fig.savefig(out_path)
    plt.close(fig)
    return {"workloads": workloads, "series": series, "components": comps}


def slowdowns(table, group="macro", baseline="native"):
    """{(engine, backend, mode, workload): (ratio, lo, hi)} of per-op time vs the baseline engine."""
    samp = cell_samples(table, TIME_METRIC, group)
    base = {k[3]: v for k, v in samp.items() if k[0] == baseline and k[2] == "cold"}
    out = {}
    for k, v in samp.items():
        if k[0] == baseline or k[3] not in base:
            continue
        out[k] = stats.ratio_ci(v, base[k[3]])
    return out


def plot_macro_slowdown(table, out_path, group="macro"):
    """Slowdown vs host-native per series. Returns {'series': [...], 'workloads': [...], 'missing_baseline': [...]}."""
    sl = slowdowns(table, group)
    all_workloads = sorted({r["workload"] for r in table.rows if r["group"] == group})
    workloads = sorted({k[3] for k in sl})
    series = _series_order(k[:3] for k in sl)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    if workloads:
        flagged = contradicting_baselines(table, group)
        _bars(ax, workloads, series, sl, log=True, flagged=flagged)
        ax.axhline(1.0, color="k", linewidth=0.6)
        if flagged:
            ax.text(1.0, -0.38, "\u2020 host-native baseline slower than QEMU TCG: a ratio below 1 is the host's path",
                    transform=ax.transAxes, ha="right", fontsize=6)
        ax.set_ylabel("slowdown vs host-native (x, log)")
    else:
        ax.text(0.5, 0.5, "no %s results with a host-native baseline" % group, ha="center", va="center")
    ax.set_title("Slowdown vs host-native, %s workloads" % group, fontsize=9, pad=30)
    fig.tight_layout()
    fig.savefig(out_path)
    plt.close(fig)
    return {"series": [series_label(*s) for s in series], "workloads": workloads,
            "missing_baseline": [w for w in all_workloads if w not in workloads]}


def census_matrix(census):
    """({instruction: {(engine label, mode): verdict}}, [column keys]) from census.json.

    Record keys are 'census.<insn>.<where>' (where: kernel/user); other keys keep their name."""
    rows, cols = {}, []
    for engine in sorted(census):
        label = census[engine].get("backend", engine)
        for key, verdict in census[engine].get("records", {}).items():
            parts = key.split(".")
            if len(parts) == 3 and parts[0] == "census":
                insn, where = parts[1], parts[2]
            else:
                insn, where = key, ""
            col = (label, where)
            if col not in cols:
                cols.append(col)
            rows.setdefault(insn, {})[col] = verdict
    return rows, cols


def write_census_table(table, out_path):
    """The census as a plain-text table (instruction x engine/mode), for every run in `table`
    that has census results. Returns {'columns': [...], 'instructions': [...]} (empty when none)."""
    info = {"columns": [], "instructions": []}
    lines = []
    for run, census in sorted(table.census.items()):
        rows, cols = census_matrix(census)
        info["columns"] += ["%s %s" % c for c in cols]
        info["instructions"] += sorted(rows)
        head = ["instruction"] + ["%s/%s" % c for c in cols]
        width = [max(len(h), 12) for h in head]
        lines.append("census of %s" % run)
        lines.append("  ".join(h.ljust(w) for h, w in zip(head, width)))
        for insn in sorted(rows):
            cells = [insn] + [rows[insn].get(c, "-") for c in cols]
            lines.append("  ".join(x.ljust(w) for x, w in zip(cells, width)))
        lines.append("")
    if lines:
        with open(out_path, "w") as f:
            f.write("\n".join(lines))
    return info


def host_kind_slug(kind):
    """A folder name for a host kind: 'AMD EPYC x2, Linux 6.18' -> 'AMD-EPYC-x2-Linux-6.18'."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", kind).strip("-") or "unknown"


def make_all(table, out_dir, fmt="pdf", companions=None):
    kinds = table.host_kinds()
    if len(kinds) > 1:
        raise ValueError("the results mix %d host kinds (%s): plot one at a time (tidy.Table.of_host_kind)" %
                         (len(kinds), "; ".join(kinds)))
    os.makedirs(out_dir, exist_ok=True)
    info = {}
    info["micro_per_op"] = plot_micro_per_op(table, os.path.join(out_dir, "micro_per_op." + fmt))
    for group in ("micro", "macro"):
        info["decomposition_" + group] = plot_decomposition(table, os.path.join(out_dir, "decomposition_%s.%s" %
                                                                                   (group, fmt)), group, companions)
    info["macro_slowdown"] = plot_macro_slowdown(table, os.path.join(out_dir, "macro_slowdown." + fmt))
    info["census"] = write_census_table(table, os.path.join(out_dir, "census.txt"))
    return info


def main(argv=None):
    ap = argparse.ArgumentParser(description="Plot one vtb results run.")
    ap.add_argument("--run", help="results folder (default: newest under results/)")
    ap.add_argument("--out", default="plots", help="output folder (default: ./plots)")
    ap.add_argument("--format", default="pdf", choices=["pdf", "png", "svg"])
    ap.add_argument("--host-kind", help="plot the cells of this host kind only (default: every kind, one folder each)")
    args = ap.parse_args(argv)
    run = args.run or tidy.latest_run([tidy.default_results_dir()])
    if not run or not tidy.is_run_dir(run):
        print("plots: no results folder (with bench.json): %s" % (run or "results/ is empty"), file=sys.stderr)
        return 2
    try:
        table = tidy.load([run])
    except ValueError as e:
        print("plots: %s" % e, file=sys.stderr)
        return 2
    kinds = table.host_kinds()
    if args.host_kind and args.host_kind not in kinds:
        print("plots: no cells of host kind '%s' (kinds: %s)" % (args.host_kind, "; ".join(kinds)), file=sys.stderr)
        return 2
    if args.host_kind or len(kinds) > 1:
        jobs = [(k, os.path.join(args.out, host_kind_slug(k)) if not args.host_kind else args.out)
                for k in ([args.host_kind] if args.host_kind else kinds)]
    else:
        jobs = [(None, args.out)]
    # The run's companions/ (a --scale 2 run: the loops' own counts for the decomposition).
    companions = tidy.load(tidy.find_runs([run, os.path.join(run, "companions")]))
    for kind, out in jobs:
        info = make_all(table.of_host_kind(kind) if kind else table, out, args.format,
                        companions.of_host_kind(kind) if kind else companions)
        for name, d in info.items():
            fname = "census.txt" if name == "census" else "%s.%s" % (name, args.format)
            print("plots: %s%s %s" % ("%s/" % os.path.basename(out) if kind and not args.host_kind else "", fname,
                                      ", ".join("%s=%d" % (k, len(v)) for k, v in d.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
