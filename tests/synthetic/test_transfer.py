"""Transfer really happens in the synthetic world (slow: pre-trains the default encoder, then fine-tunes).

Direct fine-tuning with the real engine (:func:`xlingual_probe.training.train`) on the source
language only, with the settings the README recommends for the default (12-layer) world. Fails if
the source is not learnt past the hypothesis-only shortcut (~66%), if the targets fall to chance
(transfer disappeared) or match the source (no gap), or if the far language transfers as well as the
near ones. Run with ``pytest -m slow tests/synthetic/test_transfer.py`` (about 4 minutes on 2 CPU cores).
"""

from __future__ import annotations

import pytest

from xlingual_probe.training import TrainConfig, train

CHANCE = 100 / 3
SETTINGS = {"max_steps": 500, "eval_every": 100, "batch_size": 32, "lr": 5e-4, "train_size": 6000,
            "eval_size": 300, "save_best": False, "save_every": 0}
# measured with these settings, seed 1: en 83.3, n1 82.7, n2 83.3, n3 83.3, n4 80.0, n5 49.7
SOURCE_MIN = 75
TARGET_ABOVE_CHANCE = 20
GAP_MIN = 4
NEAR_FAR_MIN = 15


@pytest.mark.slow
def test_nli_transfers_with_a_gap(tmp_path, monkeypatch):
    monkeypatch.setenv("XPROBE_CACHE", str(tmp_path))  # pre-train from scratch: checks the default too
    config = TrainConfig(model="synthetic", task="synthetic-nli", out=str(tmp_path / "run"), seed=1, **SETTINGS)
    acc = dict(train(config, show_progress=False)["final"]["metrics"])  # accuracy per language
    targets = [acc[lang] for lang in ("n1", "n2", "n3", "n4", "n5")]
    target_mean = sum(targets) / len(targets)
    assert acc["en"] >= SOURCE_MIN, acc
    assert target_mean > CHANCE + TARGET_ABOVE_CHANCE, acc
    assert acc["en"] - target_mean > GAP_MIN, acc
    assert (acc["n1"] + acc["n2"]) / 2 > acc["n5"] + NEAR_FAR_MIN, acc
