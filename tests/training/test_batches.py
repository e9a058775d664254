"""Global batches, process shares and the global-batch mean loss (single process; the multi-process
runs are in test_distributed.py)."""

from types import SimpleNamespace

import pytest
import torch
from accelerate import Accelerator

from xlingual_probe.training.batches import (
    EpochBatches,
    backward_global_mean,
    epoch_batches,
    loss_units,
    process_share,
)


def test_cached_epochs_equal_the_pure_function_at_every_update():
    batches = EpochBatches(n_examples=23, batch_size=5, seed=7)
    assert batches.steps_per_epoch == 5
    for step in range(1, 5 * 4 + 1):  # four epochs, in order
        epoch, index = divmod(step - 1, 5)
        assert batches(step) == epoch_batches(23, 5, seed=7, epoch=epoch)[index]
    assert batches(3) == epoch_batches(23, 5, seed=7, epoch=0)[2]  # going back (a resume) works too


@pytest.mark.parametrize("n, processes", [(16, 2), (17, 2), (1, 2), (7, 3), (5, 1)])
def test_process_shares_cover_the_global_batch_exactly_once(n, processes):
    batch = list(range(100, 100 + n))
    shares = [process_share(batch, r, processes) for r in range(processes)]
    assert [i for share in shares for i in share] == batch
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_loss_units_count_labelled_tokens_for_tagging_and_rows_otherwise():
    tagging = {"input_ids": torch.zeros(2, 4), "labels": torch.tensor([[-100, 1, 2, -100], [-100, 0, -100, -100]])}
    assert loss_units(tagging) == 3
    assert loss_units({"input_ids": torch.zeros(3, 4), "labels": torch.tensor([0, 1, 2])}) == 3
    assert loss_units({"input_ids": torch.zeros(2, 9), "start_positions": torch.tensor([1, 2])}) == 2


def test_one_process_backward_is_plain_backward_bit_for_bit():
    ours, plain = (torch.nn.Parameter(torch.tensor([0.3, -1.2])) for _ in range(2))
    outputs = SimpleNamespace(loss=(ours ** 2).sum() / 3)
    value = backward_global_mean(Accelerator(cpu=True), outputs, units=5)
    reference = (plain ** 2).sum() / 3
    reference.backward()
    assert value == reference.item() and torch.equal(ours.grad, plain.grad)
