"""Linear CKA: how similar are two sets of representations of the same inputs?

Context:
    The paper tracks how far the fine-tuned model's hidden states drift from the pre-trained
    ones, layer by layer (its Figure 6): a layer whose representations stay close to the
    pre-trained model still carries the multilingual knowledge that zero-shot transfer relies on.
    The drift is measured with centred kernel alignment (CKA, Kornblith et al. 2019) between the
    hidden states of each layer of the working model and of a frozen pre-trained copy, computed
    on the same batch.

Method:
    With the n examples (tokens or sentences) as rows and the features as columns, centre every
    column of X (n, d1) and Y (n, d2), then

        CKA(X, Y) = ||YᵀX||²_F / (||XᵀX||_F · ||YᵀY||_F)

    (the feature-space form, cheap when n ≫ d). When n is small against the widths (a few hundred
    sentences of a 768-wide layer), the same three norms come from the n × n Gram matrices
    K = XXᵀ and L = YYᵀ instead: ||YᵀX||²_F = ⟨K, L⟩_F and ||XᵀX||_F = ||K||_F (both are
    tr(XᵀYYᵀX) and tr(KK)); :func:`linear_cka` takes whichever form needs fewer multiplications
    (the values agree to rounding). It lies in [0, 1], equals 1 for X against
    itself, and is invariant to orthogonal transforms and isotropic scaling of either side, but
    not to arbitrary invertible linear maps. ``debiased=True`` replaces each ||·||²_F (a biased
    HSIC estimate) with the unbiased HSIC estimator of Song et al. (2007), exactly as
    ``feature_space_linear_cka(..., debiased=True)`` of the Kornblith et al. notebook; it removes
    the upward bias of CKA for small n relative to d, and can be slightly negative.

    Everything is computed in float64 with torch on the inputs' device (``y`` joins ``x``'s; arrays
    on the CPU), whatever their dtype: on a GPU the measures of a probe step no longer wait for
    copies to the CPU (an H200 spent most of the alignment probe's time there).

Undefined cases:
    CKA divides by the spread of each side. When one side has (numerically) zero variance after
    centring — all rows equal, e.g. a batch of identical sentences mean-pooled — the ratio is
    0/0. :func:`linear_cka` then raises :class:`CKAUndefinedError` (a ``ValueError``) instead of
    returning NaN, and so it does for non-finite features (a diverging model's NaN/inf hidden
    states) and for too few rows (n < 2; n < 4 debiased); :func:`layerwise_cka` catches exactly
    that error and reports ``None`` for the layer (:func:`layerwise_cka_with_reasons` also says
    why), so one degenerate layer never hides the others and no NaN ever reaches a log. "Numerically zero" means the
    centred Frobenius norm is at most ``1e-10`` times the uncentred one: below that, what is
    left after centring is rounding noise (float32 hidden states carry ~1e-7 relative precision).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

__all__ = ["CKAUndefinedError", "layerwise_cka", "layerwise_cka_with_reasons", "linear_cka", "mean_pool"]

# relative size of the centred data below which a side counts as having zero variance
_ZERO_VARIANCE_RTOL = 1e-10


class CKAUndefinedError(ValueError):
    """CKA has no value for these inputs: one side has zero variance after centring, holds NaN/inf, or
    there are too few rows. The message says which."""


def _as_float64(a: Any, name: str, device: torch.device | None = None) -> Tensor:
    # a float64 tensor on `device` (default: a tensor's own device; arrays on the CPU)
    if isinstance(a, Tensor):
        a = a.detach().to(device=device or a.device, dtype=torch.float64)
    else:
        a = torch.as_tensor(np.asarray(a, dtype=np.float64), device=device)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (examples, features); got shape {tuple(a.shape)}")
    if not bool(torch.isfinite(a).all()):
        raise CKAUndefinedError(f"CKA undefined: {name} holds NaN or inf values")
    return a


def _centre(a: Tensor, name: str) -> Tensor:
    centred = a - a.mean(dim=0, keepdim=True)
    if bool(torch.linalg.norm(centred) <= _ZERO_VARIANCE_RTOL * torch.linalg.norm(a)):
        raise CKAUndefinedError(f"CKA undefined: {name} has zero variance (all rows are equal)")
    return centred


def _debiased_dot_product_similarity(
    xty: Tensor,
    sum_squared_rows_x: Tensor,
    sum_squared_rows_y: Tensor,
    squared_norm_x: Tensor,
    squared_norm_y: Tensor,
    n: int,
) -> Tensor:
    # Kornblith et al.'s `_debiased_dot_product_similarity_helper`: the unbiased HSIC estimator
    # of Song et al. (2007) rewritten for centred features, up to the factor 1 / (n (n - 3)),
    # which cancels in the CKA ratio.
    return (
        xty
        - n / (n - 2.0) * sum_squared_rows_x.dot(sum_squared_rows_y)
        + squared_norm_x * squared_norm_y / ((n - 1) * (n - 2))
    )


def _similarities(x: Tensor, y: Tensor, gram: bool | None = None) -> tuple[Tensor, Tensor, Tensor]:
    # ||YᵀX||²_F, ||XᵀX||_F, ||YᵀY||_F of centred x [n, d1], y [n, d2]: from the d × d products (feature
    # space) or the n × n Gram matrices, whichever costs fewer multiplications (`gram`: force one)
    n, d1, d2 = x.shape[0], x.shape[1], y.shape[1]
    if gram is None:
        gram = n * n * (d1 + d2) < n * (d1 * d2 + d1 * d1 + d2 * d2)
    if gram:
        gram_x, gram_y = x @ x.T, y @ y.T
        return (gram_x * gram_y).sum(), torch.linalg.norm(gram_x), torch.linalg.norm(gram_y)
    return torch.linalg.norm(y.T @ x) ** 2, torch.linalg.norm(x.T @ x), torch.linalg.norm(y.T @ y)


def linear_cka(x: Tensor | np.ndarray, y: Tensor | np.ndarray, debiased: bool = False) -> float:
    """Linear CKA between two representations of the same n examples.

    Args:
        x: representations ``[n, d1]`` (tensor or array, any dtype/device).
        y: representations ``[n, d2]`` of the same examples, in the same order.
        debiased: use the unbiased HSIC estimator (Kornblith et al.'s ``debiased=True``).

    Returns:
        CKA in [0, 1] (the debiased value may dip slightly below 0).

    Raises:
        ValueError: inputs are not 2-D or disagree in n.
        CKAUndefinedError: one side has zero variance after centring or holds NaN/inf values, or
            there are too few examples (n < 2; n < 4 when debiased); a ``ValueError`` too.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((50, 8))
    >>> round(linear_cka(x, x), 6)
    1.0
    >>> q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    >>> round(linear_cka(x, 3.0 * x @ q), 6)  # orthogonal map + isotropic scaling
    1.0
    >>> linear_cka(x, np.ones((50, 3)))
    Traceback (most recent call last):
    ...
    xlingual_probe.probes.cka.CKAUndefinedError: CKA undefined: y has zero variance (all rows are equal)
    """
    x = _as_float64(x, "x")
    y = _as_float64(y, "y", device=x.device)
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"x and y must hold the same examples: {n} rows against {y.shape[0]}")
    min_n = 4 if debiased else 2
    if n < min_n:
        raise CKAUndefinedError(f"CKA undefined: {'debiased ' if debiased else ''}CKA needs at least {min_n} "
                                f"rows; got {n}")
    x = _centre(x, "x")
    y = _centre(y, "y")

    dot_product_similarity, normalization_x, normalization_y = _similarities(x, y)

    if debiased:
        sum_squared_rows_x = (x * x).sum(dim=1)
        sum_squared_rows_y = (y * y).sum(dim=1)
        squared_norm_x = sum_squared_rows_x.sum()
        squared_norm_y = sum_squared_rows_y.sum()
        dot_product_similarity = _debiased_dot_product_similarity(
            dot_product_similarity, sum_squared_rows_x, sum_squared_rows_y, squared_norm_x, squared_norm_y, n
        )
        hsic_xx = _debiased_dot_product_similarity(
            normalization_x**2, sum_squared_rows_x, sum_squared_rows_x, squared_norm_x, squared_norm_x, n
        )
        hsic_yy = _debiased_dot_product_similarity(
            normalization_y**2, sum_squared_rows_y, sum_squared_rows_y, squared_norm_y, squared_norm_y, n
        )
        # the unbiased estimate of a side's self-similarity can fall to <= 0 for degenerate data
        for name, hsic in (("x", float(hsic_xx)), ("y", float(hsic_yy))):
            if not hsic > 0:
                raise CKAUndefinedError(
                    f"CKA undefined: the debiased HSIC of {name} with itself is {hsic:.3g} (not positive)"
                )
        normalization_x = hsic_xx.sqrt()
        normalization_y = hsic_yy.sqrt()

    value = float(dot_product_similarity / (normalization_x * normalization_y))
    if not math.isfinite(value):  # e.g. overflow of huge features: never hand a NaN on
        raise CKAUndefinedError(f"CKA undefined: the ratio is {value}")
    return value


def mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """Sentence representations: the mean of ``hidden`` ``[batch, seq, d]`` over the positions where
    ``mask`` ``[batch, seq]`` is nonzero, in float64 → ``[batch, d]``.

    >>> mean_pool(torch.tensor([[[1.0], [3.0], [100.0]]]), torch.tensor([[1, 1, 0]]))
    tensor([[2.]], dtype=torch.float64)
    """
    weights = mask.to(device=hidden.device, dtype=torch.float64).unsqueeze(-1)
    return (hidden.to(torch.float64) * weights).sum(dim=1) / weights.sum(dim=1)


def _pool(hidden: Tensor, mask: Tensor, pooling: str) -> Tensor:
    # [batch, seq, d] -> [n, d]: the rows CKA compares
    return hidden[mask] if pooling == "tokens" else mean_pool(hidden, mask)


def layerwise_cka_with_reasons(
    hidden_a: Sequence[Tensor],
    hidden_b: Sequence[Tensor],
    attention_mask: Tensor | None = None,
    pooling: Literal["tokens", "mean"] = "tokens",
    debiased: bool = False,
) -> list[tuple[float | None, str | None]]:
    """Per-layer linear CKA between two models' hidden states on the same batch.

    Args:
        hidden_a: one ``[batch, seq, d_a]`` tensor per layer (e.g. ``output.hidden_states``).
        hidden_b: one ``[batch, seq, d_b]`` tensor per layer, same batch, same number of layers.
        attention_mask: ``[batch, seq]``, nonzero for real tokens; ``None`` counts every token.
        pooling: ``tokens`` compares every token under the mask (one row per token); ``mean``
            compares mask-weighted mean-pooled sentences (one row per sentence).
        debiased: use the unbiased HSIC estimator.

    Returns:
        One ``(cka, reason)`` per layer: ``(value, None)``, or ``(None, why)`` where CKA is undefined
        (zero variance, NaN/inf hidden states, too few rows).

    Raises:
        ValueError: mismatched layer counts or shapes, an unknown pooling, a sentence with no
            tokens under the mask (``mean``), or too few rows for CKA.

    >>> g = torch.Generator().manual_seed(0)
    >>> h = [torch.randn(2, 5, 4, generator=g) for _ in range(3)]
    >>> mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    >>> [round(v, 6) for v, _ in layerwise_cka_with_reasons(h, h, mask)]
    [1.0, 1.0, 1.0]
    >>> layerwise_cka_with_reasons([torch.zeros(2, 5, 4)], h[:1], mask)
    [(None, 'CKA undefined: x has zero variance (all rows are equal)')]
    >>> layerwise_cka_with_reasons([torch.full((2, 5, 4), float("nan"))], h[:1], mask)
    [(None, 'CKA undefined: x holds NaN or inf values')]
    """
    if pooling not in ("tokens", "mean"):
        raise ValueError(f"pooling must be 'tokens' or 'mean'; got {pooling!r}")
    if len(hidden_a) != len(hidden_b):
        raise ValueError(f"layer counts differ: {len(hidden_a)} against {len(hidden_b)}")
    results: list[tuple[float | None, str | None]] = []
    for layer, (a, b) in enumerate(zip(hidden_a, hidden_b)):
        if a.ndim != 3 or b.ndim != 3 or a.shape[:2] != b.shape[:2]:
            raise ValueError(
                f"layer {layer}: hidden states must be [batch, seq, d] with the same batch and seq; "
                f"got {tuple(a.shape)} and {tuple(b.shape)}"
            )
        if attention_mask is None:
            mask = torch.ones(a.shape[:2], dtype=torch.bool, device=a.device)
        else:
            if tuple(attention_mask.shape) != tuple(a.shape[:2]):
                raise ValueError(
                    f"attention_mask has shape {tuple(attention_mask.shape)}; expected {tuple(a.shape[:2])}"
                )
            mask = attention_mask.to(device=a.device) != 0
        if pooling == "mean" and not bool(mask.any(dim=1).all()):
            raise ValueError("mean pooling: a sentence has no tokens under the attention mask")
        with torch.no_grad():
            rows_a = _pool(a.detach(), mask, pooling)
            rows_b = _pool(b.detach(), mask.to(b.device), pooling)
        try:
            results.append((linear_cka(rows_a, rows_b, debiased=debiased), None))
        except CKAUndefinedError as exc:
            results.append((None, str(exc)))
    return results


def layerwise_cka(
    hidden_a: Sequence[Tensor],
    hidden_b: Sequence[Tensor],
    attention_mask: Tensor | None = None,
    pooling: Literal["tokens", "mean"] = "tokens",
    debiased: bool = False,
) -> list[float | None]:
    """Per-layer linear CKA (see :func:`layerwise_cka_with_reasons`); ``None`` where it is undefined.

    >>> g = torch.Generator().manual_seed(0)
    >>> h = [torch.randn(2, 5, 4, generator=g) for _ in range(2)]
    >>> [round(v, 6) for v in layerwise_cka(h, h)], layerwise_cka([torch.zeros(2, 5, 4)], h[:1])
    ([1.0, 1.0], [None])
    """
    return [value for value, _ in layerwise_cka_with_reasons(hidden_a, hidden_b, attention_mask, pooling, debiased)]
