"""Method comparison: the table and paired test on hand-made scores, and end to end on the tiny model."""

import math

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from xlingual_probe.commands.compare import compare_command
from xlingual_probe.experiments.compare import (
    CompareConfig,
    compare_methods,
    comparison_tables,
    paired_tests,
    parse_methods,
)
from xlingual_probe.utils import UserError
from xlingual_probe.utils.io import read_json, read_jsonl


def hand_scores():
    # DF overall 70, 71, 72; slowfast 71, 73, 73.5 -> differences 1, 2, 1.5: mean 1.5, sd 0.5,
    # t = 1.5 / (0.5 / sqrt 3) = 5.196152; df = 2: two-sided p = 1 - t / sqrt(t^2 + 2) = 0.035098
    rows = []
    for method, overall, source in (("direct", [70, 71, 72], [80, 80, 83]), ("slowfast", [71, 73, 73.5], [80, 81, 82]),
                                    ("noisytune", [70.5], [80])):
        for seed, (o, s) in enumerate(zip(overall, source), start=1):
            rows.append({"method": method, "seed": seed, "source": s, "overall": o,
                         "target_mean": (3 * o - s) / 2, "gap": s - (3 * o - s) / 2})
    scores = pd.DataFrame(rows)
    languages = pd.DataFrame([{"method": r["method"], "seed": r["seed"], "lang": lang, "value": v}
                              for r in rows for lang, v in (("en", r["source"]), ("de", r["target_mean"] - 1),
                                                            ("es", r["target_mean"] + 1))])
    return scores, languages


def test_paired_test_hand_computed():
    scores, _ = hand_scores()
    tests = paired_tests(scores).set_index("method")
    t = 1.5 / (0.5 / math.sqrt(3))
    assert tests.loc["slowfast", "t"] == pytest.approx(t)
    assert tests.loc["slowfast", "p"] == pytest.approx(1 - t / math.sqrt(t * t + 2))
    assert tests.loc["slowfast", "diff"] == pytest.approx(1.5) and tests.loc["slowfast", "pairs"] == 3
    assert tests.loc["slowfast", "significant"] == "yes"
    assert paired_tests(scores, alpha=0.01).set_index("method").loc["slowfast", "significant"] == "no"
    # one seed: a difference but no test
    assert tests.loc["noisytune", "pairs"] == 1 and tests.loc["noisytune", "diff"] == pytest.approx(0.5)
    assert math.isnan(tests.loc["noisytune", "p"]) and tests.loc["noisytune", "significant"] == "n/a"
    assert tests.loc["direct", "significant"] == "n/a"


def test_comparison_tables_mean_std():
    scores, languages = hand_scores()
    table, langs = comparison_tables(scores, languages)
    row = table.set_index("method").loc["slowfast"]
    assert row["seeds"] == 3 and row["overall_mean"] == pytest.approx(72.5)
    assert row["overall_std"] == pytest.approx(pd.Series([71, 73, 73.5]).std())
    assert row["source_mean"] == pytest.approx(81.0) and row["source_std"] == pytest.approx(1.0)
    assert list(table["method"]) == ["direct", "slowfast", "noisytune"]
    de = langs.set_index(["method", "lang"]).loc[("direct", "de")]
    assert de["seeds"] == 3 and de["mean"] == pytest.approx(scores[scores.method == "direct"].target_mean.mean() - 1)


def test_parse_methods():
    assert parse_methods("ff,noisytune") == ["direct", "fast", "noisytune"]
    with pytest.raises(UserError, match="unknown method"):
        parse_methods("sloww")
    with pytest.raises(UserError, match="swap"):
        parse_methods("slowfast:swap-X")


def test_compare_two_methods_two_seeds_on_the_tiny_model(tiny_model, tiny_data, tmp_path, monkeypatch):
    train = {"model": str(tiny_model), "task": "xnli", "data_dir": str(tiny_data), "max_steps": 6, "batch_size": 16,
             "lr": 5e-3, "eval_every": 3, "eval_batch_size": 48, "save_best": False, "few_shot": 2}
    config = CompareConfig(train=train, out=str(tmp_path / "cmp"), seeds=[1, 2], methods=["slowfast"],
                           sets="paper", policy={"window": 2})
    result = compare_methods(config, num_layers=2)
    out = tmp_path / "cmp"
    assert list(result.table["method"]) == ["direct", "slowfast"]
    for method in ("direct", "slowfast"):
        for seed in (1, 2):
            info = read_json(out / method / f"seed-{seed}" / "config.json")
            assert info["config"]["few_shot"] == 2 and info["config"]["max_steps"] == 6
    sf = read_json(out / "slowfast/seed-1/config.json")
    assert sf["config"]["slowfast"]["sets"] == {"S_I": "0", "S_II": "0:ffn", "V_I": "1", "V_II": "1:attention"}
    assert sf["config"]["slowfast"]["window"] == 2 and sf["selection"]["source"] == "paper"
    assert "K" in read_jsonl(out / "slowfast/seed-1/steps.jsonl")[-1]
    # the same config but the method: DF has no policy
    df = read_json(out / "direct/seed-1/config.json")["config"]
    assert {k for k in df if df[k] != sf["config"][k]} == {"slowfast", "method", "out"}
    csv = pd.read_csv(out / "comparison.csv")
    assert set(csv.columns) >= {"method", "seeds", "overall_mean", "overall_std", "gap_mean", "overall_diff", "p",
                                "significant"}
    # the default score: the checkpoint chosen on the English selection half, on the reporting halves
    summaries = {s: read_json(out / f"slowfast/seed-{s}/summary.json") for s in (1, 2)}
    assert all(summary["select_by"] == "source" for summary in summaries.values())
    reported = [summary["best"]["overall"] for summary in summaries.values()]
    assert csv.set_index("method").loc["slowfast", "overall_mean"] == pytest.approx(sum(reported) / 2)
    langs = pd.read_csv(out / "comparison_languages.csv")
    assert set(langs["lang"]) == {"en", "de", "es"} and len(langs) == 6
    md = (out / "comparison.md").read_text()
    assert "| method | seeds | source |" in md and "## Per language" in md and "few-shot 2" in md
    assert ("Checkpoint chosen on the en selection half (--select-by source; no target-language data), scored on "
            "each language's reporting half (held out from the choice)." in md and "(--which selected)" in md)
    # few-shot: the shots are drawn per seed, shared by the methods of a seed (paired), and written down
    shots = {s: read_json(out / f"direct/seed-{s}/few_shot.json")["shots"] for s in (1, 2)}
    assert shots[1] != shots[2] and all(len(ids) == 2 for ids in shots[1].values()) and set(shots[1]) == {"de", "es"}
    assert read_json(out / "slowfast/seed-1/few_shot.json")["shots"] == shots[1]
    with pytest.raises(UserError, match="has no test scores"):  # the fixture folder has no test files
        compare_methods(CompareConfig(**{**config.__dict__, "which": "selected-test"}), num_layers=2)
    assert read_json(out / "selection.json")["source"] == "paper"
    mtime = (out / "direct/seed-1/summary.json").stat().st_mtime_ns
    compare_methods(config, num_layers=2)  # a re-run reuses every finished run
    assert (out / "direct/seed-1/summary.json").stat().st_mtime_ns == mtime
    # another --which writes its own tables beside the default ones, which stay
    final = compare_methods(CompareConfig(**{**config.__dict__, "which": "final"}), num_layers=2)
    assert final.paths["md"] == out / "comparison-final.md" and "(--which final)" in final.paths["md"].read_text()
    assert (out / "comparison.md").read_text() == md and (out / "comparison-final_languages.csv").is_file()
    # a comparison directory holds one set of training options: other options are refused, not mixed in
    changed = CompareConfig(**{**config.__dict__, "train": {**train, "lr": 1e-3}})
    with pytest.raises(UserError, match=r"holds a comparison of .* with other training options \(lr\)"):
        compare_methods(changed, num_layers=2)
    # the same options under another run identity (here: numbers version) are never reused: they run under
    # their own key beside the old run, which stays
    from xlingual_probe.runs import NUMERICS_VERSION

    for module in ("identity", "loop"):  # the key and the config.json the run writes
        monkeypatch.setattr(f"xlingual_probe.training.{module}.NUMERICS_VERSION", NUMERICS_VERSION + 1)
    lines = []
    compare_methods(CompareConfig(**{**config.__dict__, "seeds": [1], "methods": ["direct"]}), num_layers=2,
                    log=lines.append)
    rekeyed = [p for p in (out / "direct").iterdir() if p.name.startswith("seed-1-")]
    assert len(rekeyed) == 1 and read_json(rekeyed[0] / "config.json")["numerics_version"] == NUMERICS_VERSION + 1
    assert (out / "direct/seed-1/summary.json").stat().st_mtime_ns == mtime
    assert any("numerics_version" in line for line in lines)


def test_compare_cli_with_a_selection_file(tiny_model, tiny_data, tmp_path):
    sets = tmp_path / "sets.yaml"
    sets.write_text("sets: {S_I: '0', S_II: '0:ffn', V_I: '1', V_II: '1:attention'}\npolicy_iv: false\n")
    app = typer.Typer()
    app.command("compare")(compare_command)
    app.command("noop")(lambda: None)  # two commands: typer keeps the subcommand name
    result = CliRunner().invoke(app, [
        "compare", "--model", str(tiny_model), "--task", "xnli", "--data-dir", str(tiny_data), "--max-steps", "2",
        "--batch-size", "16", "--eval-every", "2", "--eval-batch-size", "48", "--seed", "1",
        "--methods", "fast", "--sets", str(sets), "--window", "1", "--which", "final", "--quiet",
        "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    assert "| fast |" in result.output and "n/a" in result.output
    settings = read_json(tmp_path / "cmp/fast/seed-1/config.json")["config"]["slowfast"]
    assert settings["policies"] == ["III"] and settings["window"] == 1  # FF without policy IV


def test_compare_policy_iv_overrides_the_selection(tiny_model, tiny_data, tmp_path):
    """``--sets paper`` turns policy IV on; ``--policy-iv off`` gives the paper's NER setting."""
    app = typer.Typer()
    app.command("compare")(compare_command)
    app.command("noop")(lambda: None)
    args = ["compare", "--model", str(tiny_model), "--task", "xnli", "--data-dir", str(tiny_data), "--max-steps", "2",
            "--batch-size", "16", "--eval-every", "2", "--eval-batch-size", "48", "--seed", "1", "--methods", "slowfast",
            "--sets", "paper", "--which", "final", "--quiet", "--out", str(tmp_path / "cmp")]
    result = CliRunner().invoke(app, [*args, "--policy-iv", "off"])
    assert result.exit_code == 0, result.output
    assert "policy IV off (--policy-iv)" in result.output
    assert read_json(tmp_path / "cmp/slowfast/seed-1/config.json")["config"]["slowfast"]["policies"] == ["I", "II", "III"]
    assert read_json(tmp_path / "cmp/selection.json")["policy_iv"] is True  # the selection itself is kept
    bad = CliRunner().invoke(app, [*args, "--policy-iv", "maybe"])
    assert isinstance(bad.exception, UserError) and "--policy-iv must be auto, on or off" in str(bad.exception)


def test_run_scores_refuse_incomplete_runs_and_count_diverged_ones(tmp_path):
    from xlingual_probe.experiments.compare import comparison_markdown, run_scores
    from xlingual_probe.utils.io import atomic_write_json

    def run(name, overall=None, status="finished"):
        folder = tmp_path / name
        folder.mkdir(parents=True)
        if status == "incomplete":
            return folder
        record = None if overall is None else {"overall": overall, "source": overall, "target_mean": overall,
                                               "gap": 0.0, "metrics": {"en": overall}}
        atomic_write_json(folder / "summary.json", {"status": status, "best": record, "final": record})
        return folder

    dirs = {"direct": [(1, run("d1", 70.0)), (2, run("d2", 71.0)), (3, run("d3", 72.0))],
            "slowfast": [(1, run("s1", 71.0)), (2, run("s2", status="diverged")), (3, run("s3", status="incomplete"))]}
    with pytest.raises(UserError, match=r"cannot compare with an incomplete run .*s3.*--allow-incomplete"):
        run_scores(dirs)
    scores, languages = run_scores(dirs, allow_incomplete=True)
    assert list(scores["status"]) == ["finished"] * 4 + ["diverged"]
    table, langs = comparison_tables(scores, languages)
    row = table.set_index("method").loc["slowfast"]
    assert row["seeds"] == 2 and row["diverged"] == 1 and row["pairs"] == 1
    text = comparison_markdown(table, langs, "# t", 0.05)
    assert "2 (1 diverged)" in text and "1 run(s) diverged" in text
