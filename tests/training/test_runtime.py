"""Machine settings: OpenMP's wait policy set before torch loads, TF32 only inside a run, precision auto."""

import os
import subprocess
import sys

import pytest
import torch

from tests.tiny import tiny_config
from xlingual_probe.training import train
from xlingual_probe.training.config import TrainConfig
from xlingual_probe.training.runtime import (
    cpu_settings,
    machine_settings,
    resolve_precision,
    run_accelerator,
    tf32_matmuls,
)
from xlingual_probe.utils import UserError
from xlingual_probe.utils.io import read_json


def python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | env
    return subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_importing_the_package_before_torch_makes_openmp_threads_wait_passively():
    assert python("import os, xlingual_probe; print(os.environ['OMP_WAIT_POLICY'])") == "PASSIVE"
    # the user's choice wins; after torch it would come too late, so the package leaves it alone
    assert python("import os, xlingual_probe; print(os.environ['OMP_WAIT_POLICY'])", OMP_WAIT_POLICY="ACTIVE") \
        == "ACTIVE"
    code = "import os, torch, xlingual_probe; print(os.environ.get('OMP_WAIT_POLICY'), xlingual_probe.TORCH_IMPORTED_FIRST)"
    assert python(code) == "None True"


def test_cpu_settings_record_threads_and_wait_policy():
    settings = cpu_settings()
    assert settings["cpu_threads"] == torch.get_num_threads()
    assert settings["omp_wait_policy"] == os.environ.get("OMP_WAIT_POLICY")


def test_a_run_s_thread_count_holds_inside_its_settings_only():
    before = torch.get_num_threads()
    config = TrainConfig(model="m", task="xnli", out="o", threads=before + 1)
    with machine_settings(config) as machine:
        assert torch.get_num_threads() == machine["cpu_threads"] == before + 1
    assert torch.get_num_threads() == before
    with machine_settings(config.replace(threads=None)) as machine:  # unset: torch's default, untouched
        assert machine["cpu_threads"] == before


def test_tf32_is_on_inside_the_block_only():
    matmul = torch.backends.cuda.matmul
    name, on = ("fp32_precision", "tf32") if hasattr(matmul, "fp32_precision") else ("allow_tf32", True)
    before = getattr(matmul, name)
    with tf32_matmuls(True):
        assert getattr(matmul, name) == on
    assert getattr(matmul, name) == before
    with tf32_matmuls(False):
        assert getattr(matmul, name) == before


def test_precision_auto_is_fp32_without_a_gpu_and_options_are_checked():
    if not torch.cuda.is_available():
        assert resolve_precision("auto") == "fp32"
    assert resolve_precision("bf16") == "bf16" and TrainConfig(model="m", task="xnli", out="o").precision == "auto"
    with pytest.raises(UserError, match="--precision"):
        TrainConfig(model="m", task="xnli", out="o", precision="fp16")
    with pytest.raises(UserError, match="--num-processes"):
        TrainConfig(model="m", task="xnli", out="o", num_processes=0)


def test_runs_of_one_process_may_mix_precisions(tiny_model, tiny_data, tmp_path):
    # Accelerate's process-wide state refused a bf16 Accelerator after an fp32 one (seen on a GPU, where
    # auto is bf16: every in-process sweep, comparison or notebook that mixed them failed)
    assert run_accelerator("fp32").mixed_precision == "no"
    assert run_accelerator("bf16").mixed_precision == "bf16"
    for i, precision in enumerate(["fp32", "bf16", "fp32"]):
        config = tiny_config(tiny_model, tiny_data, tmp_path / f"run{i}", max_steps=2, eval_every=2, precision=precision)
        summary = train(config, show_progress=False)
        assert summary["status"] == "finished"
        assert read_json(tmp_path / f"run{i}" / "config.json")["device"]["precision"] == precision
