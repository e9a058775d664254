"""Which training examples each update uses, and which of them each process runs.

An epoch is a seeded permutation of the training features cut into global batches of ``batch_size``
(the last one may be shorter); it is a pure function of (seed, epoch), so a resumed run repeats its
batches. :class:`EpochBatches` builds each epoch's permutation once (not once per update: that
was O(dataset) work at every step). With N processes, :func:`process_share` cuts each global batch
into N contiguous shares whose sizes differ by at most one, so the processes together run exactly the
global batch; :func:`micro_batch_indices` cuts a share into ``--grad-accum`` micro-batches, and
:func:`accumulated_update` makes the gradients and the logged loss those of the global batch's mean
loss, whatever the shares' and micro-batches' sizes.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch
from accelerate import Accelerator

__all__ = ["EpochBatches", "accumulated_update", "epoch_batches", "loss_units", "micro_batch_indices", "process_share"]

IGNORE_INDEX = -100  # label of positions a loss skips (PyTorch's CrossEntropyLoss default, HF's convention)


def epoch_batches(n_examples: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The shuffled global batches of one epoch; a pure function of (seed, epoch).

    >>> epoch_batches(5, 2, seed=0, epoch=0) == epoch_batches(5, 2, seed=0, epoch=0)
    True
    >>> [len(b) for b in epoch_batches(5, 2, seed=0, epoch=0)]
    [2, 2, 1]
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n_examples, generator=generator).tolist()
    return [order[i:i + batch_size] for i in range(0, n_examples, batch_size)]


class EpochBatches:
    """The global batch of every update (1-based), keeping the current epoch's batches.

    >>> batches = EpochBatches(n_examples=5, batch_size=2, seed=0)
    >>> batches(4) == epoch_batches(5, 2, seed=0, epoch=1)[0]  # update 4 opens epoch 1
    True
    """

    def __init__(self, n_examples: int, batch_size: int, seed: int):
        self.n_examples, self.batch_size, self.seed = n_examples, batch_size, seed
        self.steps_per_epoch = -(-n_examples // batch_size)
        self._epoch, self._batches = -1, []

    def __call__(self, step: int) -> list[int]:
        epoch, index = divmod(step - 1, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, epoch_batches(self.n_examples, self.batch_size, self.seed, epoch)
        return self._batches[index]


def micro_batch_indices(indices: list[int], n: int) -> list[list[int]]:
    """Split one process's share of a batch into at most ``n`` consecutive, near-equal micro-batches
    (``--grad-accum``: the paper's batch of 32 fits a small GPU as 4 passes of 8, the same update).

    >>> micro_batch_indices(list(range(8)), 4), micro_batch_indices([0, 1, 2], 2)
    ([[0, 1], [2, 3], [4, 5], [6, 7]], [[0, 1], [2]])
    """
    size = max(1, math.ceil(len(indices) / n))
    return [indices[i:i + size] for i in range(0, len(indices), size)]


def process_share(batch: list[int], process_index: int, num_processes: int) -> list[int]:
    """Process ``process_index``'s contiguous share of a global batch (sizes differ by at most one;
    a share is empty when the batch has fewer examples than processes).

    >>> [process_share(list(range(5)), r, 2) for r in (0, 1)]
    [[0, 1, 2], [3, 4]]
    """
    base, extra = divmod(len(batch), num_processes)
    start = process_index * base + min(process_index, extra)
    return batch[start:start + base + (process_index < extra)]


def loss_units(batch: dict[str, torch.Tensor]) -> int:
    """How many terms a model's mean loss over ``batch`` averages: labelled tokens (labels other than
    -100) for token classification, else examples (sequence classification, QA)."""
    labels = batch.get("labels")
    if labels is not None and labels.dim() == 2:
        return int((labels != IGNORE_INDEX).sum())
    return int(batch["input_ids"].shape[0])


def _zero_loss(outputs: Any) -> torch.Tensor:
    """An exact zero that reaches every output (so DDP sees a gradient for every parameter), for a
    micro-batch whose mean loss is over no terms (NaN)."""
    return sum(value.float().sum() for key, value in outputs.items()
               if key != "loss" and torch.is_tensor(value)) * 0.0


def accumulated_update(model: torch.nn.Module, accelerator: Accelerator, micro_batches: list[dict[str, torch.Tensor]],
                       counts: bool = True) -> float:
    """Forward and backward every micro-batch of this process's share of an update, leaving in ``.grad``
    the gradient of the global batch's mean loss; return that mean (the same float on every process:
    what a learning-rate policy is fed).

    Micro-batch i with u_i loss terms (:func:`loss_units`) and mean loss L_i back-propagates
    L_i × u_i × N / U, where N is the number of processes and U the total of terms over every process
    and micro-batch (all-reduced once per update): DDP averages the processes' gradients, so the sum is
    the gradient of the mean over all U terms, also when shares and micro-batches differ in size (the
    last batch of an epoch, token counts in tagging; a plain mean of micro-batch losses would get both
    wrong). Gradients are synchronised once, on the last micro-batch (``accelerator.no_sync`` on the
    others). With one process and one micro-batch this is ``backward(loss)`` and ``loss.item()``, bit
    for bit. With dropout, micro-batches draw their masks separately, so an accumulated update equals
    the whole one in distribution, not bit for bit.

    Args:
        model: the (prepared) model; its outputs carry ``loss``.
        accelerator: the run's Accelerator (autocast, backward, reductions, gradient synchronisation).
        micro_batches: this process's micro-batches of the update, on the device.
        counts: ``False`` for a process without a share of the batch: its stand-in micro-batch counts
            for nothing.

    Returns:
        The global batch's mean loss (NaN when the batch has no loss terms).
    """
    n = accelerator.num_processes
    if n == 1 and len(micro_batches) == 1 and counts:
        with accelerator.autocast():
            loss = model(**micro_batches[0]).loss
        accelerator.backward(loss)
        return loss.item()
    units = [loss_units(batch) if counts else 0 for batch in micro_batches]
    total = float(sum(units))
    if n > 1:
        total = accelerator.reduce(torch.tensor([total], device=accelerator.device), reduction="sum").item()
    summed = torch.zeros(1, device=accelerator.device)
    for index, (batch, count) in enumerate(zip(micro_batches, units)):
        last = index == len(micro_batches) - 1
        with contextlib.nullcontext() if last else accelerator.no_sync(model):
            with accelerator.autocast():
                outputs = model(**batch)
            loss = outputs.loss if count else _zero_loss(outputs)
            accelerator.backward(loss * (count * n / total) if total else loss * 0.0)
        if count:
            summed = summed + outputs.loss.detach().float() * count
    if n > 1:
        summed = accelerator.reduce(summed, reduction="sum")
    return summed.item() / total if total else float("nan")
