#!/usr/bin/python3
# tags: harness|bench|tests — desc: checks a `vtb merge` folder against the cells `vtb bench --list` names (and an unsharded run's rows).
"""usage: check_merged.py MERGED_DIR LIST_FILE [UNSHARDED_RUN_DIR]

LIST_FILE is the output of `vtb bench <selection> --list` (its `n/a` and `shard` lines are
ignored). Checks that the merged folder has a row for every repetition of exactly those cells,
that no shard was missing, that the analysis loads it (lost repetitions may be data; none may
be lost to the merge) and, given an unsharded run of the same selection, that the merged
folder has the same iteration rows in the same order. Exit 0 or 1 with the reason.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "analysis"))
import paper_tex  # noqa: E402
import tidy  # noqa: E402


def iteration_rows(run):
    with open(os.path.join(run, "bench.json")) as f:
        bench = json.load(f)
    return [(r["run_name"].split("/iterations:")[0], r["repetition_index"])
            for r in bench["benchmarks"] if r["run_type"] == "iteration"]


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    merged, listing = argv[1], argv[2]
    want = {}
    for line in open(listing):
        if line.startswith(("n/a ", "shard ")) or not line.strip():
            continue
        name, reps = line.split()[:2]
        want[name] = int(reps.split("=")[1])
    rows = iteration_rows(merged)
    got = {}
    for name, rep in rows:
        got.setdefault(name, []).append(rep)
    if set(got) != set(want):
        print("cells differ: only merged %s, only listed %s" % (sorted(set(got) - set(want))[:5],
                                                              sorted(set(want) - set(got))[:5]))
        return 1
    bad = [n for n, reps in want.items() if sorted(got[n]) != list(range(reps))]
    if bad:
        print("repetitions differ: %s" % ", ".join("%s %s" % (n, got[n]) for n in bad[:5]))
        return 1
    if len(argv) == 4 and rows != iteration_rows(argv[3]):
        print("the merged rows are not the unsharded run's rows in its order")
        return 1
    env = json.load(open(os.path.join(merged, "environment.json")))
    if not env.get("merged") or env.get("cells_missing") or env.get("missing_shards"):
        print("not a complete merge: missing shards %s" % env.get("missing_shards"))
        return 1
    table = tidy.load([merged])
    lost = [e for e in table.errors if "shard" in e["message"]]
    if lost or not table.rows or len(table.host_kinds()) != 1 or not all(r["host"] for r in table.rows):
        print("analysis: %d rows, %d lost to the merge, host kinds %s" % (len(table.rows), len(lost), table.host_kinds()))
        return 1
    if not paper_tex.Run(merged).med:
        print("analysis: no medians")
        return 1
    print("merged: %d cells, %d repetitions = the listed selection%s; %d tidy rows, %d shards on %s" % (
        len(want), len(rows), " (the unsharded run's rows, in order)" if len(argv) == 4 else "",
        len(table.rows), env.get("shards_present", 0), env.get("host")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
