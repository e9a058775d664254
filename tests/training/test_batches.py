"""Global batches, process shares and the global-batch mean loss (single process; the multi-process
runs are in test_distributed.py)."""

from types import SimpleNamespace

import pytest
import torch
from accelerate import Accelerator

from xlingual_probe.training.batches import (
    EpochBatches,
    accumulated_update,
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


class _Quadratic(torch.nn.Module):
    """loss = mean over the batch's rows of (w · x_row)²: a model whose mean loss is over examples."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([0.3, -1.2]))

    def forward(self, input_ids):
        return {"loss": ((input_ids @ self.w) ** 2).mean(), "logits": input_ids @ self.w}


def _loss_attr(model):
    """The model's outputs with ``.loss`` (as HF's ModelOutput)."""
    def forward(**batch):
        outputs = model(**batch)
        return SimpleNamespace(loss=outputs["loss"], items=outputs.items)
    return forward


def test_one_process_one_micro_batch_is_plain_backward_bit_for_bit():
    ours, plain = _Quadratic(), _Quadratic()
    x = torch.tensor([[1.0, 2.0], [0.5, -1.0], [3.0, 0.1]])
    value = accumulated_update(_loss_attr(ours), Accelerator(cpu=True), [{"input_ids": x}])
    reference = plain(x)["loss"]
    reference.backward()
    assert value == reference.item() and torch.equal(ours.w.grad, plain.w.grad)


def test_micro_batches_of_unequal_sizes_give_the_whole_batch_s_gradient_and_mean():
    ours, whole = _Quadratic(), _Quadratic()
    x = torch.tensor([[1.0, 2.0], [0.5, -1.0], [3.0, 0.1], [-2.0, 0.7]])
    value = accumulated_update(_loss_attr(ours), Accelerator(cpu=True), [{"input_ids": x[:3]}, {"input_ids": x[3:]}])
    reference = whole(x)["loss"]
    reference.backward()
    assert value == pytest.approx(reference.item(), rel=1e-6)
    assert torch.allclose(ours.w.grad, whole.w.grad, rtol=1e-6)
    # a plain mean of the two micro-batch losses (1/2, 1/2) would weigh the single row 3 times too much
    plain_mean = (whole(x[:3])["loss"] + whole(x[3:])["loss"]) / 2
    assert abs(plain_mean.item() - reference.item()) > 1e-3
