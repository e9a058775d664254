"""The executor contract, shown with the in-process executor: a run that raises is recorded as ``error``
without stopping the others, is not retried unless asked, and resumes from its checkpoint when retried;
the thread count per run."""

import pytest

from tests.tiny import NonFiniteLossAt, RecordStart, StopOnce, four_run_sweep, tiny_config
from xlingual_probe.experiments.executor import ERROR, RunJob, RunsFailed, SequentialExecutor, error_line
from xlingual_probe.experiments.processes import ProcessExecutor, usable_cores
from xlingual_probe.experiments.sweep import run_sweep
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import read_json


def test_a_run_that_raises_is_an_error_not_retried_unless_asked(tiny_model, tiny_data, tmp_path, reference_results):
    config = four_run_sweep(tiny_model, tiny_data, tmp_path / "sweep")
    out = tmp_path / "sweep"
    first = SequentialExecutor(show_progress=False, callbacks=[StopOnce(tmp_path / "a.txt", 3, "freeze-L1-seed1")])
    results = run_sweep(config, executor=first)
    assert len(results) == 3  # the other three runs finished and are tabulated
    (failed,) = first.failures.values()
    assert failed.status == ERROR and failed.error == "RuntimeError: boom at update 3"
    recorded = read_json(failed.job.run_dir / "summary.json")
    assert recorded["status"] == ERROR and recorded["error"] == failed.error and recorded["key"] == failed.job.key
    assert "Traceback" in recorded["traceback"] and "boom at update 3" in recorded["traceback"]
    status = (out / "status.txt").read_text()
    assert "done 3   running 0   pending 0   failed 1" in status
    assert f"failed   freeze-L1 seed 1 [{failed.job.key}]" in status and "RuntimeError: boom at update 3" in status
    assert "Missing from the tables: 1 of 4 jobs have no result: freeze-L1 seed 1 (error)." in (
        out / "summary.md").read_text()
    with pytest.raises(RunsFailed, match="boom at update 3"):
        first.raise_for_failures()

    # the same command again: nothing trains, the failure is reported again, not retried
    again = SequentialExecutor(show_progress=False, callbacks=[RecordStart(tmp_path / "b.txt")])
    run_sweep(config, executor=again)
    assert not (tmp_path / "b.txt").exists()
    (still,) = again.failures.values()
    assert still.reused and still.error == failed.error
    with pytest.raises(RunsFailed, match="--retry-failed"):
        again.raise_for_failures()

    # --retry-failed: the run continues from its checkpoint at update 2; the sweep equals an uninterrupted one
    retry = SequentialExecutor(show_progress=False, retry_failed=True, callbacks=[RecordStart(tmp_path / "c.txt")])
    run_sweep(config, executor=retry)
    assert (tmp_path / "c.txt").read_text() == f"{failed.job.run_dir.name} 2\n"
    assert not retry.failures and read_json(failed.job.run_dir / "summary.json").get("status", "finished") == "finished"
    assert (out / "results.csv").read_text() == reference_results
    assert "Missing" not in (out / "summary.md").read_text()
    assert {read_json(p)["device"]["cpu_threads"] for p in (out / "runs").glob("*/config.json")} == {1}


def test_an_error_record_of_other_options_does_not_count(tiny_model, tiny_data, tmp_path):
    job = RunJob(tiny_config(tiny_model, tiny_data, tmp_path / "run"))
    job.record_error(ValueError("first line\nlast line"))
    assert job.recorded_failure()["error"] == "ValueError: last line"
    other = RunJob(job.config.replace(lr=1e-3))  # same folder, other config: the record is stale
    assert other.recorded_failure() is None
    job.record_error(RuntimeError("again"))  # never over an existing summary
    assert read_json(tmp_path / "run" / "summary.json")["error"] == "ValueError: last line"


def test_error_line_is_the_last_line():
    assert error_line(RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB")) == "RuntimeError: Tried to allocate 2 GiB"
    assert error_line(KeyError()) == "KeyError"


def test_thread_count_per_run_goes_into_the_configs():
    executor = ProcessExecutor(2, gpus=[], show_progress=False)
    assert executor.threads == max(1, usable_cores() // 2)
    assert executor.run_values({"lr": 1.0}) == {"lr": 1.0, "threads": executor.threads}
    assert executor.run_values({"threads": 3})["threads"] == 3  # a run's own setting wins
    assert "threads" not in ProcessExecutor(2, gpus=["0", "1"], show_progress=False).run_values({})  # GPU runs
    assert ProcessExecutor(3, gpus=["0", "1"], show_progress=False).worker_environment(2)["CUDA_VISIBLE_DEVICES"] == "0"
    assert "threads" not in SequentialExecutor(show_progress=False).run_values({})


def test_a_diverged_run_is_a_result_reused_not_a_failure(tiny_model, tiny_data, tmp_path):
    job = RunJob(tiny_config(tiny_model, tiny_data, tmp_path / "run", max_steps=6, eval_every=2), label="direct")
    (outcome,) = SequentialExecutor(show_progress=False, callbacks=[NonFiniteLossAt({5})]).run([job])
    assert outcome.status == "diverged" and outcome.complete and outcome.summary["diverged_at"] == 5
    # not retried (the same run would diverge again), even with --retry-failed, and no failure to report
    executor = SequentialExecutor(show_progress=False, retry_failed=True, callbacks=[RecordStart(tmp_path / "b.txt")])
    (again,) = executor.run([job])
    assert again.reused and again.status == "diverged" and not executor.failures
    assert not (tmp_path / "b.txt").exists()
    executor.raise_for_failures()


def test_runs_on_several_processes_need_the_local_executor():
    with pytest.raises(UserError, match="^--num-processes 2 runs each run on 2 processes .* --executor processes"):
        ProcessExecutor(2, gpus=[], show_progress=False).run_values({"num_processes": 2})
    assert SequentialExecutor(show_progress=False).run_values({"num_processes": 2}) == {"num_processes": 2}
