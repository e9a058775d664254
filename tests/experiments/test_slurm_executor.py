"""``--executor slurm`` through submitit's local executor: one job array gives the in-process results, and a
task that receives Slurm's pre-emption signal is requeued and resumes from its checkpoint."""

import signal

import pytest

from tests.tiny import StopOnce, four_run_sweep
from xlingual_probe.experiments.sweep import run_sweep

pytest.importorskip("submitit", reason="submitit is an optional extra: pip install 'xlingual-probe[slurm]'")


def test_job_array_matches_in_process_and_a_preempted_run_resumes(tiny_model, tiny_data, tmp_path,
                                                                  reference_results):
    from xlingual_probe.experiments.slurm_executor import SlurmExecutor

    out = tmp_path / "sweep"
    starts = tmp_path / "starts.txt"
    executor = SlurmExecutor(cluster="local", time_min=10, show_progress=False, refresh_seconds=0.5,
                             callbacks=[StopOnce(starts, 3, "freeze-L1-seed2", signal=signal.SIGUSR2)])
    run_sweep(four_run_sweep(tiny_model, tiny_data, out), executor=executor)
    assert not executor.failures
    assert (out / "results.csv").read_text() == reference_results
    # the pre-empted run started twice: at 0, and (requeued by its checkpoint hook) from update 2
    preempted = [line for line in starts.read_text().splitlines() if line.startswith("freeze-L1-seed2")]
    assert [line.split()[1] for line in preempted] == ["0", "2"]
    logs = "".join(p.read_text() for p in (out / "logs").rglob("*_log.*"))  # submitit's stdout and stderr
    assert "Requeued job" in logs


def test_sbatch_parameters(tmp_path, monkeypatch):
    from xlingual_probe.experiments.executors import make_executor

    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{__import__('os').environ['PATH']}")
    executor = make_executor("slurm", partition="gpu", time="1:30:00", gpus_per_run=1, cpus_per_run=8, mem_gb=32,
                             workers=4, slurm_arg=["account=abc"], show_progress=False)
    assert executor.threads is None  # a GPU run's numbers do not depend on the CPU threads
    submitit = executor.submitit_executor(tmp_path / "logs")
    sbatch = submitit._executor._make_submission_file_text("python -m run", "uid")
    for line in ("--partition=gpu", "--time=90", "--gpus-per-node=1", "--cpus-per-task=8", "--mem=32GB",
                 "--account=abc", "--signal=USR2@90", f"--output={tmp_path}/logs/%j/%j_0_log.out"):
        assert f"#SBATCH {line}" in sbatch, line
    assert submitit._executor.parameters["array_parallelism"] == 4
