"""The learning-rate schedule is the HF Trainer's: same warm-up count, same rate at every update."""

import pytest
import torch
from transformers import TrainingArguments, get_linear_schedule_with_warmup

from tests.tiny import tiny_config
from xlingual_probe.training import train
from xlingual_probe.training.schedule import linear_schedule_factor, warmup_steps_for
from xlingual_probe.utils.io import read_json, read_jsonl


def trainer_rates(total: int, ratio: float, peak: float, tmp_path) -> tuple[int, list[float]]:
    """The Trainer's warm-up count and the rate each of its updates uses."""
    warmup = TrainingArguments(output_dir=str(tmp_path), warmup_steps=ratio, report_to=[]).get_warmup_steps(total)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return warmup, rates


@pytest.mark.parametrize("total, ratio", [(15, 0.1), (40, 0.1), (7, 0.06), (100, 0.25), (10, 0.0)])
def test_warmup_and_rates_equal_the_trainer_s(total, ratio, tmp_path):
    warmup, rates = trainer_rates(total, ratio, 1e-3, tmp_path)
    assert warmup_steps_for(total, ratio) == warmup
    ours = [1e-3 * linear_schedule_factor(t, total, warmup) for t in range(1, total + 1)]
    assert ours == pytest.approx(rates, rel=1e-12, abs=1e-18)


def test_a_15_update_run_warms_up_for_2_updates_like_the_trainer(tiny_model, tiny_data, tmp_path):
    config = tiny_config(tiny_model, tiny_data, tmp_path / "run", max_steps=15, eval_every=15, warmup_ratio=0.1,
                         eval_size=8)
    train(config, show_progress=False)
    assert read_json(tmp_path / "run/config.json")["training"]["warmup_steps"] == 2  # int(1.5) was 1
    _, rates = trainer_rates(15, 0.1, config.lr, tmp_path)
    assert [s["lr"] for s in read_jsonl(tmp_path / "run/steps.jsonl")] == pytest.approx(rates, rel=1e-12)
