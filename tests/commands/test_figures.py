"""``xprobe figures``, ``xprobe report`` and ``xprobe run`` from the command line: what they write and print,
and bad input as one ``error:`` line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.plots.conftest import write_paper_runs
from xlingual_probe.cli import app, main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return write_paper_runs(tmp_path_factory.mktemp("cli-runs"))


def test_figures_writes_files_and_says_what_it_skipped(runs, tmp_path):
    out = tmp_path / "figs"
    result = CliRunner().invoke(app, ["figures", str(runs / "cmp-xnli"), "--out", str(out), "--formats", "png",
                                      "--only", "fig1-gap-methods,fig3-layers,table2-methods"])
    assert result.exit_code == 0, result.output
    assert "wrote fig1-gap-methods: fig1-gap-methods.png" in result.output
    assert "wrote table2-methods: table2-methods.csv, table2-methods.md, table2-methods.tex" in result.output
    assert "skipped fig3-layers (Fig. 3): needs a sweep with reinit / freeze experiments" in result.output
    assert "2 written" in result.output and "1 skipped" in result.output
    index = (out / "index.md").read_text(encoding="utf-8")
    assert "![Figure 1 / 5: the gap over updates per method](fig1-gap-methods.png)" in index
    assert "`fig3-layers` (Fig. 3)" in index
    assert not (out / "fig1-gap-methods.pdf").exists()


def test_report_prints_the_path_of_the_page(runs, tmp_path):
    result = CliRunner().invoke(app, ["report", str(runs / "cmp-panx" / "direct"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == f"report: {tmp_path / 'r' / 'report.html'}"
    assert "skipped fig1-gap-methods" in result.output
    assert (tmp_path / "r" / "figures" / "fig2-loss-gap.svg").is_file()


def test_run_dry_run_prints_the_plan():
    result = CliRunner().invoke(app, ["run", "analyses/fig3-layers.yaml", "--scale", "paper", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].endswith("(paper scale): 300 fine-tuning runs")
    assert "xnli: layer sweep reinit,freeze → runs/fig3-layers-paper/sweep-xnli: 100 runs × 10 epochs" in result.output


@pytest.mark.parametrize("argv, message", [
    (["figures", "{runs}", "--out", "{tmp}", "--formats", "gif"], "--formats takes png, pdf, svg"),
    (["figures", "{runs}", "--out", "{tmp}", "--score", "worst"], "score record must be one of best, final"),
    (["figures", "{tmp}/nothing", "--out", "{tmp}"], "not found"),
    (["report", "{tmp}", "--out", "{tmp}/r"], "no run directories"),
    (["run", "{tmp}/missing.yaml"], "recipe not found"),
    (["run", "analyses/fig3-layers.yaml", "--scale", "huge"], "unknown --scale 'huge'"),
    (["run", "analyses/fig3-layers.yaml", "--set", "lr"], "--set takes KEY=VALUE"),
])
def test_bad_input_is_one_error_line(runs, tmp_path, monkeypatch, capsys, argv, message):
    argv = [a.format(runs=runs, tmp=tmp_path) for a in argv]
    monkeypatch.setattr("sys.argv", ["xprobe", *argv])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
