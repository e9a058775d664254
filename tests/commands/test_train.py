"""``xprobe train`` from the command line: the files it writes, the lines it prints, and bad input."""

import os

import pytest
from typer.testing import CliRunner

from xlingual_probe.cli import app, main
from xlingual_probe.training.provenance import ARGV_ENV
from xlingual_probe.utils.io import read_json, read_jsonl


def tiny_args(tiny_model, tiny_data, out, *extra):
    return ["train", *extra, "--model", str(tiny_model), "--task", "xnli", "--data-dir", str(tiny_data),
            "--max-steps", "4", "--eval-every", "2", "--batch-size", "16", "--eval-batch-size", "48", "--quiet",
            "--out", str(out)]


def test_train_direct_one_seed_writes_a_run_directory(tiny_model, tiny_data, tmp_path):
    result = CliRunner().invoke(app, tiny_args(tiny_model, tiny_data, tmp_path / "df", "direct", "--seed", "3"))
    assert result.exit_code == 0, result.output
    run = tmp_path / "df"
    summary = read_json(run / "summary.json")
    assert summary["method"] == "direct" and summary["seed"] == 3 and summary["steps"] == 4
    assert [r["step"] for r in read_jsonl(run / "steps.jsonl")] == [1, 2, 3, 4]
    assert [r["step"] for r in read_jsonl(run / "metrics.jsonl")] == [2, 4]
    assert read_json(run / "config.json")["config"]["seed"] == 3
    best = summary["best"]
    assert (f"{run}: selected update {best['step']} (select-by source), reporting half: source {best['source']:.2f}"
            in result.output and "; no test split" in result.output)
    assert "[1/1] direct seed 3: done" in result.output


def test_train_slow_alias_two_seeds_prints_the_seed_table(tiny_model, tiny_data, tmp_path):
    out = tmp_path / "fs"
    result = CliRunner().invoke(app, tiny_args(tiny_model, tiny_data, out, "fs", "--sets", "paper", "--window", "1",
                                               "--seed", "1", "--seed", "2"))
    assert result.exit_code == 0, result.output
    for seed in (1, 2):
        config = read_json(out / f"seed-{seed}" / "config.json")
        assert config["config"]["method"] == "slow"  # the paper's FS, recorded by its full name
        assert config["config"]["slowfast"]["policies"] == ["I", "II"]
        assert config["selection"]["sets"]["S_I"] == "0"
        assert "K" in read_jsonl(out / f"seed-{seed}" / "steps.jsonl")[0]
    assert "method" in result.output and "± " in result.output  # mean ± std over the two seeds
    assert "Checkpoint chosen on the en selection half (--select-by source" in result.output  # what the table is


@pytest.mark.parametrize("extra, message", [
    (["nope"], "unknown method 'nope'"),
    (["direct", "--c1", "0.1"], "slow-and-fast options apply to slow, fast and slowfast"),
    (["direct", "--seed", "1", "--seed", "1"], "repeated seed"),
    (["direct", "--lr", "-1"], "--lr must be positive"),
    (["direct", "--grad-accum", "3"], "--batch-size 16 is not divisible by --grad-accum 3"),
    (["direct", "--recipe", "nope"], "unknown recipe 'nope'"),
    (["slowfast", "--swap", "nope"], "unknown variant"),
    (["direct", "--eval-size", "1"], "half of 'en' is empty (1 evaluation examples"),
    (["direct", "--select-by", "best"], "--select-by must be one of source, overall, last"),
    (["direct", "--score-test"], "--score-test: task 'xnli' has no labelled test split here"),
])
def test_train_bad_input_is_one_error_line(tiny_model, tiny_data, tmp_path, monkeypatch, capsys, extra, message):
    monkeypatch.setattr("sys.argv", ["xprobe", *tiny_args(tiny_model, tiny_data, tmp_path / "run", *extra)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not (tmp_path / "run" / "summary.json").exists()


def test_existing_output_needs_resume_or_overwrite(tiny_model, tiny_data, tmp_path):
    args = tiny_args(tiny_model, tiny_data, tmp_path / "df", "direct")
    assert CliRunner().invoke(app, args).exit_code == 0
    again = CliRunner().invoke(app, args)
    assert again.exit_code != 0 and "pass --resume" in str(again.exception)
    resumed = CliRunner().invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0 and "reused" in resumed.output


def test_train_two_seeds_in_two_worker_processes(tiny_model, tiny_data, tmp_path):
    from xlingual_probe.experiments.processes import usable_cores

    out = tmp_path / "df"
    args = tiny_args(tiny_model, tiny_data, out, "direct", "--seed", "1", "--seed", "2", "--executor", "processes",
                     "--workers", "2")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.count(": selected update") == 2 and "± " in result.output
    assert "done 2   running 0   pending 0   failed 0" in (out / "status.txt").read_text()
    for seed in (1, 2):  # each worker got half of the cores, recorded in the run's config
        info = read_json(out / f"seed-{seed}" / "config.json")
        assert info["config"]["threads"] == info["device"]["cpu_threads"] == max(1, usable_cores() // 2)
def test_a_run_records_the_command_that_made_it(tiny_model, tiny_data, tmp_path, monkeypatch):
    argv = ["xprobe", *tiny_args(tiny_model, tiny_data, tmp_path / "df", "direct", "--seed", "1")]
    monkeypatch.setattr("sys.argv", ["/venv/bin/xprobe", *argv[1:]])
    monkeypatch.delenv(ARGV_ENV, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code in (0, None)
    command = read_json(tmp_path / "df" / "config.json")["command"]
    assert command["argv"] == argv and command["cwd"]
    assert ARGV_ENV not in os.environ  # main() leaves the environment as it found it
