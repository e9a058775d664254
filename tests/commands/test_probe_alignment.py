"""``xprobe probe alignment`` end to end on the tiny model: with training, and --no-train."""

import sys

import pytest
from typer.testing import CliRunner

from xlingual_probe.cli import app, main
from xlingual_probe.utils.io import read_json, read_jsonl

COMMON = ["--task", "xnli", "--max-length", "48", "--quiet"]


def test_probe_alignment_trains_and_reports(tiny_model, parallel_data, tmp_path):
    out = tmp_path / "runs"
    result = CliRunner().invoke(app, [
        "probe", "alignment", "--model", str(tiny_model), "--data-dir", str(parallel_data), *COMMON,
        "--max-steps", "6", "--eval-every", "3", "--batch-size", "16", "--lr", "3e-3", "--no-save-best",
        "--align-size", "12", "--align-retrieval", "margin", "--seed", "1", "--seed", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "alignment sample: premise of 2 target language(s), 12-12 sentences each (rows-parallel)" in result.output
    assert "Alignment lost per layer" in result.output and "lost /100 upd. phase 1" in result.output
    assert "ρ(lost, final score)" in result.output  # two targets: reported, undefined (n/a)
    for seed in (1, 2):
        run = out / f"seed-{seed}"
        config = read_json(run / "config.json")
        assert config["alignment_probe"]["retrieval"] == "margin" and config["cka_probe"] is not None
        assert sorted({r["step"] for r in read_jsonl(run / "alignment.jsonl")}) == [0, 3, 6]
        assert (run / "cka.jsonl").is_file()  # the CKA probe rides along for policy IV
    for name in ("alignment.png", "gap.png"):
        assert (out / name).stat().st_size > 1000


def test_no_train_maps_a_model(tiny_model, parallel_data, tmp_path):
    out = tmp_path / "map"
    result = CliRunner().invoke(app, ["probe", "alignment", "--no-train", "--model", str(tiny_model),
                                      "--data-dir", str(parallel_data), *COMMON, "--align-field", "hypothesis",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Alignment by layer" in result.output and "Retrieval (%) of each target language" in result.output
    records = read_jsonl(out / "alignment.jsonl")
    assert {r["step"] for r in records} == {0} and {r["lang"] for r in records} == {"en", "de", "es"}
    assert read_json(out / "alignment_sample.json")["field"] == "hypothesis"
    assert read_json(out / "config.json")["mode"] == "no-train"
    # complete (readers take it), with no evaluation
    assert read_json(out / "summary.json") == {**read_json(out / "summary.json"), "status": "finished", "steps": 0,
                                               "best": None, "final": None, "mode": "no-train"}


@pytest.mark.parametrize("mode", [["--no-train"], ["--max-steps", "2"]], ids=["no-train", "train"])
def test_non_parallel_sets_fail_with_one_error_line(tiny_model, tiny_data, tmp_path, monkeypatch, capsys, mode):
    monkeypatch.setattr(sys, "argv", ["xprobe", "probe", "alignment", *mode, "--model", str(tiny_model),
                                      "--data-dir", str(tiny_data), "--task", "panx", "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: panx: its evaluation sets are not parallel")
    assert not (tmp_path / "x").exists()  # refused before anything is written
