"""Linear CKA: reference values, invariances, undefined cases and the per-layer wrapper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xlingual_probe.probes.cka import (
    CKAUndefinedError,
    _similarities,
    layerwise_cka,
    layerwise_cka_with_reasons,
    linear_cka,
)


@pytest.fixture
def kornblith_xy() -> tuple[np.ndarray, np.ndarray]:
    # the Kornblith et al. (2019) notebook's example, reproduced draw for draw
    np.random.seed(1337)
    x = np.random.randn(100, 10)
    y = np.random.randn(100, 10) + x
    return x, y


def test_reference_values(kornblith_xy):
    x, y = kornblith_xy
    assert linear_cka(x, y) == pytest.approx(0.55761, abs=1e-5)
    assert linear_cka(x, y, debiased=True) == pytest.approx(0.51346, abs=1e-5)


def test_reference_values_from_torch_float32(kornblith_xy):
    x, y = kornblith_xy
    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y).float()
    assert linear_cka(xt, yt) == pytest.approx(0.55761, abs=1e-5)
    assert linear_cka(xt, yt, debiased=True) == pytest.approx(0.51346, abs=1e-5)


def test_matches_gram_space_formula(kornblith_xy):
    # HSIC through centred Gram matrices, the definition the feature-space form rewrites
    x, y = kornblith_xy
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    kc, lc = h @ x @ x.T @ h, h @ y @ y.T @ h
    expected = np.sum(kc * lc) / np.sqrt(np.sum(kc * kc) * np.sum(lc * lc))
    assert linear_cka(x, y) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("debiased", [False, True])
def test_self_similarity_is_one(kornblith_xy, debiased):
    x, _ = kornblith_xy
    assert linear_cka(x, x, debiased=debiased) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("debiased", [False, True])
def test_symmetric(kornblith_xy, debiased):
    x, y = kornblith_xy
    assert linear_cka(x, y, debiased=debiased) == pytest.approx(
        linear_cka(y, x, debiased=debiased), rel=1e-12
    )


@pytest.mark.parametrize("debiased", [False, True])
def test_invariant_to_isotropic_scaling_orthogonal_maps_and_offsets(kornblith_xy, debiased):
    x, y = kornblith_xy
    rng = np.random.default_rng(7)
    q, _ = np.linalg.qr(rng.standard_normal((10, 10)))
    base = linear_cka(x, y, debiased=debiased)
    assert linear_cka(5.0 * x, y, debiased=debiased) == pytest.approx(base, rel=1e-10)
    assert linear_cka(x, 0.01 * y @ q, debiased=debiased) == pytest.approx(base, rel=1e-10)
    assert linear_cka(x + 3.0, y - 1.0, debiased=debiased) == pytest.approx(base, rel=1e-10)


def test_not_invariant_to_anisotropic_scaling(kornblith_xy):
    x, y = kornblith_xy
    stretched = x * np.array([100.0] + [1.0] * 9)
    assert abs(linear_cka(stretched, y) - linear_cka(x, y)) > 1e-3


def test_different_widths_and_range():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 12))
    y = rng.standard_normal((64, 5))
    value = linear_cka(x, y)
    assert 0.0 <= value <= 1.0


def test_independent_data_debiased_near_zero():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2000, 5))
    y = rng.standard_normal((2000, 5))
    assert abs(linear_cka(x, y, debiased=True)) < 0.02
    assert linear_cka(x, y, debiased=True) < linear_cka(x, y)


@pytest.mark.parametrize("debiased", [False, True])
def test_constant_features_raise(debiased):
    x = np.random.default_rng(0).standard_normal((20, 4))
    constant = np.tile(np.array([[0.3, -1.2, 7.0]]), (20, 1))
    with pytest.raises(CKAUndefinedError, match="y has zero variance"):
        linear_cka(x, constant, debiased=debiased)
    with pytest.raises(ValueError, match="x has zero variance"):
        linear_cka(np.zeros((20, 4)), x, debiased=debiased)


def test_partly_constant_features_are_fine():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 4))
    with_constant_column = np.concatenate([x, np.full((30, 1), 5.0)], axis=1)
    assert linear_cka(x, with_constant_column) == pytest.approx(1.0, abs=1e-12)


def test_input_errors():
    x = np.random.default_rng(0).standard_normal((10, 3))
    with pytest.raises(ValueError, match="same examples"):
        linear_cka(x, x[:9])
    with pytest.raises(ValueError, match="2-D"):
        linear_cka(x[:, 0], x)
    with pytest.raises(ValueError, match="at least 2"):
        linear_cka(x[:1], x[:1])
    with pytest.raises(ValueError, match="at least 4"):
        linear_cka(x[:3], x[:3], debiased=True)
    assert linear_cka(x[:4], x[:4] * 2, debiased=True) == pytest.approx(1.0)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        linear_cka(bad, x)


def test_layerwise_tokens_uses_only_masked_tokens():
    g = torch.Generator().manual_seed(0)
    a = [torch.randn(3, 6, 8, generator=g) for _ in range(2)]
    b = [torch.randn(3, 6, 5, generator=g) for _ in range(2)]
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]])
    got = layerwise_cka(a, b, mask)
    keep = mask.bool()
    expected = [linear_cka(x[keep], y[keep]) for x, y in zip(a, b)]
    assert got == pytest.approx(expected, rel=1e-12)
    # padding positions must not matter
    b_noisy = [y.clone() for y in b]
    for y in b_noisy:
        y[~keep] = 1e3
    assert layerwise_cka(a, b_noisy, mask) == pytest.approx(expected, rel=1e-12)


def test_layerwise_mean_pooling():
    g = torch.Generator().manual_seed(1)
    a = [torch.randn(6, 4, 8, generator=g)]
    b = [torch.randn(6, 4, 8, generator=g)]
    mask = torch.tensor([[1, 1, 1, 1]] * 3 + [[1, 1, 0, 0]] * 3)
    m = mask.unsqueeze(-1).double()
    pooled_a = (a[0].double() * m).sum(1) / m.sum(1)
    pooled_b = (b[0].double() * m).sum(1) / m.sum(1)
    assert layerwise_cka(a, b, mask, pooling="mean") == pytest.approx([linear_cka(pooled_a, pooled_b)])
    assert layerwise_cka(a, b, mask, pooling="mean", debiased=True) == pytest.approx(
        [linear_cka(pooled_a, pooled_b, debiased=True)]
    )


def test_layerwise_none_mask_counts_every_token():
    g = torch.Generator().manual_seed(2)
    a = [torch.randn(2, 3, 4, generator=g)]
    b = [torch.randn(2, 3, 4, generator=g)]
    assert layerwise_cka(a, b) == pytest.approx([linear_cka(a[0].reshape(6, 4), b[0].reshape(6, 4))])


def test_layerwise_undefined_layer_is_none():
    g = torch.Generator().manual_seed(3)
    good = torch.randn(2, 5, 4, generator=g)
    constant = torch.full((2, 5, 4), 0.5)
    out = layerwise_cka([good, constant, good], [good, good, constant])
    assert out[0] == pytest.approx(1.0)
    assert out[1:] == [None, None]


def test_layerwise_errors():
    h = [torch.randn(2, 5, 4)]
    with pytest.raises(ValueError, match="layer counts"):
        layerwise_cka(h, h * 2)
    with pytest.raises(ValueError, match="pooling"):
        layerwise_cka(h, h, pooling="cls")
    with pytest.raises(ValueError, match="same batch and seq"):
        layerwise_cka(h, [torch.randn(2, 4, 4)])
    with pytest.raises(ValueError, match="attention_mask"):
        layerwise_cka(h, h, torch.ones(2, 4))
    with pytest.raises(ValueError, match="no tokens"):
        layerwise_cka(h, h, torch.tensor([[1, 1, 0, 0, 0], [0, 0, 0, 0, 0]]), pooling="mean")


@pytest.mark.parametrize("width", [384, 768])
def test_biased_estimator_is_inflated_for_few_sentences_and_the_debiased_one_is_not(width):
    """Why mean pooling defaults to the debiased estimator (SPEC "Probes" 4): 32 independent random
    sentences against a width of 384-768 give a biased CKA of ~0.92-0.96, the debiased one ~0."""
    rng = np.random.default_rng(0)
    biased, debiased = [], []
    for _ in range(5):
        x, y = rng.standard_normal((32, width)), rng.standard_normal((32, width))
        biased.append(linear_cka(x, y))
        debiased.append(linear_cka(x, y, debiased=True))
    assert 0.9 < np.mean(biased) < 0.97
    assert abs(np.mean(debiased)) < 0.05


@pytest.mark.parametrize("bad, reason", [
    (torch.full((2, 5, 4), float("nan")), "holds NaN or inf"),
    (torch.full((2, 5, 4), float("inf")), "holds NaN or inf"),
    (torch.full((2, 5, 4), 0.5), "zero variance"),
])
def test_degenerate_features_give_null_with_a_reason_never_nan(bad, reason):
    good = torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(1))
    results = layerwise_cka_with_reasons([bad, good], [good, bad])
    assert [value for value, _ in results] == [None, None]
    assert all(reason in why for _, why in results)


def test_too_few_rows_give_null_with_a_reason():
    h = [torch.randn(3, 2, 4, generator=torch.Generator().manual_seed(2))]
    assert layerwise_cka_with_reasons(h, h, pooling="mean", debiased=True) == [
        (None, "CKA undefined: debiased CKA needs at least 4 rows; got 3")]


@pytest.mark.parametrize("shape", [(300, 8, 12), (16, 384, 384), (40, 768, 32)])
def test_feature_and_gram_forms_agree_whichever_is_cheaper(shape):
    # few rows against wide layers (the alignment probe's 256 sentences of a 768-wide layer) take the
    # n x n Gram form, many rows the d x d one; the three norms, and so CKA, agree to rounding
    n, d1, d2 = shape
    rng = np.random.default_rng(n)
    x = torch.as_tensor(rng.standard_normal((n, d1)))
    y = torch.as_tensor(rng.standard_normal((n, d2)) + x[:, :1].numpy() @ rng.standard_normal((1, d2)))
    x, y = x - x.mean(0), y - y.mean(0)
    feature, gram = _similarities(x, y, gram=False), _similarities(x, y, gram=True)
    assert [float(v) for v in gram] == pytest.approx([float(v) for v in feature], rel=1e-10)
    h = np.eye(n) - np.ones((n, n)) / n  # the definition through centred Gram matrices
    kc, lc = h @ x.numpy() @ x.numpy().T @ h, h @ y.numpy() @ y.numpy().T @ h
    assert linear_cka(x, y) == pytest.approx(np.sum(kc * lc) / np.sqrt(np.sum(kc * kc) * np.sum(lc * lc)), rel=1e-10)
