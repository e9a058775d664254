"""Curves over fine-tuning updates: the gap per method (paper Fig. 1 / 5), loss and gap with the phase-2
start (Fig. 2), and the gap when fine-tuning only the last k layers (Fig. 4).

Context:
    Guo et al. evaluate every hundred updates and plot the gap P_src − P_tgt over training: it opens in the
    first phase, while the loss falls fast, and keeps growing slowly in the second (Fig. 2); their method
    keeps it lower (Fig. 1, Fig. 5); freezing all but the last k layers lowers it but does not close it
    (Fig. 4). Here each curve is the mean over a group's seeds with a ± std band, from ``metrics.jsonl``.

Input:
    ``panels``: ``{panel title: {series label: [run directory, ...]}}``. One panel per dataset (task), one
    series per method or experiment; a series' runs are its seeds. Colours follow the series label, the
    same in every panel, so a method keeps its colour across datasets.

The phase-2 start of a run is its first update in phase 2 (:func:`~xlingual_probe.plots._series.phase2_start`:
logged by policy runs, replayed from the losses otherwise); Fig. 2 marks the mean over a series' runs.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from xlingual_probe.plots._series import metric_series, phase2_start
from xlingual_probe.plots.style import (
    LINESTYLES,
    MARKERS,
    band,
    legend_below,
    new_figure,
    series_colors,
    styled,
)

__all__ = ["Panels", "curves_figure", "loss_gap_figure", "panel_grid"]

Panels = dict[str, dict[str, list[str]]]
UPDATE_LABEL = "update (optimizer steps)"
LABELS = {"gap": "gap (points)", "loss": "training loss (nats)", "overall": "overall score (points)",
          "source": "source score (points)", "target_mean": "target mean (points)"}


def panel_grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    """Rows and columns for ``n`` panels, at most ``max_cols`` wide.

    >>> panel_grid(1), panel_grid(3), panel_grid(4)
    ((1, 1), (1, 3), (2, 3))
    """
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def _looks(panels: Panels) -> dict[str, dict[str, str]]:
    """Colour, line style and marker per series label, the same in every panel (style and marker keep
    overlapping or grey-printed series apart)."""
    labels = list(dict.fromkeys(label for series in panels.values() for label in series))
    return {label: {"color": colour, "linestyle": LINESTYLES[i % len(LINESTYLES)], "marker": MARKERS[i % len(MARKERS)]}
            for i, (label, colour) in enumerate(zip(labels, series_colors(len(labels))))}


def _shared_legend(fig: Figure, looks: dict[str, dict[str, str]], extra: list[Line2D] = ()) -> None:
    handles = [Line2D([], [], label=label, **look) for label, look in looks.items()] + list(extra)
    legend_below(fig, handles, [h.get_label() for h in handles])


@styled
def curves_figure(panels: Panels, column: str = "gap", ylabel: str | None = None, title: str | None = None) -> Figure:
    """One panel per dataset: ``column`` of ``metrics.jsonl`` over updates, mean ± std over each series' runs.

    Args:
        panels: ``{panel title: {series label: [run directory, ...]}}``.
        column: ``gap``, ``overall``, ``source``, ``target_mean`` or ``loss``.
        ylabel: the y axis label (default: the column with its unit).
        title: the figure's title (none by default: papers put it in the caption).

    Returns:
        The figure; each panel's lines carry their series label (``line.get_label()``).
    """
    rows, cols = panel_grid(len(panels))
    fig, axes = new_figure("one" if len(panels) == 1 else "two", 1.2 + 1.8 * rows, rows, cols)
    looks = _looks(panels)
    for ax, (name, series) in zip(axes.flat, panels.items()):
        for label, runs in series.items():
            data = metric_series(runs, column)
            look = dict(looks[label])
            band(ax, data["step"], data[column], data[f"{column}_std"], look.pop("color"), label=label, markersize=3,
                 **look)
        ax.set_title(name)
        ax.set_xlabel(UPDATE_LABEL)
        ax.set_ylabel(ylabel or LABELS.get(column, column))
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    _shared_legend(fig, looks)
    if title:
        fig.suptitle(title)
    return fig


@styled
def loss_gap_figure(panels: Panels, title: str | None = None) -> Figure:
    """Paper Fig. 2: the training loss (top) and the gap (bottom) over updates, one column per dataset, the
    phase-2 start of each series marked by a dotted vertical line (mean over its runs that reach phase 2).

    Args:
        panels: ``{dataset: {series label: [run directory, ...]}}`` (the paper: DF on each task).
        title: an optional figure title.

    Returns:
        The figure. The phase marks are lines with gid ``phase2`` and the label
        ``phase-2 start: <series>``; their x is the mean first phase-2 update.
    """
    cols = len(panels)
    fig, axes = new_figure("one" if cols == 1 else "two", 3.6, 2, cols, sharex="col")
    looks = _looks(panels)
    for col, (name, series) in enumerate(panels.items()):
        loss_ax, gap_ax = axes[0, col], axes[1, col]
        notes = []
        for label, runs in series.items():
            look = dict(looks[label])
            colour = look.pop("color")
            loss = metric_series(runs, "loss")
            band(loss_ax, loss["step"], loss["loss"], loss["loss_std"], colour, label=label, markersize=3, **look)
            gap = metric_series(runs, "gap")
            band(gap_ax, gap["step"], gap["gap"], gap["gap_std"], colour, label=label, markersize=3, **look)
            starts = [phase2_start(run) for run in runs]
            reached = [s for s in starts if s is not None]
            if reached:
                x = float(np.mean(reached))
                for ax in (loss_ax, gap_ax):
                    mark = ax.axvline(x, color=colour, linestyle=":", linewidth=1.0, label=f"phase-2 start: {label}")
                    mark.set_gid("phase2")
            if len(reached) < len(starts):
                notes.append(f"{label}: no phase 2 in {len(starts) - len(reached)}/{len(starts)} runs")
        loss_ax.set_title(name if not notes else name + "\n" + "; ".join(notes), fontsize=7 if notes else None)
        loss_ax.set_ylabel(LABELS["loss"] if col == 0 else "")
        gap_ax.set_ylabel(LABELS["gap"] if col == 0 else "")
        gap_ax.set_xlabel(UPDATE_LABEL)
    phase = Line2D([], [], color="0.4", linestyle=":", label="phase-2 start (mean over seeds)")
    _shared_legend(fig, looks, [phase])
    if title:
        fig.suptitle(title)
    return fig
