#!/usr/bin/python3
# tags: analysis|tidy — desc: load every results/<run>/ folder (Google Benchmark JSON + environment.json) into one tidy table (a pandas DataFrame with Table.frame()).
"""One tidy table of every vtb bench result.

A results folder (``results/<date>_<host>_<commit>/``) holds ``bench.json``
(the Google Benchmark JSON reporter's output, written by ``vtb bench``),
``environment.json`` and, when census workloads ran, ``census.json``.

Each benchmark row of ``bench.json`` is one repetition of one cell. Its
``label`` carries the dimensions as ``key=value`` pairs separated by ``;``
(engine, backend, workload, group, mode, params, ops) and its user counters
carry the numbers: ``ns_per_op``, ``phase_ns``, ``wall_s`` and, for every
counter the run reported, ``<counter>/op`` for an event count (the measured
phase's count divided by the workload's op count) or ``<counter>`` for a
gauge (a level such as ``pv.direct_map_resident``: its value at the phase's
end, never divided; docs/counters.md, "Kinds"). ``metric_kind()`` tells the
metrics apart; results written before the kinds have every counter as
``<counter>/op`` and load as they are (``metric_kind`` calls such a gauge
``legacy_gauge``: its value is the level's growth per op, no count).

The tidy table has one row per (run, cell, repetition, metric):
``run, date, host, host_kind, shard, commit, kvm_backend, engine, backend,
workload, group, mode, params, ops, repetition, metric, value``; failed or
skipped cells are kept apart in ``Table.errors``.

A folder merged from shards (``vtb merge``) labels every row with the host
it ran on (``host=``, ``host_kind=``, ``shard=``) and keeps each shard's
environment in its ``environment.json`` (``shards``): a row takes date, host
and KVM backend from its own shard. Rows of different host kinds are never
pooled: ``Table.host_kinds()`` lists them, ``Table.of_host_kind(k)`` keeps one.

Usage: /usr/bin/python3 analysis/tidy.py [RESULTS_DIR_OR_RUN ...] [--csv OUT]
"""
import argparse
import csv
import json
import os
import sys

COLUMNS = ["run", "date", "host", "host_kind", "shard", "commit", "kvm_backend", "engine", "backend",
           "workload", "group", "mode", "params", "ops", "repetition", "metric", "value"]

# Keys of a Google Benchmark run row that are not user counters.
_GB_KEYS = {"name", "family_index", "per_family_instance_index", "run_name", "run_type",
            "repetitions", "repetition_index", "threads", "iterations", "real_time",
            "cpu_time", "time_unit", "label", "error_occurred", "error_message",
            "aggregate_name", "aggregate_unit", "big_o", "rms", "complexity"}

_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

# The gauges of results written before bench rows had kinds (docs/counters.md, "Kinds"): those rows
# hold them as "<name>/op", the level's growth over the phase divided by the operations.
LEGACY_GAUGES = frozenset({"bt.tc_bytes", "bt.user_isolation", "bt.fsgs_isolation", "pv.fsgs_isolation",
                           "pv.pt_frames", "pv.direct_map_resident", "pv.2as.pinned", "pv.2as.spin_cap_ticks"})


def metric_kind(metric):
    """What a metric holds: "per_op" (an event count per operation, "<counter>/op"), "gauge" (a
    counter's level at the measured phase's end: a dotted counter name without "/op"), "legacy_gauge"
    (a gauge an older vtb divided by the operations: no meaningful number) or "cell" (the cell's own
    numbers: ns_per_op, ops, phase_ns, wall_s)."""
    if metric.endswith("/op"):
        return "legacy_gauge" if metric[:-3] in LEGACY_GAUGES else "per_op"
    return "gauge" if "." in metric else "cell"


class Table:
    """Rows are dicts with the COLUMNS keys; errors are dicts describing lost cells."""

    def __init__(self):
        self.rows = []
        self.errors = []
        self.runs = {}    # run name -> environment dict
        self.census = {}  # run name -> census dict (engine -> {...})

    def select(self, **where):
        """Rows whose columns equal every given value (a list/tuple/set means 'any of')."""
        out = []
        for r in self.rows:
            ok = True
            for k, v in where.items():
                if isinstance(v, (list, tuple, set)):
                    if r[k] not in v:
                        ok = False
                        break
                elif r[k] != v:
                    ok = False
                    break
            if ok:
                out.append(r)
        return out

    def values(self, **where):
        return [r["value"] for r in self.select(**where)]

    def host_kinds(self):
        """Distinct host kinds of the measured rows, the most rows first (then by name)."""
        count = {}
        for r in self.rows:
            count[r["host_kind"]] = count.get(r["host_kind"], 0) + 1
        return sorted(count, key=lambda k: (-count[k], k))

    def of_host_kind(self, kind):
        """A table with the rows of one host kind (and the lost cells of that kind or of none)."""
        t = Table()
        t.rows = [r for r in self.rows if r["host_kind"] == kind]
        t.errors = [e for e in self.errors if e["host_kind"] in (kind, "")]
        t.runs, t.census = self.runs, self.census
        return t

    def series(self):
        """Distinct (engine, backend) pairs: one plotted series each (backends never mix)."""
        return sorted({(r["engine"], r["backend"]) for r in self.rows})

    def frame(self):
        """The rows as a pandas DataFrame (one row per run, cell, repetition and metric; COLUMNS)."""
        import pandas as pd
        return pd.DataFrame(self.rows, columns=COLUMNS)

    def write_csv(self, path_or_file):
        close = False
        f = path_or_file
        if isinstance(path_or_file, str):
            f = open(path_or_file, "w", newline="")
            close = True
        try:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            for r in self.rows:
                w.writerow(r)
        finally:
            if close:
                f.close()


def parse_label(label):
    """'engine=bt;workload=syscall;params=n=100' -> dict (split on ';', then the first '=')."""
    out = {}
    for part in (label or "").split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def parse_name(name):
    """Fallback when a row has no label: '<engine>/<workload>/<mode>[/k:v...]/...'."""
    parts = name.split("/")
    d = {"engine": parts[0] if parts else "", "workload": parts[1] if len(parts) > 1 else "",
         "mode": parts[2] if len(parts) > 2 else "cold"}
    params = [p for p in parts[3:] if ":" in p and not p.startswith(("iterations:", "repeats:", "min_time:", "threads:"))]
    d["params"] = ",".join(p.replace(":", "=", 1) for p in params)
    return d


def is_run_dir(path):
    return os.path.isfile(os.path.join(path, "bench.json"))


def find_runs(paths):
    """Expand each path: a run folder itself, or a folder holding run folders."""
    runs = []
    for p in paths:
        if is_run_dir(p):
            runs.append(p)
        elif os.path.isdir(p):
            for name in sorted(os.listdir(p)):
                sub = os.path.join(p, name)
                if not name.startswith(".") and is_run_dir(sub):
                    runs.append(sub)
    return runs


def latest_run(paths):
    """The run folder with the newest environment date (name order breaks ties)."""
    runs = find_runs(paths)
    if not runs:
        return None

    def key(r):
        env = _load_json(os.path.join(r, "environment.json")) or {}
        return (env.get("date", ""), os.path.basename(r))
    return max(runs, key=key)


def host_kind(env):
    """The kind of host an environment record describes: CPU model and count, kernel release, KVM
    backend, under a hypervisor or not (the same words as vtb bench's environment.json `host_kind`).
    Results of different kinds are never pooled into one statistic."""
    if env.get("host_kind"):
        return env["host_kind"]
    if not env.get("cpu_model") and not env.get("kernel"):
        return ""
    kind = "%s x%s, %s, kvm %s" % (env.get("cpu_model") or "unknown CPU", env.get("cpu_count", "?"),
                                   " ".join((env.get("kernel") or "unknown kernel").split()[:2]),
                                   env.get("kvm_backend") or "unknown")
    if env.get("running_under_hypervisor") == "present":
        kind += ", virtualized"
    return kind.replace(";", " ").replace("=", " ")


def _load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load_run(path, table):
    """Append one results folder to `table`. Raises ValueError on a corrupt bench.json."""
    run = os.path.basename(os.path.normpath(path))
    bench = _load_json(os.path.join(path, "bench.json"))
    if not isinstance(bench, dict) or "benchmarks" not in bench:
        raise ValueError("%s: bench.json is not Google Benchmark JSON" % path)
    env = _load_json(os.path.join(path, "environment.json")) or {}
    table.runs[run] = env
    census = _load_json(os.path.join(path, "census.json"))
    if census:
        table.census[run] = census
    shard_envs = {s.get("shard"): s for s in env.get("shards", []) if isinstance(s, dict)}

    def base_of(e, dims):
        return {"run": run, "date": e.get("date", ""), "host": dims.get("host") or e.get("host", ""),
                "host_kind": dims.get("host_kind") or host_kind(e), "shard": dims.get("shard", ""),
                "commit": env.get("commit", ""), "kvm_backend": e.get("kvm_backend", "")}
    for b in bench["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration":
            continue  # aggregates are recomputed here from the repetitions
        dims = parse_name(b.get("run_name", b.get("name", "")))
        dims.update(parse_label(b.get("label", "")))
        # A merged folder: the row's own shard (a cell a missing shard never ran has neither).
        own = shard_envs.get(dims.get("shard")) if shard_envs else env
        cell = base_of(own or {}, dims)
        cell.update({"engine": dims.get("engine", ""),
                     "backend": dims.get("backend", dims.get("engine", "")),
                     "workload": dims.get("workload", ""),
                     "group": dims.get("group", ""),
                     "mode": dims.get("mode", "cold"),
                     "params": dims.get("params", ""),
                     "ops": int(float(dims.get("ops", "0") or 0)),
                     "repetition": int(b.get("repetition_index", 0))})
        if b.get("error_occurred"):
            err = dict(cell)
            err["message"] = b.get("error_message", "")
            table.errors.append(err)
            continue
        unit = _UNIT_NS.get(b.get("time_unit", "ns"), 1.0)
        metrics = {"phase_ns": float(b.get("real_time", 0.0)) * unit}
        for k, v in b.items():
            if k in _GB_KEYS or not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            metrics[k] = float(v)
        if "phase_ns" in b:
            metrics["phase_ns"] = float(b["phase_ns"])
        if not cell["ops"] and "ops" in b:
            cell["ops"] = int(b["ops"])
        for metric, value in metrics.items():
            row = dict(cell)
            row["metric"] = metric
            row["value"] = value
            table.rows.append(row)
    return table


def load(paths):
    table = Table()
    for r in find_runs(paths):
        load_run(r, table)
    return table


def default_results_dir():
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Load vtb results into one tidy table.")
    ap.add_argument("paths", nargs="*", help="results folders (default: the repository's results/)")
    ap.add_argument("--csv", help="write the tidy table as CSV to this file ('-' = stdout)")
    args = ap.parse_args(argv)
    paths = args.paths or [default_results_dir()]
    runs = find_runs(paths)
    if not runs:
        print("tidy: no results folder (with bench.json) under %s" % ", ".join(paths), file=sys.stderr)
        return 2
    try:
        table = load(runs)
    except ValueError as e:
        print("tidy: %s" % e, file=sys.stderr)
        return 2
    if args.csv:
        table.write_csv(sys.stdout if args.csv == "-" else args.csv)
    print("tidy: %d runs, %d rows, %d series, %d lost or skipped repetitions, %d host kind(s)" %
          (len(table.runs), len(table.rows), len(table.series()), len(table.errors), len(table.host_kinds())),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
