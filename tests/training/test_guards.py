"""Numerical faults (NaN / inf losses), launches whose processes did not join, full disks and unwritable folders."""

from __future__ import annotations

import errno
import math

import pytest

from tests.killing import assert_same_run
from tests.tiny import NonFiniteLossAt, tiny_config
from xlingual_probe.runs import RunFiles, load_runs
from xlingual_probe.training import train
from xlingual_probe.training.guards import check_batch_split, check_launch
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import read_json, read_jsonl


def test_a_nan_loss_stops_the_run_as_diverged_and_keeps_the_last_good_checkpoint(tiny_model, tiny_data, tmp_path):
    config = tiny_config(tiny_model, tiny_data, tmp_path / "run", max_steps=10, eval_every=4, save_every=2)
    summary = train(config, callbacks=[NonFiniteLossAt({7})], show_progress=False)
    files = RunFiles(config.out)
    assert summary["status"] == "diverged" and summary["diverged_at"] == 7 and summary["steps"] == 6
    assert "nan at update 7" in summary["reason"] and "--skip-nonfinite" in summary["reason"]
    assert read_json(files.summary) == summary and files.status() == "diverged"
    assert summary["final"]["step"] == 4 and summary["best"]["step"] == 4  # the evaluations before it
    assert [r["step"] for r in read_jsonl(files.steps)] == list(range(1, 7))
    assert read_json(files.last_checkpoint / "trainer_state.json")["step"] == 6  # kept, not pruned
    # a recorded outcome: resuming reuses it (it would diverge again), readers keep it and say so
    assert train(config, resume=True, show_progress=False) == summary
    runs = load_runs(config.out)
    assert list(runs.summaries["status"]) == ["diverged"]


def test_a_run_that_diverges_before_any_evaluation_has_null_scores(tiny_model, tiny_data, tmp_path):
    config = tiny_config(tiny_model, tiny_data, tmp_path / "run", max_steps=6, eval_every=4)
    summary = train(config, callbacks=[NonFiniteLossAt({1}, math.inf)], show_progress=False)
    assert summary["status"] == "diverged" and summary["best"] is None and summary["final"] is None
    assert "inf at update 1" in summary["reason"]


def test_skip_nonfinite_skips_up_to_n_updates_and_logs_them(tiny_model, tiny_data, tmp_path):
    config = tiny_config(tiny_model, tiny_data, tmp_path / "run", max_steps=8, eval_every=4, skip_nonfinite=2)
    summary = train(config, callbacks=[NonFiniteLossAt({3, 5})], show_progress=False)
    assert summary["status"] == "finished" and summary["skipped_nonfinite"] == 2
    steps = read_jsonl(RunFiles(config.out).steps)
    assert [s["step"] for s in steps] == list(range(1, 9))
    assert [s["step"] for s in steps if s["loss"] is None] == [3, 5]
    assert "non-finite loss (nan); 2 of at most 2 skipped" in steps[4]["skipped"]
    assert all(math.isfinite(s["loss"]) for s in steps if s["loss"] is not None)  # the weights were not poisoned
    # one more than allowed: diverged at the third
    again = train(config.replace(out=str(tmp_path / "b")), callbacks=[NonFiniteLossAt({2, 3, 4})], show_progress=False)
    assert again["status"] == "diverged" and again["diverged_at"] == 4 and again["skipped_nonfinite"] == 2


def test_a_skipped_update_is_invisible_to_the_slow_and_fast_policy(tiny_model, tiny_data, tmp_path):
    from xlingual_probe.experiments.methods import method_values

    sets = {"sets": {"S_I": "0", "S_II": "0:ffn", "V_I": "1", "V_II": "1:attention"}, "policy_iv": True}
    config = tiny_config(tiny_model, tiny_data, tmp_path / "run", max_steps=10, eval_every=5, skip_nonfinite=1,
                         **method_values("slowfast", sets, policy={"window": 2}))
    summary = train(config, callbacks=[NonFiniteLossAt({4})], show_progress=False)
    steps = read_jsonl(RunFiles(config.out).steps)
    assert summary["status"] == "finished" and "phase" not in steps[3]
    # the policy's window holds the last finite losses: update 5's phase test compares updates 1-2 with 3 and 5
    assert all("phase" in s for i, s in enumerate(steps) if i != 3)


def test_check_launch_refuses_processes_that_did_not_join(monkeypatch):
    """Issue #15, fault 4: torchrun --nproc_per_node 2 without a working process group started two
    independent 'main' processes that interleaved steps.jsonl; now each stops with one line."""
    check_launch(1, {})
    check_launch(2, {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"})
    with pytest.raises(UserError, match=r"started 2 processes \(WORLD_SIZE=2, RANK=1, LOCAL_RANK=1\).*did not join"):
        check_launch(1, {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"})
    with pytest.raises(UserError, match="not a number"):
        check_launch(1, {"WORLD_SIZE": "two"})


def test_train_checks_the_launch_before_writing_anything(tiny_model, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    # Accelerate would try to join a process group that never forms: a stand-in sees one process
    monkeypatch.setattr("xlingual_probe.training.loop.run_accelerator",
                        lambda precision, **kw: type("A", (), {"num_processes": 1})())
    with pytest.raises(UserError, match="did not join one job"):
        train(tiny_config(tiny_model, tiny_data, tmp_path / "run"), show_progress=False)
    assert not (tmp_path / "run").exists()


def test_check_batch_split():
    check_batch_split(32, 4, 2)
    with pytest.raises(UserError, match=r"--batch-size 32 must be divisible.*\(3 × 1 = 3\).*--batch-size 33"):
        check_batch_split(32, 3)


@pytest.mark.parametrize("where", ["checkpoint", "steps"])
def test_a_full_disk_stops_with_one_line_and_keeps_the_last_good_state(tiny_model, tiny_data, tmp_path,
                                                                        monkeypatch, where):
    import xlingual_probe.runs as runs_module
    from xlingual_probe.training import checkpoint
    from xlingual_probe.utils.errors import disk_error_message

    config = tiny_config(tiny_model, tiny_data, tmp_path / "run", max_steps=8, eval_every=4, save_every=2)
    reference_dir = tmp_path / "ref"
    train(config.replace(out=str(reference_dir)), show_progress=False)
    full = OSError(errno.ENOSPC, "No space left on device")
    if where == "checkpoint":  # the 3rd checkpoint (update 6) fails half-way through its files
        original, calls = checkpoint.checkpoint_checksums, {"n": 0}

        def failing(folder):
            calls["n"] += 1
            if calls["n"] == 3:
                (folder / "model.safetensors").write_bytes(b"half")
                full.filename = str(folder / "trainer_state.json")
                raise full
            return original(folder)

        monkeypatch.setattr(checkpoint, "checkpoint_checksums", failing)
    else:  # the append of update 7's record
        original_append = runs_module.append_jsonl

        def failing_append(path, record):
            if record.get("step") == 7 and str(path).endswith("steps.jsonl"):
                with open(path, "a") as f:
                    f.write('{"step": 7, "lo')  # a torn line, as a full disk leaves it
                full.filename = str(path)
                raise full
            original_append(path, record)

        monkeypatch.setattr(runs_module, "append_jsonl", failing_append)
    with pytest.raises(OSError) as caught:
        train(config, show_progress=False)
    message = disk_error_message(caught.value)
    assert message is not None and message.count("\n") == 0
    assert "No space left on device" in message and "--resume" in message
    files = RunFiles(config.out)
    assert not files.summary.exists() and not files.lease.exists()
    assert not (files.root / "checkpoints" / "last.tmp").exists()  # the half-written checkpoint is gone
    assert read_json(files.last_checkpoint / "trainer_state.json")["step"] in (4, 6)
    monkeypatch.undo()
    train(config, resume=True, show_progress=False)
    assert_same_run(files.root, RunFiles(reference_dir).root)


def test_an_unwritable_output_folder_is_one_line(tiny_model, tiny_data, tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(UserError, match="cannot (create|write)"):
            train(tiny_config(tiny_model, tiny_data, locked / "run"), show_progress=False)
    finally:
        locked.chmod(0o700)


def test_a_folder_that_cannot_be_created_is_one_line(tiny_model, tiny_data, tmp_path, monkeypatch):
    from pathlib import Path

    def refuse(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(UserError, match="cannot create the output folder .*: Permission denied"):
        train(tiny_config(tiny_model, tiny_data, tmp_path / "new" / "run"), show_progress=False)


def test_an_output_path_that_is_a_file_is_refused(tiny_model, tiny_data, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="cannot create the output folder|not a folder"):
        train(tiny_config(tiny_model, tiny_data, tmp_path / "file"), show_progress=False)


@pytest.mark.slow
def test_torchrun_with_processes_that_do_not_join_stops_before_writing(tiny_model, tiny_data, tmp_path):
    """The issue's launch, for real: `torchrun --nproc_per_node 2 -m xlingual_probe train direct ...` on CPU."""
    import os
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    out = tmp_path / "run"
    proc = subprocess.run([torchrun, "--nproc_per_node", "2", "-m", "xlingual_probe", "train", "direct", "--model",
                           str(tiny_model), "--task", "xnli", "--data-dir", str(tiny_data), "--max-steps", "4",
                           "--batch-size", "8", "--out", str(out), "--quiet"], capture_output=True, text=True,
                          timeout=600, check=False, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and all("did not join one job" in e for e in errors), proc.stderr[-3000:]
    assert not out.exists()
