"""Alignment figures from crafted run directories."""

import pytest

from tests.alignment_runs import write_alignment_run, write_reinit_sweep
from xlingual_probe.plots.alignment import (
    alignment_curves,
    language_groups,
    plot_alignment_curves,
    plot_alignment_vs_reinit,
)

LANGS = ("de", "fr", "ru", "ar", "hi", "zh", "sw")


def curve(step, layer, lang):
    return 90.0 - layer * 10.0 * step / 100 - (5.0 if lang in ("ru", "ar") else 0.0)


@pytest.fixture
def runs(tmp_path):
    return [write_alignment_run(tmp_path / f"seed-{s}", retrieval=lambda st, la, lg, s=s: curve(st, la, lg) + s,
                                steps=[0, 50, 100], num_layers=4, targets=LANGS, losses=[1.0] * 100, seed=s)
            for s in (1, 2)]


def test_language_groups():
    groups = language_groups(list(LANGS))
    assert groups["Latin script"] == ["de", "fr", "sw"] and groups["Cyrillic, Greek"] == ["ru"]
    assert "other" not in groups
    assert language_groups(["n1", "n2"]) == {"n1": ["n1"], "n2": ["n2"]}
    assert language_groups(["de", "ru"], {"mine": ["de", "ru"]}) == {"mine": ["de", "ru"]}


def test_curves_average_languages_then_runs(runs):
    table = alignment_curves(runs)
    row = table[(table["group"] == "Cyrillic, Greek") & (table["step"] == 100) & (table["layer"] == 2)].iloc[0]
    assert row["value"] == pytest.approx(90.0 - 20.0 - 5.0 + 1.5) and row["runs"] == 2
    assert row["value_std"] == pytest.approx(0.7071, abs=1e-4)


def test_figures_are_written(runs, tmp_path):
    assert plot_alignment_curves(runs, tmp_path / "curves.png").stat().st_size > 1000
    sweep = write_reinit_sweep(tmp_path / "sweep", {0: 0.5, 1: 1.0, 2: 3.0, 3: 2.0})
    assert plot_alignment_vs_reinit(runs, sweep, tmp_path / "scatter.png").stat().st_size > 1000
