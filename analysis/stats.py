#!/usr/bin/python3
# tags: analysis|stats — desc: medians with bootstrap confidence intervals (numpy only, fixed seed).
import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 20061021  # fixed, so the paper's numbers are reproducible from the same results


def median_ci(values, level=0.95, resamples=DEFAULT_RESAMPLES, seed=DEFAULT_SEED):
    """(median, low, high) of `values`; the interval is a percentile bootstrap of the median.

    With one value the interval collapses to that value (the paper says how
    many repetitions each cell has); with none, all three are NaN.
    """
    x = np.asarray([v for v in values if v == v], dtype=float)
    if x.size == 0:
        return (float("nan"),) * 3
    med = float(np.median(x))
    if x.size == 1:
        return med, med, med
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(resamples, x.size))
    meds = np.median(x[idx], axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(meds, [alpha, 1.0 - alpha])
    return med, float(lo), float(hi)


def ratio_ci(num, den, level=0.95, resamples=DEFAULT_RESAMPLES, seed=DEFAULT_SEED):
    """(ratio of medians, low, high): bootstrap both samples independently."""
    a = np.asarray([v for v in num if v == v], dtype=float)
    b = np.asarray([v for v in den if v == v], dtype=float)
    if a.size == 0 or b.size == 0 or np.median(b) == 0:
        return (float("nan"),) * 3
    r = float(np.median(a) / np.median(b))
    if a.size == 1 and b.size == 1:
        return r, r, r
    rng = np.random.default_rng(seed)
    ma = np.median(a[rng.integers(0, a.size, size=(resamples, a.size))], axis=1)
    mb = np.median(b[rng.integers(0, b.size, size=(resamples, b.size))], axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(ma / mb, [alpha, 1.0 - alpha])
    return r, float(lo), float(hi)


def cv(values):
    """Coefficient of variation (stddev / mean), NaN with fewer than two values."""
    x = np.asarray(values, dtype=float)
    if x.size < 2 or x.mean() == 0:
        return float("nan")
    return float(x.std(ddof=1) / x.mean())
