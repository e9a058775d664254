"""Slow checks on the real multilingual-e5-small and the real XTREME slices (run with `make test-slow`).

They need the model built by ``../shared/tools/me5-small/build`` (``$XPROBE_MODELS`` or
``~/.cache/xprobe-models``) and the data folder (``$XPROBE_DATA_DIR`` or ``../shared/data``); they
are skipped when either is missing.
"""

import os
from pathlib import Path

import pytest

from xlingual_probe.training import TrainConfig, train
from xlingual_probe.utils.io import read_jsonl

MODEL = Path(os.environ.get("XPROBE_MODELS", Path.home() / ".cache/xprobe-models")) / "multilingual-e5-small"
DATA = Path(os.environ.get("XPROBE_DATA_DIR", Path(__file__).resolve().parents[1].parent / "shared/data"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (MODEL / "model.safetensors").is_file(), reason=f"no model at {MODEL}"),
    pytest.mark.skipif(not (DATA / "xnli").is_dir(), reason=f"no data at {DATA}"),
]


# XNLI is left out of the learning check: on 400 pairs it stays near ln 3 for the first 40 updates
# (measured: 1.099 → 1.096), so only the plumbing is checked there
@pytest.mark.parametrize("task, langs, lr, learns", [("xnli", ["de", "sw"], 1e-4, False),
                                                     ("panx", ["de", "zh"], 5e-5, True),
                                                     ("mlqa", ["de", "zh"], 1e-4, True)])
def test_real_model_on_each_task(tmp_path, task, langs, lr, learns):
    config = TrainConfig(model=str(MODEL), task=task, out=str(tmp_path / "run"), data_dir=str(DATA), langs=langs,
                         train_size=400, eval_size=50, max_steps=40, batch_size=16, lr=lr, eval_every=40,
                         freeze_embeddings=True, save_best=False, max_length=256 if task == "mlqa" else 128, seed=1)
    summary = train(config, show_progress=False)
    losses = [r["loss"] for r in read_jsonl(tmp_path / "run/steps.jsonl")]
    assert len(losses) == 40 and all(loss > 0 for loss in losses)
    if learns:
        assert sum(losses[-10:]) < 0.9 * sum(losses[:10])
    assert set(summary["final"]["metrics"]) == {"en", *langs}
