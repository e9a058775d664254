"""GPU check of ``--executor processes`` (run on purpose on a machine with GPUs, from the repository root):

    .venv/bin/python benchmarks/check_gpu_executor.py

It runs a 4-run layer sweep of a tiny random BERT twice, in this process and with 2 worker processes
(pinned round robin to the visible GPUs through ``CUDA_VISIBLE_DEVICES``, so on one GPU both share
it), and prints: the workers' environment, each run's recorded device (``cuda``) and thread setting
(unset on GPU runs), whether the two ``results.csv`` are identical (GPU kernels may be
non-deterministic: then the largest difference), and the status file. Not run in CI (no GPU there);
not yet run by its author (the session's device machine receives the main checkout, not this branch).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from xlingual_probe.experiments.executor import Executor, SequentialExecutor
from xlingual_probe.experiments.processes import ProcessExecutor, visible_gpus
from xlingual_probe.experiments.sweep import SweepConfig, run_sweep

TRAIN = {"task": "xnli", "max_steps": 4, "eval_every": 2, "batch_size": 8, "eval_batch_size": 32, "lr": 3e-3,
         "train_size": 32, "eval_size": 32, "save_best": False}


def timed_sweep(model: Path, data: Path, out: Path, executor: Executor) -> float:
    config = SweepConfig(train={"model": str(model), "data_dir": str(data), **TRAIN}, out=str(out), seeds=[1, 2],
                         experiments=["freeze"], layers="1")
    start = time.perf_counter()
    run_sweep(config, executor=executor)
    if executor.failures:
        sys.exit(f"error: failed runs: {list(executor.failures.values())}")
    return time.perf_counter() - start


def main() -> None:
    sys.path.insert(0, str(Path.cwd()))  # tests.tiny builds the tiny model and data
    from tests.tiny import save_tiny_model, write_xnli

    print(f"torch {torch.__version__}, CUDA available {torch.cuda.is_available()}, visible GPUs {visible_gpus()}")
    root = Path(tempfile.mkdtemp(prefix="gpu-executor-check-"))
    model, data = save_tiny_model(root / "model"), write_xnli(root / "data")
    seconds = timed_sweep(model, data, root / "local", SequentialExecutor(show_progress=False))
    print(f"in-process: {seconds:.1f} s")
    workers = ProcessExecutor(2, show_progress=False, refresh_seconds=0.5)
    print(f"{workers.describe()}; threads written into the configs: {workers.threads}; worker environments: "
          f"{workers.worker_environment(0)}, {workers.worker_environment(1)}")
    seconds = timed_sweep(model, data, root / "processes", workers)
    print(f"2 worker processes: {seconds:.1f} s")
    for name in ("local", "processes"):
        for path in sorted((root / name / "runs").glob("*/config.json")):
            info = json.loads(path.read_text())
            print(f"{name:9s} {path.parent.name}: device {info['device']}, config threads {info['config']['threads']}")
    tables = [pd.read_csv(root / name / "results.csv") for name in ("local", "processes")]
    columns = [c for c in tables[0].columns if c.startswith(("best_", "final_"))]
    difference = (tables[0][columns] - tables[1][columns]).abs().max().max()
    print(f"results.csv identical: {tables[0].equals(tables[1])} (largest difference {difference:.3g})")
    print((root / "processes" / "status.txt").read_text())


if __name__ == "__main__":
    main()
