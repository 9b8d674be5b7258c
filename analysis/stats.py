#!/usr/bin/python3
# tags: analysis|stats — desc: medians with bootstrap confidence intervals (scipy.stats.bootstrap, fixed seed); no interval from fewer than 3 repetitions.
import numpy as np
from scipy import stats as sps

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 20061021  # fixed, so the paper's numbers are reproducible from the same results
MIN_CI_REPS = 3          # fewer repetitions: a median, never an interval
NAN3 = (float("nan"),) * 3


def _finite(values):
    return np.asarray([v for v in values if v == v], dtype=float)


def _interval(res):
    lo, hi = res.confidence_interval
    return float(lo), float(hi)


def median(values):
    """The median of the finite values (NaN when there is none): median_ci's point estimate without the
    bootstrap, for the many places that print no interval."""
    x = _finite(values)
    return float(np.median(x)) if x.size else float("nan")


def median_ci(values, level=0.95, resamples=DEFAULT_RESAMPLES, seed=DEFAULT_SEED):
    """(median, low, high): a percentile bootstrap of the median (scipy.stats.bootstrap).

    With fewer than MIN_CI_REPS values the bounds are NaN (the paper prints the
    median and says how many repetitions it has); with none, all three are NaN.
    """
    x = _finite(values)
    if x.size == 0:
        return NAN3
    med = float(np.median(x))
    if x.size < MIN_CI_REPS:
        return med, float("nan"), float("nan")
    if np.all(x == x[0]):
        return med, med, med
    res = sps.bootstrap((x,), np.median, confidence_level=level, n_resamples=resamples, method="percentile",
                        random_state=np.random.default_rng(seed))
    lo, hi = _interval(res)
    return med, min(lo, med), max(hi, med)


def ratio_ci(num, den, level=0.95, resamples=DEFAULT_RESAMPLES, seed=DEFAULT_SEED):
    """(ratio of medians, low, high): both samples resampled independently (scipy.stats.bootstrap,
    unpaired); NaN bounds unless both have at least MIN_CI_REPS values."""
    a, b = _finite(num), _finite(den)
    if a.size == 0 or b.size == 0 or np.median(b) == 0:
        return NAN3
    r = float(np.median(a) / np.median(b))
    if a.size < MIN_CI_REPS or b.size < MIN_CI_REPS:
        return r, float("nan"), float("nan")
    if np.all(a == a[0]) and np.all(b == b[0]):
        return r, r, r

    def stat(x, y, axis=-1):
        return np.median(x, axis=axis) / np.median(y, axis=axis)
    res = sps.bootstrap((a, b), stat, paired=False, vectorized=True, confidence_level=level, n_resamples=resamples,
                        method="percentile", random_state=np.random.default_rng(seed))
    lo, hi = _interval(res)
    return r, min(lo, r), max(hi, r)


def cv(values):
    """Coefficient of variation (stddev / mean), NaN with fewer than two values."""
    x = np.asarray(values, dtype=float)
    if x.size < 2 or x.mean() == 0:
        return float("nan")
    return float(x.std(ddof=1) / x.mean())
