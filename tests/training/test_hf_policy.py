"""The slow-and-fast adapter inside a real (tiny, CPU) transformers.Trainer run."""

import datasets
import pytest
import torch
from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed

from tests.tiny import nli_pairs
from xlingual_probe.models import load_model
from xlingual_probe.training.hf_policy import SlowFastTrainer, find_slowfast_policy, slowfast_optimizer
from xlingual_probe.training.policies import SlowFastConfig, multipliers_from_losses
from xlingual_probe.training.slowfast import slowfast_settings
from xlingual_probe.utils import UserError
from xlingual_probe.utils.io import read_jsonl

LABELS = ["entailment", "neutral", "contradiction"]
SETS = {"S_I": "0", "S_II": "0:ffn", "V_I": "1", "V_II": "1:attention"}
HYPER = {"window": 2, "threshold": 0.05, "c1": 0.01, "c2": 10.0}


class RecordRates(TrainerCallback):
    """After each optimizer step (before the scheduler moves): each group's K, applied and scheduled rate."""

    def __init__(self):
        self.steps = []

    def on_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        self.steps.append({g["name"]: (g["lr_scale"], g["applied_lr"], g["lr"]) for g in optimizer.param_groups})


def tiny_trainer(tiny_model, tmp_path, accumulation=1, trainer_cls=SlowFastTrainer, max_steps=8):
    set_seed(0)
    model, tokenizer = load_model(str(tiny_model), "sequence", 3, labels=LABELS)
    rows = nli_pairs(64, "en", 1)
    enc = tokenizer([p for p, _, _ in rows], [h for _, h, _ in rows], truncation=True, max_length=48)
    train_set = datasets.Dataset.from_dict({**enc, "label": [LABELS.index(y) for _, _, y in rows]})
    settings = slowfast_settings("slowfast", SETS, **HYPER)
    optimizer, policy = slowfast_optimizer(model, settings, lr=3e-3, weight_decay=0.01,
                                           output_dir=tmp_path)
    recorder = RecordRates()
    args = TrainingArguments(output_dir=str(tmp_path / "trainer"), max_steps=max_steps,
                             per_device_train_batch_size=16 // accumulation, gradient_accumulation_steps=accumulation,
                             learning_rate=3e-3, warmup_steps=2, logging_steps=1, save_strategy="no", report_to=[],
                             use_cpu=True, disable_tqdm=True, seed=3)
    trainer = trainer_cls(model=model, args=args, train_dataset=train_set, processing_class=tokenizer,
                          optimizers=(optimizer, None), callbacks=[recorder])
    return trainer, policy, recorder, settings


@pytest.mark.parametrize("accumulation", [1, 2])
def test_applied_K_equal_the_policy_replayed_from_the_losses(tiny_model, tmp_path, accumulation):
    trainer, policy, recorder, settings = tiny_trainer(tiny_model, tmp_path, accumulation)
    trainer.train()
    history = policy.history
    assert [h["step"] for h in history] == list(range(1, 9)) and len(recorder.steps) == 8
    # the losses fed to the policy are the ones the Trainer logged for each update
    logged = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert [h["loss"] for h in history] == pytest.approx(logged, rel=1e-5)
    config = SlowFastConfig(**{k: settings[k] for k in ("c1", "c2", "r", "window", "threshold", "phase_mode")},
                            policies=tuple(settings["policies"]))
    replay = multipliers_from_losses([h["loss"] for h in history], config)
    assert {s.phase for s in replay} == {1, 2}  # both phases are exercised
    for state, groups in zip(replay, recorder.steps):
        for name, (k, applied, scheduled) in groups.items():
            base = name.split("/")[0]
            assert k == state.K.get(base, 1.0)
            assert applied == pytest.approx(k * scheduled, rel=1e-12)
    assert {name.split("/")[0] for name in recorder.steps[0]} == {"S_I", "S_II", "V_I", "V_II", "rest"}
    # the scheduled rate is the Trainer's linear schedule: 0 at the first update (warm-up), peak at the third
    assert recorder.steps[0]["rest"][2] == 0.0 and recorder.steps[2]["rest"][2] == pytest.approx(3e-3)
    assert read_jsonl(tmp_path / "steps.jsonl")[-1]["K"] == history[-1]["K"]


def test_policy_state_travels_with_the_optimizer_state_dict(tiny_model, tmp_path):
    trainer, policy, _, settings = tiny_trainer(tiny_model, tmp_path, max_steps=5)
    trainer.train()
    state = trainer.optimizer.state_dict()
    assert state["xprobe_slowfast"]["policy"]["t"] == 5
    model, _ = load_model(str(tiny_model), "sequence", 3, labels=LABELS)
    optimizer, fresh = slowfast_optimizer(model, settings, lr=3e-3, weight_decay=0.01)
    optimizer.load_state_dict(torch.load(_save(state, tmp_path), weights_only=True))
    assert fresh.policy.engine.t == 5
    assert fresh.policy.state_dict() == policy.policy.state_dict()


def _save(state, tmp_path):
    path = tmp_path / "optimizer.pt"
    torch.save(state, path)
    return path


def test_plain_trainer_or_plain_optimizer_is_refused(tiny_model, tmp_path):
    trainer, _, _, _ = tiny_trainer(tiny_model, tmp_path, trainer_cls=Trainer, max_steps=1)
    with pytest.raises(UserError, match="no training loss"):
        trainer.train()
    with pytest.raises(UserError, match="slowfast_optimizer"):
        find_slowfast_policy(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))
