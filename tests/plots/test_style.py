"""The shared style: sizes, palette, formats, reproducible files, and the caller's matplotlib settings untouched."""

import matplotlib
import pytest

from xlingual_probe.plots.style import (
    OKABE_ITO,
    new_figure,
    ordered_colors,
    save_figure,
    series_colors,
    styled,
)


def test_sizes_and_palette():
    assert new_figure("one")[0].get_figwidth() == 3.3 and new_figure("two")[0].get_figwidth() == 6.9
    assert new_figure("two", nrows=2, ncols=3)[1].shape == (2, 3)
    assert series_colors(3) == list(OKABE_ITO[:3])
    many = series_colors(12)
    assert len(set(many)) == 12 and many == ordered_colors(12)
    with pytest.raises(TypeError):
        new_figure("three")


def test_files_are_written_in_each_format_and_are_reproducible(tmp_path):
    fig, axes = new_figure("one")
    axes[0, 0].plot([1, 2], [3, 4], label="x")
    first = save_figure(fig, tmp_path / "a" / "f")
    assert [p.name for p in first] == ["f.png", "f.pdf", "f.svg"]
    again = save_figure(fig, tmp_path / "b" / "f")
    for one, two in zip(first, again):
        assert one.read_bytes() == two.read_bytes(), one.name  # no dates in the vector files
    with pytest.raises(ValueError, match="unknown figure format"):
        save_figure(fig, tmp_path / "g", formats=("gif",))


def test_styled_leaves_the_callers_settings_alone():
    before = matplotlib.rcParams["font.size"]

    @styled
    def size():
        return matplotlib.rcParams["font.size"]

    assert size() == 8 and matplotlib.rcParams["font.size"] == before
