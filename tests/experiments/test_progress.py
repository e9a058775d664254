"""The progress view: ``status.txt`` lists failed, running (with the update reached), pending and done runs."""

from tests.tiny import tiny_config
from xlingual_probe.experiments.executor import RunJob
from xlingual_probe.experiments.progress import Progress, run_position


def test_status_file_lists_failed_running_pending_done(tiny_model, tiny_data, tmp_path):
    jobs = [RunJob(tiny_config(tiny_model, tiny_data, tmp_path / f"r{i}", seed=i), label="df") for i in range(3)]
    (tmp_path / "r1").mkdir()
    (tmp_path / "r1" / "steps.jsonl").write_text('{"step": 1, "loss": 1.0}\n{"step": 7, "loss": 0.5}\n')
    (tmp_path / "r1" / "config.json").write_text('{"training": {"total_steps": 40}}')
    assert run_position(tmp_path / "r1") == "update 7/40" and run_position(tmp_path / "r2") == ""
    progress = Progress(jobs, tmp_path / "status.txt", executor="local", show=False, log=lambda line: None)
    progress.started(jobs[1])
    lines = (tmp_path / "status.txt").read_text().splitlines()
    assert lines[0] == "# 3 runs, executor local" and lines[2] == "done 0   running 1   pending 2   failed 0"
    assert lines[4].startswith(f"running  df seed 1 [{jobs[1].key}]") and lines[4].endswith("r1  update 7/40")
    assert lines[5].startswith("pending  df seed 0") and lines[6].startswith("pending  df seed 2")
