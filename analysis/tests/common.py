# tags: analysis|tests — desc: shared paths for the analysis tests (the small recorded result).
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ANALYSIS = os.path.dirname(HERE)
sys.path.insert(0, ANALYSIS)
DATA = os.path.join(HERE, "data")


def recorded_run():
    """The one recorded results folder under tests/data (a real `vtb bench --quick` output)."""
    runs = sorted(d for d in os.listdir(DATA) if os.path.isfile(os.path.join(DATA, d, "bench.json")))
    assert len(runs) == 1, runs
    return os.path.join(DATA, runs[0])


def decompose_run():
    """A small recorded `vtb bench` output with host.* counters and a calibration (bt, bt-direct, pv;
    micro_syscall and micro_pgfault, 3 repetitions)."""
    d = os.path.join(HERE, "data_decompose")
    runs = sorted(x for x in os.listdir(d) if os.path.isfile(os.path.join(d, x, "bench.json")))
    assert len(runs) == 1, runs
    return os.path.join(d, runs[0])
