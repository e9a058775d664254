"""Gap-over-time and CKA-over-time figures from hand-written run directories (files only, no training)."""

import pytest
import typer
from typer.testing import CliRunner

from xlingual_probe.plots.curves import cka_curves, gap_curves, plot_cka_curves, plot_gap_curves, run_groups
from xlingual_probe.runs import load_runs
from xlingual_probe.utils import UserError
from xlingual_probe.utils.io import append_jsonl, atomic_write_json


def write_run(root, method, seed, offset=0.0, layers=3, cka=True, finished=True):
    atomic_write_json(root / "config.json", {"schema_version": 1, "seed": seed, "config": {
        "model": "tiny", "task": "xnli", "out": str(root), "seed": seed, "method": method, "freeze": []}})
    for step in (0, 10, 20, 30):
        scores = {"en": 60 + step + offset, "de": 50 + step / 2 + offset, "es": 48 + step / 2 + offset}
        targets = (scores["de"] + scores["es"]) / 2
        append_jsonl(root / "metrics.jsonl", {
            "step": step, "loss": None if step == 0 else 1.0 / step + offset / 100, "metrics": scores,
            "source": scores["en"], "target_mean": targets, "overall": sum(scores.values()) / 3,
            "gap": scores["en"] - targets})
    if cka:
        for step in (10, 20, 30):
            for layer in range(layers):
                value = None if (layer, step) == (0, 10) else 1 - step * (layer + 1) / 200 - offset / 100
                append_jsonl(root / "cka.jsonl", {"step": step, "layer": layer, "cka": value, "pooling": "tokens"})
    if finished:
        last = {"step": 30, "overall": 0.0, "source": 0.0, "target_mean": 0.0, "gap": 0.0}
        atomic_write_json(root / "summary.json", {"status": "finished", "best": last, "final": last,
                                                  "method": method, "seed": seed})
    return root


@pytest.fixture
def run_dirs(tmp_path):
    return [write_run(tmp_path / "df/seed-1", "direct", 1), write_run(tmp_path / "df/seed-2", "direct", 2, offset=2.0),
            write_run(tmp_path / "sf", "slowfast", 1, offset=1.0)]


def test_runs_differing_only_in_seed_form_one_group(run_dirs, tmp_path):
    groups = run_groups(load_runs(run_dirs))
    assert groups == {"direct": [str(run_dirs[0]), str(run_dirs[1])], "slowfast": [str(run_dirs[2])]}
    # same method twice with another setting: labelled by folder
    write_run(tmp_path / "df-freeze", "direct", 1)
    runs = load_runs([*run_dirs[:2], tmp_path / "df-freeze"])
    runs.configs.loc[runs.configs["run"] == str(tmp_path / "df-freeze"), "freeze"] = "['0']"
    assert list(run_groups(runs)) == ["df", "df-freeze"]


def test_gap_curves_mean_and_std_over_seeds(run_dirs):
    table = gap_curves(run_dirs)
    direct = table[table["group"] == "direct"].set_index("step")
    assert list(direct.index) == [0, 10, 20, 30]
    assert direct.loc[10, "source"] == pytest.approx(71.0)  # (70 + 72) / 2
    assert direct.loc[10, "source_std"] == pytest.approx(2 ** 0.5)
    assert direct.loc[10, "runs"] == 2
    assert direct["loss"].isna().tolist() == [True, False, False, False]
    assert table[table["group"] == "slowfast"]["gap_std"].isna().all()


def test_cka_curves_per_layer(run_dirs):
    table = cka_curves(run_dirs)
    assert set(table["layer"]) == {0, 1, 2} and set(table["pooling"]) == {"tokens"}
    direct = table[table["group"] == "direct"].set_index(["step", "layer"])
    assert direct.loc[(20, 1), "cka"] == pytest.approx(1 - 40 / 200 - 0.01)
    assert direct.loc[(10, 0), "cka"] != direct.loc[(10, 0), "cka"]  # undefined (None) -> NaN


def test_plots_are_written(run_dirs, tmp_path):
    gap = plot_gap_curves(run_dirs, tmp_path / "figs/gap.png")
    cka = plot_cka_curves(run_dirs, tmp_path / "figs/cka.png")
    single = plot_cka_curves(run_dirs[2], tmp_path / "figs/cka-one.png", title="one run")
    for path in (gap, cka, single):
        assert path.is_file() and path.stat().st_size > 5000
        assert path.read_bytes()[:4] == b"\x89PNG"


def test_cka_plot_without_records_is_a_user_error(tmp_path):
    run = write_run(tmp_path / "run", "direct", 1, cka=False)
    with pytest.raises(UserError, match="cka"):
        plot_cka_curves(run, tmp_path / "cka.png")


def test_plot_command(run_dirs, tmp_path):
    from xlingual_probe.commands.plot import plot_command

    app = typer.Typer()
    app.command()(plot_command)
    result = CliRunner().invoke(app, [str(tmp_path / "df"), str(tmp_path / "sf"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out/gap.png").stat().st_size > 5000
    assert (tmp_path / "out/cka.png").stat().st_size > 5000


def test_incomplete_runs_are_skipped_with_a_warning_unless_allowed(run_dirs, tmp_path):
    from xlingual_probe.utils.errors import RunWarning

    running = write_run(tmp_path / "running", "fast", 1, finished=False)
    with pytest.warns(RunWarning, match=r"skipped an incomplete run \(no summary.json.*\): .*running"):
        table = gap_curves([*run_dirs, running])
    assert set(table["group"]) == {"direct", "slowfast"}
    assert set(gap_curves([*run_dirs, running], allow_incomplete=True)["group"]) == {"direct", "slowfast", "fast"}
    with pytest.raises(UserError, match="no complete run to read"):
        load_runs(running)
