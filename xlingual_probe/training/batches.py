"""Which training examples each update uses, and which of them each process runs.

An epoch is a seeded permutation of the training features cut into global batches of ``batch_size``
(the last one may be shorter); it is a pure function of (seed, epoch), so a resumed run repeats its
batches. :class:`EpochBatches` builds each epoch's permutation once (not once per update: that
was O(dataset) work at every step). With N processes, :func:`process_share` cuts each global batch
into N contiguous shares whose sizes differ by at most one, so the processes together run exactly the
global batch; :func:`backward_global_mean` makes their gradients and the logged loss those of the
global batch's mean loss, whatever the shares' sizes.
"""

from __future__ import annotations

from typing import Any

import torch
from accelerate import Accelerator

__all__ = ["EpochBatches", "backward_global_mean", "epoch_batches", "loss_units", "process_share"]

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


def backward_global_mean(accelerator: Accelerator, outputs: Any, units: int) -> float:
    """Back-propagate so that the gradient is that of the global batch's mean loss, and return that
    mean (the same float on every process: what a learning-rate policy is fed).

    ``outputs.loss`` is this process's mean over ``units`` terms (0 for a process with no share,
    whose stand-in example then counts for nothing). Distributed data parallelism averages the
    processes' gradients, so scaling each process's loss by ``units × N / total units`` makes the
    average the gradient of the mean over all terms, also when shares differ in size (the last batch
    of an epoch, or token counts in tagging); the mean itself is the all-reduced sum of
    ``loss × units`` over the total. With one process this is ``backward(loss)`` and ``loss.item()``,
    bit for bit.
    """
    loss = outputs.loss
    if accelerator.num_processes == 1:
        accelerator.backward(loss)
        return loss.item()
    if units == 0:  # a mean over no terms is NaN: back-propagate an exact zero through every output instead
        loss = sum(value.float().sum() for key, value in outputs.items()
                   if key != "loss" and torch.is_tensor(value)) * 0.0
    total = accelerator.reduce(torch.tensor([float(units)], device=loss.device), reduction="sum").item()
    accelerator.backward(loss * (units * accelerator.num_processes / total) if total else loss * 0.0)
    summed = accelerator.reduce(loss.detach().float().reshape(1) * units, reduction="sum").item()
    return summed / total if total else float("nan")
