"""GPU runs against CPU runs (`make test-gpu`: XPROBE_TEST_GPU=1 keeps the GPUs the default suite hides).

The same tiny fp32 run with the CKA and alignment probes is made on the GPU and on the CPU (a child
process that sees no GPU); losses, scores and both probes' measures agree within float32 rounding
(TF32 off). A bf16 run (``auto`` on a GPU) and runs mixing precisions in one process finish.
"""

import json
import os
import subprocess
import sys

import pytest
import torch

from tests.tiny import tiny_config
from xlingual_probe.probes.alignment_probe import AlignmentProbe, AlignmentProbeConfig
from xlingual_probe.probes.cka_probe import CKAProbe, CKAProbeConfig
from xlingual_probe.training import train
from xlingual_probe.utils.io import read_json, read_jsonl

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (make test-gpu)")]

PROBED_RUN = """
import json, sys
from tests.tiny import tiny_config
from xlingual_probe.probes.alignment_probe import AlignmentProbe, AlignmentProbeConfig
from xlingual_probe.probes.cka_probe import CKAProbe, CKAProbeConfig
from xlingual_probe.training import train
model, data, out, options = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
train(tiny_config(model, data, out, **options), show_progress=False,
      callbacks=[CKAProbe(CKAProbeConfig(every=4)), AlignmentProbe(AlignmentProbeConfig(every=4, size=16))])
"""
OPTIONS = {"max_steps": 8, "eval_every": 4, "precision": "fp32", "max_length": 48}


def probed_run(model, data, out, *, gpu: bool) -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0") if gpu else ""}
    subprocess.run([sys.executable, "-c", PROBED_RUN, str(model), str(data), str(out), json.dumps(OPTIONS)],
                   env=env, check=True, cwd=os.getcwd())


def test_a_gpu_fp32_run_and_its_probes_match_the_cpu_run(tiny_model, parallel_data, tmp_path):
    probed_run(tiny_model, parallel_data, tmp_path / "gpu", gpu=True)
    probed_run(tiny_model, parallel_data, tmp_path / "cpu", gpu=False)
    assert read_json(tmp_path / "gpu/config.json")["device"]["type"] == "cuda"
    assert read_json(tmp_path / "cpu/config.json")["device"]["type"] == "cpu"
    losses = [[r["loss"] for r in read_jsonl(tmp_path / f"{side}/steps.jsonl")] for side in ("gpu", "cpu")]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
    for name, keys in (("cka.jsonl", ("cka",)), ("alignment.jsonl", ("cka_cross", "cka_to_pretrained"))):
        gpu, cpu = (read_jsonl(tmp_path / side / name) for side in ("gpu", "cpu"))
        assert len(gpu) == len(cpu) > 0
        for a, b in zip(gpu, cpu):
            for key in keys:
                if b[key] is not None:
                    assert a[key] == pytest.approx(b[key], abs=1e-4), (name, a, b)
    scores = [read_json(tmp_path / f"{side}/summary.json")["final"]["metrics"] for side in ("gpu", "cpu")]
    assert scores[0] == pytest.approx(scores[1], abs=100 / 48)  # at most one of 48 examples flips


def test_auto_precision_on_a_gpu_is_bf16_and_one_process_may_mix_precisions(tiny_model, parallel_data, tmp_path):
    for i, precision in enumerate(["auto", "fp32", "auto"]):
        out = tmp_path / f"run{i}"
        probes = [CKAProbe(CKAProbeConfig(every=2)), AlignmentProbe(AlignmentProbeConfig(every=2, size=8))]
        summary = train(tiny_config(tiny_model, parallel_data, out, max_steps=4, eval_every=2, precision=precision),
                        callbacks=probes, show_progress=False)
        device = read_json(out / "config.json")["device"]
        assert summary["status"] == "finished" and device["type"] == "cuda"
        assert device["precision"] == ("fp32" if precision == "fp32" else "bf16")
        assert all(r["cka"] is not None for r in read_jsonl(out / "cka.jsonl"))
