"""Slow-and-fast inside the loop: group membership, logged K recomputed from logged losses, swaps, NoisyTune."""

import csv

import pytest

from tests.tiny import tiny_config
from xlingual_probe.training import train
from xlingual_probe.training.policies import SlowFastConfig, multiplier, multipliers_from_losses
from xlingual_probe.training.slowfast import SlowFastLRPolicy, phase_warning, slowfast_settings
from xlingual_probe.utils import UserError
from xlingual_probe.utils.io import read_jsonl

# the tiny model has 2 layers: S_I = layer 0, S_II = its feed-forward, V_I = layer 1, V_II = its attention
SETS = {"S_I": "0", "S_II": "0:ffn", "V_I": "1", "V_II": "1:attention"}


def run_policy(tiny_model, tiny_data, tmp_path, method="slowfast", max_steps=24, **kwargs):
    settings = slowfast_settings(method, SETS, window=4, threshold=0.05, c1=0.01, c2=10.0, **kwargs)
    config = tiny_config(tiny_model, tiny_data, tmp_path / "run", max_steps=max_steps, eval_every=max_steps,
                         slowfast=settings, method=method)
    summary = train(config, show_progress=False)
    return settings, read_jsonl(tmp_path / "run/steps.jsonl"), tmp_path / "run", summary


def test_logged_K_recomputed_from_logged_losses(tiny_model, tiny_data, tmp_path):
    settings, steps, run, summary = run_policy(tiny_model, tiny_data, tmp_path)
    config = SlowFastConfig(**{k: settings[k] for k in ("c1", "c2", "r", "window", "threshold", "phase_mode")},
                            policies=tuple(settings["policies"]))
    replay = multipliers_from_losses([s["loss"] for s in steps], config)
    assert [s["K"] for s in steps] == [r.K for r in replay]
    assert [s["phase"] for s in steps] == [r.phase for r in replay]
    assert summary["phase2_updates"] == sum(s["phase"] == 2 for s in steps) > 0
    assert phase_warning(summary) is None
    assert all(s["phi"] is None for s in steps[:7]) and steps[7]["phi"] is not None
    # the rates actually applied are K times the schedule
    for s in steps:
        for name in ("S_I", "S_II", "V_I", "V_II"):
            assert s["group_lr"][name] == pytest.approx(s["K"][name] * s["lr"], rel=1e-12, abs=1e-15)
    groups = {row["parameter"]: row["group"] for row in csv.DictReader((run / "param_groups.csv").read_text().splitlines())}
    assert groups["bert.encoder.layer.0.intermediate.dense.weight"] == "S_II"
    assert groups["bert.encoder.layer.0.attention.self.query.weight"] == "S_I"
    assert groups["bert.encoder.layer.1.attention.output.LayerNorm.weight"] == "V_II"
    assert groups["bert.encoder.layer.1.output.dense.weight"] == "V_I"
    assert groups["classifier.weight"] == "rest"


def test_fs_and_ff_apply_only_their_policies(tiny_model, tiny_data, tmp_path):
    _, slow, _, _ = run_policy(tiny_model, tiny_data, tmp_path / "fs", method="slow")
    assert all(s["K"]["V_I"] == 1 and s["K"]["V_II"] == 1 for s in slow)
    assert slow[0]["K"]["S_I"] == 0.01
    _, fast, _, _ = run_policy(tiny_model, tiny_data, tmp_path / "ff", method="fast")
    assert all(s["K"]["S_I"] == 1 and s["K"]["S_II"] == 1 for s in fast)
    assert {s["K"]["V_II"] for s in fast if s["phase"] == 2} <= {10.0}


class FakeMap:
    def __init__(self, model_map):
        self.__dict__.update(vars(model_map))


@pytest.mark.parametrize("swap, phase, expected", [
    (None, 1, {"S_I": 0.01, "S_II": 0.01, "V_I": 1.0, "V_II": 1.0}),
    (None, 2, {"S_I": 1.0, "S_II": 0.5, "V_I": 1.0, "V_II": 10.0}),
    ("only-S_I", 2, {"S_I": 0.5, "S_II": 0.5, "V_I": 1.0, "V_II": 10.0}),
    ("only-S_II", 1, {"S_I": 1.0, "S_II": 0.01, "V_I": 1.0, "V_II": 1.0}),
    ("swap-S", 1, {"S_I": 1.0, "S_II": 0.01, "V_I": 1.0, "V_II": 1.0}),
    ("swap-S", 2, {"S_I": 0.5, "S_II": 0.5, "V_I": 1.0, "V_II": 10.0}),
    ("only-V_I", 2, {"S_I": 1.0, "S_II": 0.5, "V_I": 10.0, "V_II": 10.0}),
    ("swap-V", 2, {"S_I": 1.0, "S_II": 0.5, "V_I": 10.0, "V_II": 10.0}),
])
def test_table8_swaps_hand_computed(swap, phase, expected):
    policy = SlowFastLRPolicy(slowfast_settings("slowfast", SETS, swap=swap))
    got = {name: multiplier(policy.config, policy.engine.roles[name], phase, 0.5) for name in expected}
    assert got == expected


def test_bad_sets_are_refused(tiny_model, tiny_data, tmp_path):
    bad = slowfast_settings("slowfast", {"S_I": "0", "S_II": "1:ffn", "V_I": "1", "V_II": "1:attention"})
    with pytest.raises(UserError, match="inside S_I"):
        train(tiny_config(tiny_model, tiny_data, tmp_path / "run", max_steps=2, slowfast=bad), show_progress=False)
    with pytest.raises(UserError, match="swap"):
        slowfast_settings("slowfast", SETS, swap="nonsense")


def test_noisytune_run_differs_from_direct_only_by_noise(tiny_model, tiny_data, tmp_path):
    direct = train(tiny_config(tiny_model, tiny_data, tmp_path / "df" / "run", max_steps=3, eval_every=3), show_progress=False)
    noisy = train(tiny_config(tiny_model, tiny_data, tmp_path / "nt" / "run", max_steps=3, eval_every=3, noise_lambda=0.15,
                              method="noisytune"), show_progress=False)
    first = lambda d: read_jsonl(d / "run/steps.jsonl")[0]["loss"]
    assert first(tmp_path / "df") != first(tmp_path / "nt")
    assert noisy["method"] == "noisytune" and direct["method"] == "direct"


def test_run_that_never_reaches_phase_2_is_flagged(tiny_model, tiny_data, tmp_path):
    # window 4: φ exists from update 8 on, so a 6-update run stays in phase 1 throughout
    _, steps, _, summary = run_policy(tiny_model, tiny_data, tmp_path, max_steps=6)
    assert {s["phase"] for s in steps} == {1} and summary["phase2_updates"] == 0
    assert "never reached phase 2 in 6 updates" in phase_warning(summary)
    direct = train(tiny_config(tiny_model, tiny_data, tmp_path / "df", max_steps=2, eval_every=2), show_progress=False)
    assert "phase2_updates" not in direct and phase_warning(direct) is None
