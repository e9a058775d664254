"""Kill and resume, every kind of run: the resumed run's logs and scores equal an uninterrupted run's, bit for bit.

Faults injected: SIGKILL of a fresh process at a random update (direct, slow-and-fast) and inside a
sweep's second run; an interrupt between the two renames that swap a new checkpoint in, inside an
evaluation, at a random update of NoisyTune and CKA-probed runs; a truncated checkpoint file.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from tests.killing import assert_same_run, run_killed, without_times
from tests.tiny import kill_at, tiny_config
from xlingual_probe.experiments.executor import RunJob, SequentialExecutor
from xlingual_probe.experiments.methods import method_values
from xlingual_probe.runs import RunFiles
from xlingual_probe.training import TrainConfig, train
from xlingual_probe.utils.errors import RunWarning
from xlingual_probe.utils.io import read_json, read_jsonl

STEPS, EVAL_EVERY, SAVE_EVERY = 8, 4, 2
SETS = {"sets": {"S_I": "0", "S_II": "0:ffn", "V_I": "1", "V_II": "1:attention"}, "policy_iv": True}
KINDS = {
    "direct": {},
    # a 3-update window: the phase test (and so K) depends on the losses kept in the checkpoint
    "slowfast": method_values("slowfast", SETS, policy={"window": 3, "threshold": 0.02}),
    "noisytune": method_values("noisytune", None),
}


def config_of(kind: str, tiny_model, tiny_data, out: Path) -> TrainConfig:
    # the command line fills every field from the task's recipe: a run it resumes must carry the same
    # resolved values (its run identity), so the direct runs name the recipe and its max_length
    cli = {"recipe": "xtreme", "max_length": 128} if kind == "direct" else {}
    return tiny_config(tiny_model, tiny_data, out, max_steps=STEPS, eval_every=EVAL_EVERY, save_every=SAVE_EVERY,
                       **KINDS[kind], **cli)


@pytest.fixture(scope="module")
def reference(tiny_model, tiny_data, tmp_path_factory):
    """``reference(kind)``: the run directory of an uninterrupted run of ``kind`` (trained once per module)."""
    root, done = tmp_path_factory.mktemp("reference"), {}

    def get(kind: str) -> TrainConfig:
        if kind not in done:
            done[kind] = config_of(kind, tiny_model, tiny_data, root / kind)
            train(done[kind], show_progress=False)
        return done[kind]

    return get


def kill_step(name: str) -> int:
    """A random update to kill at (seeded by the test's name, so a failure can be replayed)."""
    return random.Random(name).randint(1, STEPS - 1)


@pytest.mark.parametrize("kind", ["direct", "slowfast"])
def test_sigkill_at_a_random_update_then_resume_is_bit_identical(kind, reference, tmp_path):
    straight = reference(kind)
    killed = straight.replace(out=str(tmp_path / "killed"))
    step = kill_step(f"sigkill-{kind}")
    proc = run_killed({"kind": "train", "config": killed.to_dict(), "kill": {"at": "step", "step": step}}, tmp_path)
    assert proc.returncode == -9, f"not killed at update {step}:\n{proc.stderr[-3000:]}"
    files = RunFiles(killed.out)
    assert not files.summary.exists() and len(read_jsonl(files.steps)) == step
    assert files.lease.is_file()  # SIGKILL left the lease behind: its dead pid lets the resume take it over
    if kind == "direct":  # through the command line, as a user would
        resume_from_the_command_line(killed)
    else:
        train(killed, resume=True, show_progress=False)
    assert_same_run(Path(killed.out), Path(straight.out))
    assert not files.lease.exists()


def resume_from_the_command_line(config: TrainConfig) -> None:
    """``xprobe train direct ... --resume`` with the options that built ``config``."""
    import sys

    from xlingual_probe.cli import main

    flags = ["--model", config.model, "--task", config.task, "--data-dir", config.data_dir, "--max-steps",
             str(config.max_steps), "--batch-size", str(config.batch_size), "--lr", str(config.lr), "--eval-every",
             str(config.eval_every), "--warmup-ratio", str(config.warmup_ratio), "--seed", str(config.seed),
             "--eval-batch-size", str(config.eval_batch_size), "--epochs", str(config.epochs), "--max-length",
             str(config.max_length), "--select-by", config.select_by, "--no-save-best", "--save-every",
             str(config.save_every), "--out", config.out, "--resume", "--quiet"]
    argv = sys.argv
    sys.argv = ["xprobe", "train", "direct", *flags]
    try:
        main()
    except SystemExit as exit_:  # click ends a command that went well with status 0
        assert exit_.code in (0, None)
    finally:
        sys.argv = argv


@pytest.mark.parametrize("kind", ["noisytune", "cka"])
def test_interrupt_at_a_random_update_then_resume_is_bit_identical(kind, tiny_model, tiny_data, tmp_path):
    probe = {"every": 3, "pooling": "tokens"} if kind == "cka" else None
    base = config_of("direct" if kind == "cka" else kind, tiny_model, tiny_data, tmp_path / "straight")
    RunJob(base, cka_probe=probe).run()
    killed = base.replace(out=str(tmp_path / "killed"))
    step = kill_step(f"interrupt-{kind}")
    with pytest.raises(KeyboardInterrupt):
        RunJob(killed, cka_probe=probe).run(callbacks=[kill_at(step)])
    RunJob(killed, cka_probe=probe).run()
    assert_same_run(Path(killed.out), Path(base.out))


def test_kill_while_a_checkpoint_is_swapped_in_resumes_from_the_previous_one(reference, tmp_path, monkeypatch):
    from xlingual_probe.training import checkpoint

    straight = reference("slowfast")
    killed = straight.replace(out=str(tmp_path / "killed"))
    original = checkpoint._rotate_in

    def rotate(tmp, last, previous):
        if json.loads((tmp / checkpoint.TRAINER_STATE).read_text())["step"] == 6:
            shutil.rmtree(previous)
            last.rename(previous)
            raise KeyboardInterrupt  # between the renames: no checkpoints/last at all
        original(tmp, last, previous)

    monkeypatch.setattr(checkpoint, "_rotate_in", rotate)
    with pytest.raises(KeyboardInterrupt):
        train(killed, show_progress=False)
    monkeypatch.setattr(checkpoint, "_rotate_in", original)
    files = RunFiles(killed.out)
    assert not files.last_checkpoint.exists()
    assert read_json(files.previous_checkpoint / "trainer_state.json")["step"] == 4
    train(killed, resume=True, show_progress=False)
    assert_same_run(Path(killed.out), Path(straight.out))


def test_kill_inside_an_evaluation_then_resume_is_bit_identical(reference, tmp_path):
    straight = reference("direct")
    killed = straight.replace(out=str(tmp_path / "killed"))
    # evaluate() runs once per held-out half: call 3 is the second evaluation's first half (killed between halves)
    proc = run_killed({"kind": "train", "config": killed.to_dict(), "kill": {"at": "evaluate", "evaluation": 3}},
                      tmp_path)
    assert proc.returncode == -9, proc.stderr[-3000:]
    assert [r["step"] for r in read_jsonl(RunFiles(killed.out).metrics)] == [4]  # the 2nd record never written
    train(killed, resume=True, show_progress=False)
    assert_same_run(Path(killed.out), Path(straight.out))


def truncate_last_weights(files: RunFiles) -> None:
    weights = files.last_checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a truncated write


def break_every_trainer_state(files: RunFiles) -> None:
    for folder in (files.last_checkpoint, files.previous_checkpoint):
        (folder / "trainer_state.json").write_text("{")


@pytest.mark.parametrize("kind, step, damage, warning", [
    ("slowfast", 7, truncate_last_weights, r"checkpoints/last: model.safetensors does not match its checksum"),
    ("direct", 5, break_every_trainer_state, "starting the run again from update 0"),
], ids=["last-truncated", "all-damaged"])
def test_a_damaged_checkpoint_is_reported_and_an_intact_one_used(reference, tmp_path, kind, step, damage, warning):
    straight = reference(kind)
    killed = straight.replace(out=str(tmp_path / "killed"))
    with pytest.raises(KeyboardInterrupt):
        train(killed, callbacks=[kill_at(step)], show_progress=False)
    damage(RunFiles(killed.out))
    with pytest.warns(RunWarning, match=warning):
        train(killed, resume=True, show_progress=False)
    assert_same_run(Path(killed.out), Path(straight.out))


def test_sweep_killed_mid_way_reuses_finished_runs_and_resumes_the_unfinished_one(tiny_model, tiny_data, tmp_path):
    from xlingual_probe.experiments.sweep import SweepConfig, run_sweep

    values = {k: v for k, v in tiny_config(tiny_model, tiny_data, "x", max_steps=8, eval_every=4, save_every=2)
              .to_dict().items() if k not in ("out", "seed")}

    def sweep(out: Path) -> SweepConfig:
        return SweepConfig(train=values, out=str(out), seeds=[1], experiments=["reinit"], layers="0")

    straight = run_sweep(sweep(tmp_path / "straight"), show_progress=False)
    assert len(straight) == 2  # the baseline and reinit-L0
    proc = run_killed({"kind": "sweep", "config": vars(sweep(tmp_path / "killed")),
                       "kill": {"at": "step", "step": 5, "run": 2}}, tmp_path)
    assert proc.returncode == -9, proc.stderr[-3000:]
    killed = tmp_path / "killed"
    first, second = (killed / run for run in straight["run"])
    assert RunFiles(first).status() == "finished" and RunFiles(second).status() == "incomplete"
    before = (RunFiles(first).summary.read_bytes(), RunFiles(first).summary.stat().st_mtime_ns)
    lines = []
    resumed = run_sweep(sweep(killed), executor=SequentialExecutor(show_progress=False, log=lines.append),
                        show_progress=False)
    assert (RunFiles(first).summary.read_bytes(), RunFiles(first).summary.stat().st_mtime_ns) == before
    assert "reused" in lines[0] and "done" in lines[1]
    assert without_times(resumed.to_dict("records")) == without_times(straight.to_dict("records"))
    for run in straight["run"]:
        assert_same_run(killed / run, tmp_path / "straight" / run)
