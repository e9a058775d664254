"""Run a training job in a fresh Python process that SIGKILLs itself at a chosen point (fault injection).

``python -m tests.killing SPEC.json`` reads ``{"kind": "train" | "sweep", "config": {...}, "kill": {...}}``:

* ``kind: train``: ``config`` is a TrainConfig dict, optionally ``cka_probe`` (probe options) and
  ``resume``; the job runs through :class:`~xlingual_probe.experiments.executor.RunJob`.
* ``kind: sweep``: ``config`` is a SweepConfig dict; the sweep runs with :func:`run_sweep`.
* ``kill.at`` = ``step`` (after update ``step`` is logged), ``rotate`` (inside the checkpoint written
  after update ``step``, between moving ``last`` to ``previous`` and ``last.tmp`` to ``last``),
  ``evaluate`` (after the ``kill.evaluation``-th call of ``evaluate``, before its record is written; the
  loop calls it once per held-out half, and again for the test splits) or ``hold``
  (after update ``step``, wait until the file ``kill.release`` exists, then go on: for lease tests).
  In a sweep, ``kill.run`` (a 1-based run count) picks the run in which to kill.

SIGKILL gives the process no chance to clean up (no ``finally``, no flush), as a pre-empted job or
the OOM killer would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TIMES = {"eval_seconds", "cka_seconds", "wall_seconds", "train_seconds"}


def without_times(value):
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if k not in TIMES}
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


def assert_same_run(resumed: Path, straight: Path) -> None:
    """Every logged number of the two runs is the same (times aside)."""
    from xlingual_probe.runs import RunFiles
    from xlingual_probe.utils.io import read_json, read_jsonl

    a, b = RunFiles(resumed), RunFiles(straight)
    assert read_jsonl(a.steps) == read_jsonl(b.steps)  # loss, lr, phase, phi, K of every update
    assert without_times(read_jsonl(a.metrics)) == without_times(read_jsonl(b.metrics))
    assert without_times(read_json(a.summary)) == without_times(read_json(b.summary))
    if b.cka.is_file():
        assert without_times(read_jsonl(a.cka)) == without_times(read_jsonl(b.cka))
    assert not a.last_checkpoint.exists() and not a.previous_checkpoint.exists()  # pruned at the end


def run_killed(spec: dict[str, Any], tmp: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``spec`` in a fresh interpreter; returns the finished process (killed: returncode -9)."""
    path = tmp / f"spec-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(spec))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, "-m", "tests.killing", str(path)], check=False, cwd=ROOT, env=env,
                          timeout=timeout, capture_output=True, text=True)


def start_held(spec: dict[str, Any], tmp: Path) -> subprocess.Popen:
    """Start ``spec`` (with ``kill.at = hold``) in the background."""
    path = tmp / f"spec-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(spec))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen([sys.executable, "-m", "tests.killing", str(path)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install(kill: dict[str, Any]):
    """Patch the kill point in; returns the training callbacks that carry it."""
    from xlingual_probe.training import Callback, checkpoint, evaluation

    at, step, runs = kill["at"], kill.get("step"), {"n": 0}
    wanted_run = kill.get("run", 1)

    class Killer(Callback):
        def on_train_begin(self, ctx, start_step):
            runs["n"] += 1

        def on_step_end(self, ctx, current, loss, batch):
            if runs["n"] != wanted_run or current != step:
                return
            if at == "step":
                _die()
            if at == "hold":
                print(f"holding at update {current}", flush=True)
                while not Path(kill["release"]).exists():
                    time.sleep(0.1)

    if at == "rotate":
        original = checkpoint._rotate_in

        def rotate(tmp, last, previous):
            state = json.loads((tmp / checkpoint.TRAINER_STATE).read_text())
            if runs["n"] == wanted_run and state["step"] == step:
                if last.exists():
                    if previous.exists():
                        import shutil

                        shutil.rmtree(previous)
                    last.rename(previous)
                _die()
            original(tmp, last, previous)

        checkpoint._rotate_in = rotate
    if at == "evaluate":
        original_evaluate = evaluation.evaluate
        runs["evaluations"] = 0

        def evaluate(*args, **kwargs):
            result = original_evaluate(*args, **kwargs)
            runs["evaluations"] += 1
            if runs["n"] == wanted_run and runs["evaluations"] == kill["evaluation"]:
                _die()  # scored, but its record not yet written
            return result

        from xlingual_probe.training import loop

        loop.evaluate = evaluate
    return [Killer()]


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    callbacks = _install(spec["kill"]) if spec.get("kill") else []
    from xlingual_probe.experiments.executor import RunJob, SequentialExecutor
    from xlingual_probe.training import TrainConfig

    if spec["kind"] == "train":
        job = RunJob(TrainConfig(**spec["config"]), cka_probe=spec.get("cka_probe"), resume=spec.get("resume", True))
        job.run(callbacks=callbacks)
    else:
        from xlingual_probe.experiments.sweep import SweepConfig, run_sweep

        run_sweep(SweepConfig(**spec["config"]), executor=SequentialExecutor(show_progress=False, callbacks=callbacks),
                  show_progress=False)


if __name__ == "__main__":
    main(sys.argv[1])
