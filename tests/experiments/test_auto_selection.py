"""``--sets auto`` end to end on the tiny model: sweep + CKA DF run + selection, then `xprobe select`."""

import typer
from typer.testing import CliRunner

from xlingual_probe.commands.select import select_command
from xlingual_probe.experiments.auto_selection import auto_selection
from xlingual_probe.selection import check_sets
from xlingual_probe.utils.io import read_json, read_jsonl


def test_auto_selection_on_the_tiny_model(tiny_model, tiny_data, tmp_path):
    train = {"model": str(tiny_model), "task": "xnli", "data_dir": str(tiny_data), "max_steps": 4, "batch_size": 16,
             "lr": 5e-3, "eval_every": 2, "eval_batch_size": 48, "save_best": False}
    lines: list[str] = []
    selection = auto_selection(train, [1], tmp_path / "auto", num_layers=2, log=lines.append)
    # one seed: the paired rule cannot test, every set is empty, and the log says the policies are idle
    assert selection["rule"] == "paired" and all(unit is None for unit in selection["sets"].values())
    assert lines[0].startswith("--sets auto (paired rule") and "every policy acts on nothing" in lines[1]
    sweep = read_json(tmp_path / "auto/sweep/sweep.json")
    assert sweep["options"]["bottom_set"] == "bottom1" and sweep["options"]["top_set"] == "top1"
    assert {j["experiment"] for j in sweep["jobs"]} == {"baseline", "reinit", "freeze", "group-freeze", "lr-x10"}
    # the CKA probe ran inside the sweep's own baseline run, which the sweep then reused
    baseline = tmp_path / "auto/sweep" / next(j["run"] for j in sweep["jobs"] if j["experiment"] == "baseline")
    assert {r["step"] for r in read_jsonl(baseline / "cka.jsonl")} == {2, 4}
    assert "cka_probe" in read_json(baseline / "config.json")
    assert not (tmp_path / "auto/cka").exists()
    saved = read_json(tmp_path / "auto/selection.json")
    assert saved["sets"] == selection["sets"] and saved["source"] == "auto" and saved["num_layers"] == 2
    check_sets(selection["sets"], 2)
    notes = " ".join(selection["notes"])
    assert "one seed" in notes
    # a 4-update run has no phase 2 (window 100): the second half of the probe steps, one point: no trend
    evidence = selection["evidence"]["policy_iv"]
    assert evidence["runs"] == [str(baseline)] and evidence["decision"] == "off" and selection["policy_iv"] is False
    assert (tmp_path / "auto/selection.md").is_file()

    # a second call reuses every run
    mtime = (baseline / "summary.json").stat().st_mtime_ns
    again = auto_selection(train, [1], tmp_path / "auto", num_layers=2)
    assert again["sets"] == selection["sets"] and (baseline / "summary.json").stat().st_mtime_ns == mtime

    # `xprobe select` on the same sweep, with the CKA run, into another folder
    app = typer.Typer()
    app.command("select")(select_command)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["select", str(tmp_path / "auto/sweep"), "--cka", str(baseline),
                                      "--out", str(tmp_path / "sel"), "--min-effect", "0.5"])
    assert result.exit_code == 0, result.output
    assert read_json(tmp_path / "sel/selection.json")["sets"] == selection["sets"]
    assert "S_I" in result.output and "selection.json" in result.output
