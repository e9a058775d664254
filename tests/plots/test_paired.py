"""Paired differences, t intervals and Holm against hand-computed values."""

import math

import pandas as pd
import pytest

from xlingual_probe.plots._paired import holm, paired_difference


def test_paired_difference_by_hand():
    # d = (1, 2, 1.5): mean 1.5, sd 0.5, se 0.5/sqrt(3); t_{0.975, 2} = 4.302653 (Student t table)
    d = paired_difference(pd.Series({1: 71.0, 2: 73.0, 3: 73.5}), pd.Series({1: 70.0, 2: 71.0, 3: 72.0}))
    assert (d.n, d.mean, d.std) == (3, 1.5, pytest.approx(0.5))
    half = 4.302653 * 0.5 / math.sqrt(3)
    assert (d.low, d.high) == (pytest.approx(1.5 - half, abs=1e-5), pytest.approx(1.5 + half, abs=1e-5))
    assert d.t == pytest.approx(1.5 / (0.5 / math.sqrt(3)))
    assert d.p == pytest.approx(0.03510, abs=1e-5)


def test_pairs_only_shared_seeds_and_undefined_cases():
    d = paired_difference(pd.Series({1: 2.0, 2: 4.0, 5: 9.0}), pd.Series({1: 1.0, 2: 1.0, 3: 0.0}))
    assert d.n == 2 and d.mean == 2.0  # seeds 1 and 2 only
    one = paired_difference(pd.Series({1: 2.0}), pd.Series({1: 1.0}))
    assert one.n == 1 and one.mean == 1.0 and math.isnan(one.low) and math.isnan(one.p)
    flat = paired_difference(pd.Series({1: 2.0, 2: 3.0}), pd.Series({1: 1.0, 2: 2.0}))  # no variance
    assert flat.mean == 1.0 and math.isnan(flat.p) and math.isnan(flat.high)


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 (m = 3): 0.03, max(0.03, 0.06), max(0.06, 0.04)
    assert holm([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1, kept monotone
    adjusted = holm([float("nan"), 0.02])
    assert math.isnan(adjusted[0]) and adjusted[1] == pytest.approx(0.02)  # NaN does not count in m
