"""Gradient accumulation: one update from several micro-batches, equal to the update of the whole batch.

``--batch-size`` is the batch of one update (summed over processes and micro-batches), so the
paper's batch of 32 fits a small GPU with ``--grad-accum 4`` (8 per forward pass) and the run is the
same run. For the update to equal the unaccumulated one, the micro-batch losses are not simply
averaged: each task's loss is a mean over its *loss terms* — sentences for classification and QA,
labelled tokens (``labels != -100``) for tagging — and micro-batches hold different numbers of them
(the last batch of an epoch is smaller; sentences differ in labelled tokens). So micro-batch i,
with n_i terms and mean loss L_i, contributes (n_i / Σ n) · L_i to the loss and its gradient, which
sums to the mean over the whole batch. With one micro-batch the weight is exactly 1 and nothing changes.

Equality holds up to float rounding when the forward pass draws no random numbers; with dropout the
micro-batches draw their masks separately, so the numbers are the same in distribution, not bit for bit.
With several processes, gradients are synchronised once per update (``accelerator.no_sync`` on the
other micro-batches).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch

IGNORE_INDEX = -100  # the label of padding / non-first sub-tokens in HF's token-classification loss


def micro_batch_indices(indices: list[int], n: int) -> list[list[int]]:
    """Split one process's share of a batch into at most ``n`` consecutive, near-equal micro-batches.

    >>> micro_batch_indices(list(range(8)), 4), micro_batch_indices([0, 1, 2], 2)
    ([[0, 1], [2, 3], [4, 5], [6, 7]], [[0, 1], [2]])
    """
    size = max(1, math.ceil(len(indices) / n))
    return [indices[i:i + size] for i in range(0, len(indices), size)]


def loss_terms(batch: dict[str, Any]) -> int:
    """How many terms the model's mean loss averages over: labelled tokens or examples.

    >>> loss_terms({"input_ids": torch.zeros(2, 5), "labels": torch.tensor([[0, -100, 1], [-100, -100, 2]])})
    3
    >>> loss_terms({"input_ids": torch.zeros(4, 5), "start_positions": torch.zeros(4)})
    4
    """
    labels = batch.get("labels")
    if labels is not None and labels.dim() > 1:
        return int((labels != IGNORE_INDEX).sum())
    return int(batch["input_ids"].shape[0])


def accumulated_update(model: torch.nn.Module, accelerator, batches: list[dict[str, torch.Tensor]]) -> torch.Tensor:
    """Run forward and backward on every micro-batch, leaving the whole batch's gradient in ``.grad``.

    Args:
        model: the (prepared) model; its outputs carry ``loss``.
        accelerator: the run's Accelerator (autocast, backward, gradient synchronisation).
        batches: this process's micro-batches of the update, on the device.

    Returns:
        The update's loss on this process (detached, the weighted mean of the micro-batch losses).
    """
    terms = [loss_terms(b) for b in batches]
    total = sum(terms)
    if total > 0:  # a micro-batch without loss terms has a NaN mean loss and adds nothing: skip it
        batches, terms = zip(*[(b, t) for b, t in zip(batches, terms) if t > 0])
    loss = torch.zeros((), device=accelerator.device)
    for index, (batch, count) in enumerate(zip(batches, terms)):
        weight = count / total if total > 0 else 1.0 / len(batches)
        last = index == len(batches) - 1
        with contextlib.nullcontext() if last else accelerator.no_sync(model):
            with accelerator.autocast():
                outputs = model(**batch)
            accelerator.backward(outputs.loss * weight)
        loss = loss + outputs.loss.detach().float() * weight
    return loss
