"""Per-language figures: each language's score over updates (paper Fig. 7), and each language's gain of a
method over DF with paired confidence intervals (a forest plot; new).

Context:
    The gap is a mean; Fig. 7 of Guo et al. shows what moves under it (the source keeps rising while the
    targets rise, then fall). Languages are ordered by their final score, so the legend reads like the
    curves' end points. Table 7 reports each language's mean ± std per method, which hides that the
    methods share seeds: the forest plot draws, per language, the mean per-seed difference to DF with its t
    interval (:func:`~xlingual_probe.plots._paired.paired_difference`), so a reader sees which languages a
    method helps beyond seed noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from xlingual_probe.plots._paired import PairedDifference
from xlingual_probe.plots._series import language_series
from xlingual_probe.plots.gap import UPDATE_LABEL
from xlingual_probe.plots.style import (
    LINESTYLES,
    MARKERS,
    band,
    legend_below,
    legend_right,
    new_figure,
    ordered_colors,
    series_colors,
    styled,
)

__all__ = ["ForestPanel", "language_curves_figure", "language_gain_figure", "languages_by_final_score"]


def languages_by_final_score(table) -> list[str]:
    """Languages of a :func:`~xlingual_probe.plots._series.language_series` table, best final score first."""
    last = table.sort_values("step").groupby("lang").tail(1)
    return list(last.sort_values(["value", "lang"], ascending=[False, True])["lang"])


@styled
def language_curves_figure(panels: dict[str, list[str]], source_lang: str = "en", title: str | None = None) -> Figure:
    """Paper Fig. 7: one panel per dataset (stacked), each language's score over updates (mean ± std over the
    runs), legend to the right in order of the final score (label: language and final mean).

    Returns:
        The figure; each language's line is labelled ``<lang> (<final>)``, source marked ``(source)``.
    """
    data = {name: language_series(runs) for name, runs in panels.items()}
    fig, axes = new_figure("two", 0.4 + 2.2 * len(panels), len(panels), 1)
    for ax, (name, table) in zip(axes[:, 0], data.items()):
        order = languages_by_final_score(table)
        colours = series_colors(len(order)) if len(order) <= 8 else ordered_colors(len(order))
        for rank, lang in enumerate(order):
            series = table[table["lang"] == lang].sort_values("step")
            final = series["value"].iloc[-1]
            label = f"{lang}{' (source)' if lang == source_lang else ''} {final:.1f}"
            band(ax, series["step"], series["value"], series["value_std"], colours[rank], label=label,
                 linestyle=LINESTYLES[rank % len(LINESTYLES)], linewidth=2.0 if lang == source_lang else 1.2)
        n = int(table["runs"].max())
        ax.set_title(f"{name} (mean over {n} seed{'s' if n > 1 else ''}; legend: final score)")
        ax.set_xlabel(UPDATE_LABEL)
        ax.set_ylabel("score (points)")
        legend_right(ax, ncols=1 if len(order) <= 10 else 2)
    if title:
        fig.suptitle(title)
    return fig


@dataclass
class ForestPanel:
    """One dataset of the forest plot.

    Attributes:
        dataset: the panel title.
        gains: ``{method label: {row: PairedDifference vs DF}}``; rows are languages (and summary rows).
        rows: the row order, top to bottom.
        summary_rows: rows drawn as summaries (diamonds, below a rule), e.g. ``target mean``.
    """

    dataset: str
    gains: dict[str, dict[str, PairedDifference]]
    rows: list[str]
    summary_rows: list[str] = field(default_factory=list)


@styled
def language_gain_figure(panels: list[ForestPanel], confidence: float = 0.95, title: str | None = None) -> Figure:
    """A forest plot per dataset: for each language (row) and method (colour), the mean per-seed gain over DF
    with its t confidence interval; zero marked; summary rows (diamonds) below a rule.

    Returns:
        The figure; each method's points are one line (``linestyle="none"``) labelled with the method, whose
        ``get_xydata()`` gives (gain, row position); rows are the y tick labels, top to bottom.
    """
    methods = list(dict.fromkeys(m for p in panels for m in p.gains))
    colours = dict(zip(methods, series_colors(len(methods) + 1)[1:]))  # black is DF's, the zero line
    n_rows = max(len(p.rows) for p in panels)
    fig, axes = new_figure("one" if len(panels) == 1 else "two", max(1.8, 0.9 + 0.22 * n_rows), 1, len(panels))
    spread = 0.6 / max(len(methods), 1)
    for ax, panel in zip(axes[0], panels):
        y = np.arange(len(panel.rows))[::-1].astype(float)
        position = dict(zip(panel.rows, y))
        for i, method in enumerate(methods):
            offset = (i - (len(methods) - 1) / 2) * spread
            gains = panel.gains.get(method, {})
            rows = [r for r in panel.rows if r in gains]
            xs = np.array([gains[r].mean for r in rows])
            ys = np.array([position[r] - offset for r in rows])
            markers = [("D" if r in panel.summary_rows else MARKERS[i % len(MARKERS)]) for r in rows]
            ax.plot(xs, ys, linestyle="none", marker=MARKERS[i % len(MARKERS)], color=colours[method], label=method)
            for r, x, yy, marker in zip(rows, xs, ys, markers):
                d = gains[r]
                if np.isfinite(d.low):
                    ax.plot([d.low, d.high], [yy, yy], color=colours[method], linewidth=1.0)
                if marker == "D":
                    ax.plot([x], [yy], marker="D", markersize=5, color=colours[method], linestyle="none")
        if panel.summary_rows:
            ax.axhline(max(position[r] for r in panel.summary_rows) + 0.5, color="0.5", linewidth=0.6)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels(panel.rows)
        ax.set_ylim(-0.7, len(panel.rows) - 0.3)
        ax.set_xlabel(f"gain over DF (points, {confidence:.0%} CI)")
        ax.set_title(panel.dataset)
        ax.grid(axis="y", visible=False)
    handles = [Line2D([], [], color=colours[m], marker=MARKERS[i % len(MARKERS)], label=m) for i, m in enumerate(methods)]
    handles.append(Line2D([], [], color="0.3", label=f"paired t CI over seeds ({confidence:.0%})"))
    legend_below(fig, handles, [h.get_label() for h in handles])
    if title:
        fig.suptitle(title)
    return fig
