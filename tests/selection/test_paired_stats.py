"""The paired rule's statistics: the consistent median of variances, its degrees of freedom, Holm."""

import math

import numpy as np
import pytest
from scipy import stats

from xlingual_probe.selection import holm_adjust, pooled_variance, satterthwaite_df
from xlingual_probe.selection._paired_stats import median_consistency, paired_test


@pytest.mark.parametrize("nu", [1, 2, 3, 5])
def test_median_consistency_is_the_median_of_chi2_over_nu(nu):
    assert median_consistency(nu) == pytest.approx(stats.chi2.median(nu) / nu, rel=1e-10)


@pytest.mark.parametrize("seeds, plain_bias", [(2, 0.455), (4, 0.789)])
def test_plain_median_of_variances_is_biased_low_and_the_corrected_one_is_not(seeds, plain_bias):
    # 12 experiments, true variance 4: the plain median lands near 4 * m_nu (x0.46 at 2 seeds, x0.79 at 4),
    # the corrected pool near 4 (its median over replicates, as it is median-unbiased)
    rng = np.random.default_rng(0)
    draws = rng.normal(0.0, 2.0, (4000, 12, seeds))
    plain = np.median(draws.var(axis=2, ddof=1), axis=1)
    pooled = np.array([pooled_variance(list(table)).variance for table in draws[:1500]])
    assert np.median(plain) / 4 == pytest.approx(plain_bias, abs=0.05)
    assert np.median(pooled) / 4 == pytest.approx(1.0, abs=0.06)


def test_satterthwaite_df_exact_cases_and_simulation():
    assert satterthwaite_df(1, 3) == pytest.approx(3.0, rel=1e-6)   # one χ²_3/3: df 3
    assert satterthwaite_df(2, 2) == pytest.approx(4.0, rel=1e-6)   # median of 2 = their mean: df 2ν
    rng = np.random.default_rng(1)
    for count, nu in ((12, 1), (6, 3), (5, 2)):
        medians = np.median(rng.chisquare(nu, (200_000, count)), axis=1)
        simulated = 2 * medians.mean() ** 2 / medians.var()
        assert satterthwaite_df(count, nu) == pytest.approx(simulated, rel=0.02)
    with pytest.raises(ValueError):
        satterthwaite_df(0, 1)


def test_one_diverged_experiment_does_not_move_the_pool():
    rng = np.random.default_rng(2)
    samples = [list(rng.normal(0.0, 1.0, 3)) for _ in range(12)]
    clean = pooled_variance(samples)
    samples[5] = [samples[5][0] - 20.0] + samples[5][1:]
    diverged = pooled_variance(samples)
    assert diverged.variance / clean.variance < 1.3
    assert (clean.count, clean.nu, clean.df) == (12, 2, pytest.approx(satterthwaite_df(12, 2)))
    # the mean of the variances, the delta rule's kind of pooling, is blown up by that one run
    assert np.mean([np.var(s, ddof=1) for s in samples]) > 10 * diverged.variance


def test_pool_needs_two_pairs_and_uses_the_smallest_nu():
    assert math.isnan(pooled_variance([[1.0], [2.0]]).variance) and not pooled_variance([[1.0]]).testable
    pooled = pooled_variance([[0.0, 1.0, 2.0], [0.0, 2.0], [5.0]])
    assert pooled.count == 2 and pooled.nu == 1


def test_holm_against_hand_computation():
    # sorted 0.01, 0.02, 0.03, 0.2 -> 4*0.01, max(.04, 3*0.02), max(.06, 2*0.03), max(.06, 0.2)
    assert holm_adjust([0.03, 0.2, 0.01, 0.02]) == pytest.approx([0.06, 0.2, 0.04, 0.06])
    assert holm_adjust([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm_adjust([]) == []


def test_paired_test_against_scipy():
    pooled = pooled_variance([[1.0, 2.0, 4.0], [0.0, 1.0, 0.5], [2.0, 2.5, 4.0]])
    test = paired_test([-1.0, -2.0, -1.5], pooled)
    se = math.sqrt(pooled.variance / 3)
    assert test.t == pytest.approx(-1.5 / se)
    assert test.p_less() == pytest.approx(stats.t.cdf(-1.5 / se, pooled.df))
    assert test.p_greater() == pytest.approx(1 - test.p_less())
    assert test.p_two_sided() == pytest.approx(2 * test.p_less())
    low, high = test.interval(0.05)
    assert high - (-1.5) == pytest.approx(stats.t.ppf(0.975, pooled.df) * se) == pytest.approx(-1.5 - low)
    assert test.lower_bound(0.05) == pytest.approx(-1.5 - stats.t.ppf(0.95, pooled.df) * se)
