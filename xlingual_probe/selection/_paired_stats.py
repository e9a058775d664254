"""The statistics of the paired selection rule: a robust pooled variance, its degrees of freedom, Holm.

Context:
    Every experiment of a layer sweep runs with the same seeds as the baseline (DF), and seed k of
    both shares the head initialisation and the batch order, so the per-seed differences
    d_k = score(experiment, k) − score(DF, k) cancel the seed's shared effect. With 2–4 seeds one
    experiment's own variance of d has 1–3 degrees of freedom, far too few for a test; the
    experiments of one family (e.g. the 12 per-layer re-initialisations) share a noise level, so the
    variance is pooled over them. A plain mean of the variances would let one diverged, unrelated
    run set the margin of every decision; the median does not.

Method:
    Pooled variance. Experiment j has n_j pairs and sample variance s_j² (ddof 1, ν_j = n_j − 1
    degrees of freedom). Under a common variance σ², s_j² ~ σ² χ²_ν/ν, whose median is σ²·m_ν with
    m_ν = median(χ²_ν)/ν < 1 (0.455 at ν = 1, 0.693 at 2, 0.789 at 3). The plain median of the
    variances is therefore biased low (×0.46 at 2 seeds, ×0.79 at 4); each variance is divided by
    its m_ν first, so the pooled estimate σ̂² = median_j(s_j² / m_νj) is consistent (median-unbiased
    for each experiment, and so for the median over experiments).

    Degrees of freedom of the t reference. σ̂²/σ² is approximated by χ²_df/df with the same
    coefficient of variation (Satterthwaite's moment matching, Satterthwaite 1946): df = 2·E[V]²/Var[V]
    for V = the median of K independent χ²_ν/(ν·m_ν). E[V] and Var[V] are computed exactly (numerical
    quadrature over the Beta-distributed order statistics of the median). K = 1 gives df = ν, K = 2
    gives 2ν; at 12 experiments df = 5.4, 13.5 and 21.8 at 2, 3 and 4 seeds (the mean of the variances
    would have 12ν, but no robustness). With unequal ν_j (an interrupted sweep) the smallest is used.
    ``benchmarks/selection_power.py`` checks the resulting family-wise error rate by simulation.

    Holm (1979): sort the m p-values, p_(i) is adjusted to max_{l ≤ i} min(1, (m − l + 1)·p_(l));
    a hypothesis is rejected at family-wise level α iff its adjusted p < α. It holds under any
    dependence between the tests (here they share the DF runs).

>>> round(median_consistency(1), 4), round(median_consistency(3), 4)
(0.4549, 0.7887)
>>> round(satterthwaite_df(1, 3), 6), round(satterthwaite_df(12, 1), 2)
(3.0, 5.43)
>>> [round(p, 3) for p in holm_adjust([0.01, 0.04, 0.03])]
[0.03, 0.06, 0.06]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def median_consistency(nu: int) -> float:
    """m_ν = median(χ²_ν)/ν: the median of a sample variance with ν degrees of freedom, in units of σ²."""
    from scipy import special

    return 2.0 * float(special.gammaincinv(nu / 2.0, 0.5)) / nu


@lru_cache(maxsize=256)
def satterthwaite_df(count: int, nu: int) -> float:
    """Degrees of freedom of the median of ``count`` variances with ``nu`` degrees of freedom each.

    Args:
        count: K, the number of pooled variances (≥ 1).
        nu: ν, the degrees of freedom of each (≥ 1).

    Returns:
        2·E[V]²/Var[V] for V = median of K independent χ²_ν/ν (the scale cancels).

    Raises:
        ValueError: ``count`` or ``nu`` below 1.
    """
    from scipy import integrate, special, stats

    if count < 1 or nu < 1:
        raise ValueError(f"need count >= 1 and nu >= 1, not {count}, {nu}")

    def quantile(u: float) -> float:  # of χ²_ν
        return 2.0 * float(special.gammaincinv(nu / 2.0, u))

    def order_moment(j: int, power: int) -> float:  # E[Y_(j)^power] = ∫ Q(u)^p Beta(u; j, K−j+1) du
        return integrate.quad(lambda u: quantile(u) ** power * stats.beta.pdf(u, j, count - j + 1), 0, 1,
                              limit=200)[0]

    if count % 2:
        k = (count + 1) // 2
        mean, second = order_moment(k, 1), order_moment(k, 2)
    else:  # the mean of the two middle order statistics U_(k) < U_(k+1), joint density c·u^(k−1)·(1−w)^(k−1)
        k = count // 2
        scale = math.exp(special.gammaln(count + 1) - 2 * special.gammaln(k))

        def tail(u: float) -> float:
            return integrate.quad(lambda w: quantile(w) * (1 - w) ** (k - 1), u, 1, limit=200)[0]

        cross = scale * integrate.quad(lambda u: quantile(u) * u ** (k - 1) * tail(u), 0, 1, limit=200)[0]
        low, high = order_moment(k, 1), order_moment(k + 1, 1)
        mean = (low + high) / 2
        second = (order_moment(k, 2) + order_moment(k + 1, 2) + 2 * cross) / 4
    return 2.0 * mean * mean / (second - mean * mean)


@dataclass(frozen=True)
class PooledVariance:
    """The robust pooled variance of one family's paired differences.

    Attributes:
        variance: σ̂² = median_j(s_j² / m_νj) (points²); NaN when no experiment has 2 pairs.
        df: degrees of freedom of the t reference (:func:`satterthwaite_df`); NaN likewise.
        count: K, the experiments that contributed a variance (those with ≥ 2 pairs).
        nu: the ν used for ``df`` (the smallest n_j − 1 among them).
    """

    variance: float
    df: float
    count: int
    nu: int

    @property
    def sd(self) -> float:
        return math.sqrt(self.variance) if not math.isnan(self.variance) else math.nan

    @property
    def testable(self) -> bool:
        return not math.isnan(self.variance) and self.variance > 0


def pooled_variance(samples: Sequence[Sequence[float]]) -> PooledVariance:
    """Pool the variances of the paired differences of one family's experiments (module docstring).

    Args:
        samples: per experiment, its paired differences d_k (points); experiments with < 2 are skipped.

    The third experiment (variance 8) does not move the pooled value, 0.5 / m_1 = 0.5 / 0.4549:

    >>> pooled = pooled_variance([[1.0, 2.0], [0.0, 1.0], [3.0, 7.0], [4.0]])
    >>> pooled.count, pooled.nu, round(pooled.variance, 3), round(pooled.df, 2)
    (3, 1, 1.099, 1.69)
    """
    usable = [np.asarray(d, dtype=float) for d in samples if len(d) >= 2]
    if not usable:
        return PooledVariance(math.nan, math.nan, 0, 0)
    scaled = [float(d.var(ddof=1)) / median_consistency(len(d) - 1) for d in usable]
    nu = min(len(d) for d in usable) - 1
    return PooledVariance(float(np.median(scaled)), satterthwaite_df(len(usable), nu), len(usable), nu)


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the input order."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


@dataclass(frozen=True)
class PairedTest:
    """A mean of paired differences tested against 0 with the family's pooled variance.

    Attributes:
        n: pairs.
        mean: mean difference (points).
        se: its standard error σ̂/√n.
        df: degrees of freedom of the t reference.
        t: mean / se.
        own_variance: the experiment's own variance was used instead of the family's.
    """

    n: int
    mean: float
    se: float
    df: float
    t: float
    own_variance: bool = False

    def p_less(self) -> float:
        """One-sided p of "the mean is below 0"."""
        return p_values([self], "less")[0]

    def p_greater(self) -> float:
        """One-sided p of "the mean is above 0"."""
        return p_values([self], "greater")[0]

    def p_two_sided(self) -> float:
        return p_values([self], "two-sided")[0]

    def interval(self, alpha: float) -> tuple[float, float]:
        """The two-sided (1 − alpha) confidence interval of the mean."""
        half = t_quantile(1 - alpha / 2, self.df) * self.se
        return self.mean - half, self.mean + half

    def lower_bound(self, alpha: float) -> float:
        """The one-sided (1 − alpha) lower confidence bound of the mean."""
        return self.mean - t_quantile(1 - alpha, self.df) * self.se


@lru_cache(maxsize=4096)
def t_quantile(q: float, df: float) -> float:
    """The q-quantile of Student's t with ``df`` degrees of freedom (cached: a family shares one df)."""
    from scipy import stats

    return float(stats.t.ppf(q, df))


def p_values(tests: Sequence[PairedTest], alternative: str) -> list[float]:
    """The p-values of ``tests`` (one vectorised call): ``less``, ``greater`` or ``two-sided``."""
    from scipy import stats

    if not tests:
        return []
    t = np.array([test.t for test in tests])
    df = np.array([test.df for test in tests])
    if alternative == "less":
        p = stats.t.cdf(t, df)
    elif alternative == "greater":
        p = stats.t.sf(t, df)
    else:
        p = 2 * stats.t.sf(np.abs(t), df)
    return [float(x) for x in p]


def paired_test(differences: Sequence[float], pooled: PooledVariance, own_variance: bool = False) -> PairedTest:
    """The t statistic of ``differences`` with the pooled variance ``pooled`` (needs ``pooled.testable``)."""
    d = np.asarray(differences, dtype=float)
    mean = float(d.mean())
    se = pooled.sd / math.sqrt(len(d))
    return PairedTest(n=len(d), mean=mean, se=se, df=pooled.df, t=mean / se, own_variance=own_variance)
