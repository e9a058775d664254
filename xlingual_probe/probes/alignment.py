"""Cross-lingual alignment per layer: does a layer still map a sentence and its translation together?

Context:
    The paper protects cross-lingual knowledge it never measures: it infers where it lives from a
    ~150-run layer sweep, and forgetting from the gap. Its CKA compares each layer with its own
    pre-trained self, which says how much a layer moved, not whether the languages are still
    aligned. On parallel sentences (:mod:`xlingual_probe.probes.parallel`) the alignment itself can
    be measured per layer, during fine-tuning, at the cost of a forward pass over a few hundred
    sentences per language.

Method (SPEC "Alignment probe"). A sentence's representation at layer ℓ is the mean of the layer's
output over its non-padding tokens (:func:`~xlingual_probe.probes.cka.mean_pool`). For each layer,
each target language t and its n (source, target) pairs:

    * **Retrieval** (XTREME's BUCC / Tatoeba measure): ``retrieval_src2tgt`` = the share (0–100) of
      source sentences whose nearest target sentence by cosine is their translation, among the n
      target sentences; ``retrieval_tgt2src`` the other way; ``retrieval`` their mean. Option
      ``margin``: the nearest neighbour by the ratio margin of Artetxe & Schwenk (2019),
      cos(x, y) / ((Σ_{z ∈ NN_k(x)} cos(x, z) + Σ_{z ∈ NN_k(y)} cos(y, z)) / 2k), k = 4, which
      discounts "hub" sentences close to everything. Ties go to the lower index.
    * ``cka_cross``: debiased linear CKA (:func:`~xlingual_probe.probes.cka.linear_cka`) between the
      source and the target representations of the pairs — n is a few hundred against a width of
      hundreds, where the biased estimator is inflated.
    * ``cka_to_pretrained``: debiased linear CKA between each language's representations now and at
      the start of fine-tuning (Philippy et al. 2023 report 1 − this value as the change).

    The source language gets a record too, with ``cka_to_pretrained`` only. Every record carries
    ``n`` (pairs for a target, sentences for the source) and ``align_seconds`` (the probe's time at
    that step, the same in every record of the step).

:class:`AlignmentMeter` holds the tokenised sample and the starting point's representations; the
training-loop and Trainer forms are in :mod:`xlingual_probe.probes.alignment_probe`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xlingual_probe.probes.cka import CKAUndefinedError, linear_cka, mean_pool
from xlingual_probe.probes.cka_probe import layer_hidden_states
from xlingual_probe.probes.parallel import ParallelSample

__all__ = ["RETRIEVAL", "AlignmentMeter", "margin_scores", "retrieval_accuracy"]

RETRIEVAL = ("cosine", "margin")
Representations = dict[str, list[Tensor]]  # {lang: one [n_lang, d] float32 tensor per layer, on the model's device}


def _cosine(source: Tensor | np.ndarray, target: Tensor | np.ndarray) -> Tensor:
    # [n, n] cosine similarities in float64 on the source's device (arrays: the CPU)
    x = source.detach().to(torch.float64) if isinstance(source, Tensor) else torch.as_tensor(source, dtype=torch.float64)
    y = target.detach().to(x.device, torch.float64) if isinstance(target, Tensor) else \
        torch.as_tensor(target, dtype=torch.float64, device=x.device)
    if x.ndim != 2 or y.ndim != 2 or x.shape != y.shape:
        raise ValueError(f"source and target must be [n, d] of the same shape; got {tuple(x.shape)} and {tuple(y.shape)}")
    x = x / torch.linalg.norm(x, dim=1, keepdim=True).clamp_min(1e-12)
    y = y / torch.linalg.norm(y, dim=1, keepdim=True).clamp_min(1e-12)
    return x @ y.T


def margin_scores(cosine: Tensor | np.ndarray, k: int = 4) -> Tensor | np.ndarray:
    """The ratio margin of Artetxe & Schwenk (2019) for every (source i, target j) pair.

    Args:
        cosine: ``[n_src, n_tgt]`` cosine similarities (tensor, on any device, or array).
        k: neighbours averaged on each side (capped at the number of candidates).

    Returns:
        ``[n_src, n_tgt]`` (of ``cosine``'s kind): cos(i, j) / ((mean of i's k best targets + mean of
        j's k best sources) / 2).

    >>> cos = np.array([[0.5, 0.45, 0.1], [0.6, 0.1, 0.55], [0.9, 0.2, 0.3]])  # target 0 is a hub
    >>> cos.argmax(axis=1).tolist(), margin_scores(cos, k=1).argmax(axis=1).tolist()
    ([0, 0, 0], [1, 2, 0])
    """
    scores = torch.as_tensor(cosine)
    k_src, k_tgt = min(k, scores.shape[1]), min(k, scores.shape[0])
    src_mean = scores.topk(k_src, dim=1).values.mean(dim=1)  # each source's k nearest targets
    tgt_mean = scores.topk(k_tgt, dim=0).values.mean(dim=0)  # each target's k nearest sources
    margin = scores / ((src_mean[:, None] + tgt_mean[None, :]) / 2)
    return margin.cpu().numpy() if isinstance(cosine, np.ndarray) else margin


def retrieval_accuracy(source: Tensor | np.ndarray, target: Tensor | np.ndarray, method: str = "cosine",
                       k: int = 4) -> tuple[float, float]:
    """Top-1 translation retrieval (0–100) in both directions; row i of ``source`` translates row i of ``target``.

    Computed in float64 on ``source``'s device (``target`` joins it; arrays on the CPU).

    Args:
        source: ``[n, d]`` representations of the source sentences.
        target: ``[n, d]`` representations of their translations, in the same order.
        method: ``cosine`` (nearest neighbour) or ``margin`` (ratio margin, see :func:`margin_scores`).
        k: the margin's neighbourhood size.

    Returns:
        ``(source→target, target→source)`` accuracies in percent.

    Raises:
        ValueError: shapes differ, or an unknown ``method``.

    >>> x = np.eye(4)
    >>> retrieval_accuracy(x, x)
    (100.0, 100.0)
    >>> retrieval_accuracy(x, x[[1, 0, 2, 3]])   # two sentences swapped
    (50.0, 50.0)
    """
    if method not in RETRIEVAL:
        raise ValueError(f"retrieval method must be one of {', '.join(RETRIEVAL)}; got {method!r}")
    scores = _cosine(source, target)
    if method == "margin":
        scores = margin_scores(scores, k)
    truth = torch.arange(scores.shape[0], device=scores.device)
    # argmax takes the first of equal maxima: ties go to the lower index
    hits = torch.stack([(scores.argmax(dim=1) == truth).sum(), (scores.argmax(dim=0) == truth).sum()]).tolist()
    return 100.0 * hits[0] / len(truth), 100.0 * hits[1] / len(truth)


def _layer_outputs(outputs: Any, num_layers: int | None) -> tuple[Tensor, ...]:
    if num_layers is None:  # as many layers as hidden states after the embeddings (none: refused below)
        num_layers = len(getattr(outputs, "hidden_states", None) or ()) - 1
    return layer_hidden_states(outputs, num_layers, "probed")


def _cka_or_none(x: Tensor, y: Tensor) -> float | None:
    try:
        return linear_cka(x, y, debiased=True)
    except CKAUndefinedError:
        return None


class AlignmentMeter:
    """The tokenised parallel sample, and the alignment of a model's layers on it.

    Args:
        sample: the parallel sentences.
        tokenizer: the model's tokenizer (each language's sentences are tokenised once, here).
        max_length: tokens per sentence at most.
        batch_size: sentences per forward pass (sentences are sorted by length first).
        retrieval: ``cosine`` or ``margin``.
        k: the margin's neighbourhood size.

    Attributes:
        reference: the representations at the start of fine-tuning (set with :meth:`set_reference`).
    """

    def __init__(self, sample: ParallelSample, tokenizer: Any, *, max_length: int = 128, batch_size: int = 64,
                 retrieval: str = "cosine", k: int = 4):
        if retrieval not in RETRIEVAL:
            raise ValueError(f"retrieval must be one of {', '.join(RETRIEVAL)}; got {retrieval!r}")
        self.sample, self.retrieval, self.k = sample, retrieval, k
        self.pairs = {target: sample.pair_indices(target) for target in sample.targets}
        self.batches: dict[str, list[tuple[list[int], dict[str, Tensor]]]] = {}
        for lang, texts in sample.texts.items():
            encoded = tokenizer(texts, truncation=True, max_length=max_length)
            order = sorted(range(len(texts)), key=lambda i: -len(encoded["input_ids"][i]))
            self.batches[lang] = []
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                features = [{key: encoded[key][i] for key in ("input_ids", "attention_mask", "token_type_ids")
                             if key in encoded} for i in rows]
                self.batches[lang].append((rows, dict(tokenizer.pad(features, return_tensors="pt"))))
        self.reference: Representations | None = None

    @torch.no_grad()
    def representations(self, model: torch.nn.Module, num_layers: int | None = None,
                        autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
                        ) -> Representations:
        """Mean-pooled representations of every sentence at every layer, in eval mode (no dropout).

        Args:
            model: any ``transformers`` model that returns ``hidden_states``.
            num_layers: its number of transformer layers (checked against the hidden states);
                ``None`` = as many as it returns after the embeddings.
            autocast: a context manager factory for the forward passes (e.g. Accelerate's).

        Returns:
            ``{lang: [layer 0 .. L-1: [n_lang, d] float32 on the model's device]}`` in the sample's
            order (pooled in float64, kept in float32: the reference of a 12-layer, 384-wide model
            over 15 × 256 sentences is then 70 MB; measured where they are, no copy to the CPU).
        """
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        out: Representations = {}
        try:
            for lang, batches in self.batches.items():
                order: list[int] = []
                pooled: list[list[Tensor]] = []
                for rows, batch in batches:
                    inputs = {key: value.to(device) for key, value in batch.items()}
                    with autocast():
                        outputs = model(**inputs, output_hidden_states=True)
                    hidden = _layer_outputs(outputs, num_layers)
                    pooled = pooled or [[] for _ in hidden]
                    for layer, states in enumerate(hidden):
                        pooled[layer].append(mean_pool(states, inputs["attention_mask"]).to(torch.float32))
                    order.extend(rows)
                position = torch.empty(len(order), dtype=torch.long, device=device)
                position[torch.tensor(order, device=device)] = torch.arange(len(order), device=device)
                out[lang] = [torch.cat(chunks)[position] for chunks in pooled]
        finally:
            model.train(was_training)
        return out

    def set_reference(self, reps: Representations | None) -> None:
        """Keep ``reps`` as the starting point that ``cka_to_pretrained`` compares with (``None``: unknown)."""
        self.reference = reps

    def _to_reference(self, lang: str, layer: int, rep: Tensor) -> float | None:
        return None if self.reference is None else _cka_or_none(rep, self.reference[lang][layer])

    def records(self, step: int, reps: Representations) -> list[dict[str, Any]]:
        """One record per layer and language (source first) for the representations at ``step``
        (``cka_to_pretrained`` is null while no reference is set)."""
        source = self.sample.source_lang
        records = []
        for layer in range(len(reps[source])):
            records.append({"step": step, "layer": layer, "lang": source, "n": len(self.sample.texts[source]),
                            "retrieval_src2tgt": None, "retrieval_tgt2src": None, "retrieval": None,
                            "cka_cross": None, "cka_to_pretrained": self._to_reference(source, layer, reps[source][layer])})
            for target, (src_rows, tgt_rows) in self.pairs.items():
                x, y = reps[source][layer][src_rows], reps[target][layer][tgt_rows]
                s2t, t2s = retrieval_accuracy(x, y, self.retrieval, self.k)
                records.append({"step": step, "layer": layer, "lang": target, "n": len(src_rows),
                                "retrieval_src2tgt": s2t, "retrieval_tgt2src": t2s, "retrieval": (s2t + t2s) / 2,
                                "cka_cross": _cka_or_none(x, y),
                                "cka_to_pretrained": self._to_reference(target, layer, reps[target][layer])})
        return records
