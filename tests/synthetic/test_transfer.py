"""Transfer really happens in the synthetic world (slow: pre-trains the default encoder, then fine-tunes).

Direct fine-tuning with the real engine (:func:`xlingual_probe.training.train`) on the source
language only, with the settings the README recommends for the default (12-layer) world. Fails if
the source is not learnt (neither sentence alone decides more than 2/3 of the labels), if the targets
fall to chance (transfer disappeared) or match the source (no gap), or if the targets are not ordered
near > SOV > VSO. Run with ``pytest -m slow tests/synthetic/test_transfer.py`` (about 4 minutes on 2 CPU cores).
"""

from __future__ import annotations

import pytest

from xlingual_probe.training import TrainConfig, train

CHANCE = 100 / 3
SETTINGS = {"max_steps": 500, "eval_every": 100, "batch_size": 32, "lr": 5e-4, "train_size": 6000,
            "eval_size": 300, "save_best": False, "save_every": 0}
# measured with these settings, seed 1: en 100.0, n1 99.3, n2 98.7, n3 99.7, n4 87.0, n5 39.3
SOURCE_MIN = 95
TARGET_ABOVE_CHANCE = 30
GAP_MIN = 5
ORDER_MIN = 5  # n1/n2 (same word order) above n4 (SOV) above n5 (VSO), by at least this many points


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
    assert (acc["n1"] + acc["n2"]) / 2 > acc["n4"] + ORDER_MIN and acc["n4"] > acc["n5"] + ORDER_MIN, acc
