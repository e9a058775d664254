"""Paired statistics over seeds for tables and figures: differences, t confidence intervals, tests, Holm.

Context:
    Runs of two settings with the same seed share the head initialisation and the data order, so their
    difference removes most of the seed noise (SPEC "Statistics and protocol"). The figures draw each
    setting's gain over DF with a confidence interval of the per-seed differences, and the tables bold a
    best value only when a paired test against the runner-up survives a Holm correction over the table's
    columns.

Method:
    d_k = a_k − b_k over the seeds k both have. Mean d̄, sample std s (ddof = 1), n pairs;
    the (1 − α) interval is d̄ ± t_{1−α/2, n−1} · s / √n (Student t, as ``scipy.stats.ttest_rel``);
    the test is ``scipy.stats.ttest_rel`` (two-sided). With fewer than two pairs, or differences that are
    all equal (no variance to test against), the interval and the test are undefined (NaN). Holm (1979):
    sort the m defined p-values, p_(i) ↦ max_{j ≤ i} min(1, (m − j + 1) p_(j)).

>>> a = pd.Series({1: 71.0, 2: 73.0, 3: 73.5}); b = pd.Series({1: 70.0, 2: 71.0, 3: 72.0})
>>> d = paired_difference(a, b)
>>> d.n, d.mean, round(d.p, 4)
(3, 1.5, 0.0351)
>>> [round(p, 3) for p in holm([0.01, 0.04, 0.03, float("nan")])]
[0.03, 0.06, 0.06, nan]
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["PairedDifference", "holm", "paired_difference"]


@dataclass(frozen=True)
class PairedDifference:
    """a − b paired by seed: ``n`` pairs, ``mean``, ``std`` (ddof 1), CI bounds ``low``/``high``, ``t``, ``p``."""

    n: int
    mean: float
    std: float
    low: float
    high: float
    t: float
    p: float


def paired_difference(a: pd.Series, b: pd.Series, confidence: float = 0.95) -> PairedDifference:
    """The per-seed difference ``a − b`` (both indexed by seed; NaN values dropped), its t interval and test.

    Args:
        a, b: scores indexed by seed.
        confidence: the interval's coverage.
    """
    from scipy import stats

    joined = pd.concat([pd.to_numeric(a, errors="coerce").rename("a"),
                        pd.to_numeric(b, errors="coerce").rename("b")], axis=1, join="inner").dropna()
    diffs = (joined["a"] - joined["b"]).to_numpy(dtype=float)
    n = len(diffs)
    mean = float(diffs.mean()) if n else math.nan
    std = float(diffs.std(ddof=1)) if n > 1 else math.nan
    low = high = t = p = math.nan
    if n > 1 and std > 0:
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
        low, high = mean - half, mean + half
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            test = stats.ttest_rel(joined["a"], joined["b"])
        t, p = float(test.statistic), float(test.pvalue)
    return PairedDifference(n, mean, std, low, high, t, p)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order; NaN entries stay NaN and do not count in m."""
    values = np.asarray(pvalues, dtype=float)
    defined = [i for i in np.argsort(values, kind="stable") if not math.isnan(values[i])]
    m = len(defined)
    adjusted = np.full(len(values), math.nan)
    running = 0.0
    for rank, index in enumerate(defined):
        running = max(running, min(1.0, (m - rank) * values[index]))
        adjusted[index] = running
    return adjusted.tolist()
