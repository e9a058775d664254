"""One writer per run directory: a second command on the same --out is refused while the first one runs."""

from __future__ import annotations

import time

import pytest

from tests.killing import start_held
from tests.tiny import tiny_config
from xlingual_probe.runs import RunFiles
from xlingual_probe.training import train
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import read_jsonl


def wait_for_line(proc, text: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if text in line:
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"the first process ended early:\n{proc.stderr.read()[-3000:]}")
    raise AssertionError(f"no {text!r} within {timeout} s")


def test_a_second_writer_is_refused_naming_the_holder_and_deletes_nothing(tiny_model, tiny_data, tmp_path):
    config = tiny_config(tiny_model, tiny_data, tmp_path / "run", max_steps=6, eval_every=3)
    release = tmp_path / "release"
    first = start_held({"kind": "train", "config": config.to_dict(),
                        "kill": {"at": "hold", "step": 2, "release": str(release)}}, tmp_path)
    try:
        wait_for_line(first, "holding at update 2")
        for options in ({"resume": True}, {"overwrite": True}, {}):
            with pytest.raises(UserError, match=f"in use by pid {first.pid} on host "):
                train(config, show_progress=False, **options)
        files = RunFiles(config.out)
        assert [r["step"] for r in read_jsonl(files.steps)] == [1, 2]  # --overwrite deleted nothing
    finally:
        release.touch()
        assert first.wait(timeout=240) == 0, first.stderr.read()[-3000:]
    assert [r["step"] for r in read_jsonl(files.steps)] == list(range(1, 7))  # one writer: no interleaving
    assert [r["step"] for r in read_jsonl(files.metrics)] == [3, 6]
    assert files.status() == "finished" and not files.lease.exists()
