"""``xprobe demo`` end to end on the tiny synthetic world (plumbing: the tiny world learns nothing)."""

from __future__ import annotations

from xlingual_probe.experiments.demo import DemoConfig, run_demo, slowfast_equals_df_note

TINY_TRAIN = {"max_steps": 4, "eval_every": 2, "batch_size": 8, "lr": 1e-3, "train_size": 40, "eval_size": 12,
              "save_best": False, "save_every": 0}


def test_demo_writes_report_with_every_answer(tmp_path, monkeypatch):
    monkeypatch.setenv("XPROBE_CACHE", str(tmp_path / "cache"))
    config = DemoConfig(out=str(tmp_path / "demo"), model="synthetic:tiny", sweep_seeds=[1], compare_seeds=[1, 2],
                        train=TINY_TRAIN, policy={"window": 2})
    lines: list[str] = []
    html = run_demo(config, log=lines.append, show_progress=False)
    report = tmp_path / "demo" / "report.md"
    text = report.read_text(encoding="utf-8")
    for section in ("## When does the gap open?", "## Where is the cross-lingual knowledge?",
                    "## How much does protecting it help?", "## Timings"):
        assert section in text
    assert "# Layer sweep: synthetic:tiny on synthetic-nli" in text  # the model's name, not its cache folder
    assert "| slowfast | 2 |" in text  # the comparison ran both seeds
    for figure in ("figures/gap.png", "figures/cka.png", "selection/sweep/layers.png"):
        assert (report.parent / figure).stat().st_size > 0, figure
    assert [line[:3] for line in lines if line[1:2] == "/"] == ["1/4", "2/4", "3/4", "4/4"]
    # the HTML report: the paper figures the demo's runs support, images embedded
    assert html == tmp_path / "demo" / "report" / "report.html"
    page = html.read_text(encoding="utf-8")
    for section in ('id="fig1-gap-methods"', 'id="fig3-layers"', 'id="table2-methods"', 'id="selection"'):
        assert section in page, section
    assert page.count('src="data:image/png;base64,') >= 5 and "report/report.html" in text


def test_report_says_when_slowfast_cannot_differ_from_df():
    empty = {"S_I": "", "S_II": "", "V_I": "0-3", "V_II": "0-3:ffn"}
    assert "equals DF by construction" in slowfast_equals_df_note({"sets": empty, "policy_iv": False})
    assert slowfast_equals_df_note({"sets": empty, "policy_iv": True}) == ""  # policy IV speeds up V_II
    assert slowfast_equals_df_note({"sets": {**empty, "S_I": "0-1"}, "policy_iv": False}) == ""
    assert "by construction" in slowfast_equals_df_note({"sets": {**empty, "V_II": ""}, "policy_iv": True})
