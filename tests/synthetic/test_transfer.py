"""Transfer really happens in the synthetic world (slow: pre-trains a 4-layer encoder, then fine-tunes).

Fails if targets fall to chance (transfer disappeared) or match the source (no gap).
Run with ``pytest -m slow tests/synthetic/test_transfer.py``.
"""

from __future__ import annotations

import pytest
import torch

from xlingual_probe.synthetic import resolve_synthetic_model
from xlingual_probe.synthetic.tasks import SyntheticNLITask
from xlingual_probe.tasks import DataOptions

from .finetune_loop import finetune_classifier

CHANCE = 100 / 3


@pytest.mark.slow
def test_nli_transfers_with_a_gap(tmp_path, monkeypatch):
    monkeypatch.setenv("XPROBE_CACHE", str(tmp_path))
    torch.set_num_threads(2)
    path = resolve_synthetic_model("synthetic:small", progress=False)
    task = SyntheticNLITask()
    data = task.load(DataOptions(train_size=4000, eval_size=300, langs=["n1", "n2", "n5"]))
    result = finetune_classifier(path, task, data, steps=300, lr=3e-4, batch_size=32, eval_every=300)
    final = result["evals"][-1][1]
    targets = [final[lang] for lang in ("n1", "n2", "n5")]
    assert final["en"] > 80
    assert sum(targets) / 3 > CHANCE + 10, final
    assert final["en"] - sum(targets) / 3 > 3, final
    assert final["n1"] >= final["n5"], final
