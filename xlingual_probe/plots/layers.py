"""The layer sweep as figures: per-layer re-initialise / freeze curves (paper Fig. 3) and the group experiments
as bars of the paired difference to DF with confidence intervals (paper Table 1 as a figure).

Context:
    Fig. 3 of Guo et al. re-initialises or freezes one layer at a time and plots the final overall score per
    layer next to plain fine-tuning (DF, dotted). Which layers matter is a statistical claim, so the layers
    the selection found significant (S_I from re-initialisation, S_II from freezing) are marked, and Table 1's
    group experiments are drawn as the per-seed paired difference to DF with its t interval: a bar whose
    interval crosses zero is not a finding.

Input:
    :class:`LayerPanel` per (dataset, kind): the per-seed scores of each layer's run and of DF, and the
    layers to mark. :class:`GroupBars` per dataset: the paired differences of each group experiment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from xlingual_probe.plots._paired import PairedDifference
from xlingual_probe.plots.gap import panel_grid
from xlingual_probe.plots.style import OKABE_ITO, band, legend_below, new_figure, styled

__all__ = ["GroupBars", "LayerPanel", "group_bars_figure", "layer_figure", "position"]

KINDS = {"reinit": "re-initialise layer ℓ", "freeze": "freeze layer ℓ"}
KIND_COLOURS = {"reinit": OKABE_ITO[5], "freeze": OKABE_ITO[1]}
MARK_COLOUR = OKABE_ITO[4]


def position(unit: str) -> int:
    """x position of a sweep unit: ``embeddings`` left of layer 0.

    >>> position("embeddings"), position("3")
    (-1, 3)
    """
    return -1 if unit == "embeddings" else int(unit)


@dataclass
class LayerPanel:
    """One panel of Fig. 3.

    Attributes:
        dataset: the panel's dataset (row title).
        kind: ``reinit`` or ``freeze``.
        values: per unit (``"0"``, ``"1"``, ..., ``"embeddings"``) the scores indexed by seed.
        baseline: DF's scores indexed by seed.
        marked: the units to mark as significant.
        ylabel: the y axis label (score and its unit).
    """

    dataset: str
    kind: str
    values: dict[str, pd.Series]
    baseline: pd.Series
    marked: set[str] = field(default_factory=set)
    ylabel: str = "overall score (points)"


@styled
def layer_figure(panels: list[LayerPanel], mark_label: str = "significant", title: str | None = None) -> Figure:
    """Paper Fig. 3: score vs layer per kind (columns) and dataset (rows); mean ± std error bars over seeds,
    DF as a dotted line with its ± std band, marked layers as stars.

    Returns:
        The figure. In each axes the per-layer line is labelled with the kind's description (``get_xydata``
        gives (position, mean)), the DF line has gid ``baseline`` and the stars gid ``marked``.
    """
    datasets = list(dict.fromkeys(p.dataset for p in panels))
    kinds = [k for k in KINDS if any(p.kind == k for p in panels)]
    fig, axes = new_figure("one" if len(kinds) == 1 else "two", 0.9 + 1.9 * len(datasets), len(datasets),
                           len(kinds), sharey="row")
    for panel in panels:
        ax = axes[datasets.index(panel.dataset), kinds.index(panel.kind)]
        units = sorted(panel.values, key=position)
        x = np.array([position(u) for u in units], dtype=float)
        means = np.array([pd.to_numeric(panel.values[u], errors="coerce").mean() for u in units])
        stds = np.array([pd.to_numeric(panel.values[u], errors="coerce").std(ddof=1) for u in units])
        colour = KIND_COLOURS[panel.kind]
        ax.errorbar(x, means, yerr=np.nan_to_num(stds), color=colour, fmt="none", capsize=2)
        ax.plot(x, means, color=colour, marker="o", label=KINDS[panel.kind])
        base = pd.to_numeric(panel.baseline, errors="coerce").dropna()
        seeds = max([len(base)] + [len(pd.to_numeric(v, errors="coerce").dropna()) for v in panel.values.values()])
        if len(base):
            low, high = x.min() - 0.5, x.max() + 0.5
            std = base.std(ddof=1) if len(base) > 1 else np.nan
            band(ax, [low, high], [base.mean()] * 2, [std] * 2, "0.3", label="DF", linestyle=":")
            ax.get_lines()[-1].set_gid("baseline")
            ax.set_xlim(low, high)
        marked = [i for i, u in enumerate(units) if u in panel.marked]
        if marked:
            ax.plot(x[marked], means[marked], linestyle="none", marker="*", markersize=9, color=MARK_COLOUR,
                    label=mark_label, gid="marked", zorder=3)
        ax.set_xticks(x)
        ax.set_xticklabels(["emb" if p == -1 else str(int(p)) for p in x])
        ax.set_xlabel("layer ℓ (0 = bottom)")
        what = f"{KINDS[panel.kind]} (n = {seeds} seed{'s' if seeds != 1 else ''})"
        ax.set_title(f"{panel.dataset}: {what}" if panel.dataset else what)
        if kinds.index(panel.kind) == 0:
            ax.set_ylabel(panel.ylabel)
    handles = [Line2D([], [], color=KIND_COLOURS[k], marker="o", label=KINDS[k]) for k in kinds]
    with_std = any(len(pd.to_numeric(p.baseline, errors="coerce").dropna()) > 1 for p in panels)
    handles.append(Line2D([], [], color="0.3", linestyle=":", label="DF (± std)" if with_std else "DF"))
    if any(p.marked for p in panels):
        handles.append(Line2D([], [], color=MARK_COLOUR, marker="*", linestyle="none", markersize=9, label=mark_label))
    legend_below(fig, handles, [h.get_label() for h in handles])
    if title:
        fig.suptitle(title)
    return fig


@dataclass
class GroupBars:
    """One panel of the Table-1 figure: per experiment (display name) its paired difference to DF."""

    dataset: str
    differences: dict[str, PairedDifference]
    xlabel: str = "Δ overall vs DF (points)"


@styled
def group_bars_figure(panels: list[GroupBars], confidence: float = 0.95, title: str | None = None) -> Figure:
    """Table 1 as a figure: per experiment a horizontal bar of the mean paired difference to DF, with its
    t confidence interval over seeds (no whisker where it is undefined: one seed or no variance). A bar is
    coloured by what its interval says: above zero, below zero, or not distinguishable from DF.

    Returns:
        The figure; each axes' bars (``ax.patches``) follow its y tick labels, top to bottom.
    """
    rows, cols = panel_grid(len(panels))
    names = [list(p.differences) for p in panels]
    shared = all(n == names[0] for n in names)
    n_bars = max(len(n) for n in names)
    fig, axes = new_figure("one" if len(panels) == 1 else "two", 0.9 + rows * (0.4 + 0.22 * n_bars), rows, cols,
                           sharey=shared)
    for ax, panel in zip(axes.flat, panels):
        labels = list(panel.differences)
        y = np.arange(len(labels))[::-1]
        diffs = [panel.differences[n] for n in labels]
        ax.barh(y, [d.mean for d in diffs], color=[BAR_COLOURS[_verdict(d)] for d in diffs], height=0.6)
        for yi, d in zip(y, diffs):
            if np.isfinite(d.low):
                ax.errorbar([d.mean], [yi], xerr=[[d.mean - d.low], [d.high - d.mean]], color="black", capsize=2,
                            linewidth=0.8)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels([f"{n} (n={d.n})" if not shared else n for n, d in zip(labels, diffs)])
        ax.set_xlabel(panel.xlabel)
        seeds = sorted({d.n for d in diffs})
        pairs = f" (n = {seeds[0]} seed pair{'s' if seeds[0] != 1 else ''})" if shared and len(seeds) == 1 else ""
        ax.set_title(panel.dataset + pairs)
        ax.grid(axis="y", visible=False)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    handles = [Patch(color=BAR_COLOURS[k], label=text) for k, text in VERDICTS.items()]
    handles.append(Line2D([], [], color="black", marker="|", label=f"{confidence:.0%} paired t CI over seeds"))
    legend_below(fig, handles, [h.get_label() for h in handles])
    if title:
        fig.suptitle(title)
    return fig


VERDICTS = {"higher": "CI above 0", "lower": "CI below 0", "unclear": "CI includes 0 (or n < 2)"}
BAR_COLOURS = {"higher": OKABE_ITO[5], "lower": OKABE_ITO[4], "unclear": "0.7"}


def _verdict(d: PairedDifference) -> str:
    if np.isfinite(d.low) and d.low > 0:
        return "higher"
    if np.isfinite(d.high) and d.high < 0:
        return "lower"
    return "unclear"
