"""``--executor processes``: 2 worker processes give the in-process results, and a worker killed mid-run
(SIGKILL) loses only its run, which the next call resumes from its checkpoint to the same numbers."""

import signal

from tests.tiny import RecordStart, StopOnce, four_run_sweep
from xlingual_probe.experiments.executor import INTERRUPTED
from xlingual_probe.experiments.processes import ProcessExecutor
from xlingual_probe.experiments.sweep import run_sweep
from xlingual_probe.utils.io import read_json


def test_two_workers_match_in_process_and_a_killed_worker_resumes(tiny_model, tiny_data, tmp_path,
                                                                  reference_results):
    out = tmp_path / "sweep"
    config = four_run_sweep(tiny_model, tiny_data, out)
    starts = tmp_path / "starts.txt"
    first = ProcessExecutor(2, gpus=[], show_progress=False, refresh_seconds=0.5,
                            callbacks=[StopOnce(starts, 3, signal=signal.SIGKILL)])
    results = run_sweep(config, executor=first)
    (lost,) = first.failures.values()  # one worker died at update 3 of its run; the other three runs finished
    assert lost.status == INTERRUPTED and "SIGKILL" in lost.error and len(results) == 3
    assert not (lost.job.run_dir / "summary.json").exists() and (lost.job.run_dir / "checkpoints/last").is_dir()
    status = (out / "status.txt").read_text()
    assert "done 3   running 0   pending 0   failed 1" in status and "SIGKILL" in status
    assert len(starts.read_text().splitlines()) == 4

    second = ProcessExecutor(2, gpus=[], show_progress=False, refresh_seconds=0.5, callbacks=[RecordStart(starts)])
    run_sweep(config, executor=second)
    assert not second.failures
    assert starts.read_text().splitlines()[4:] == [f"{lost.job.run_dir.name} 2"]  # only the lost run, from update 2
    assert (out / "results.csv").read_text() == reference_results
    assert {read_json(p)["device"]["cpu_threads"] for p in (out / "runs").glob("*/config.json")} == {1}
    assert len(list((out / "logs").glob("*.log"))) == 4  # one log per run (the lost run's has both attempts)
