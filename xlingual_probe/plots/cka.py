"""CKA of each layer to the pre-trained model over updates (paper Fig. 6), as lines and as a heat map.

Context:
    Guo et al. compare every layer's hidden states on the current training batch with the pre-trained
    model's (linear CKA, Kornblith et al. 2019): the bottom layers stay close, the top layers drift and keep
    drifting in phase 2 for XNLI and MLQA, not for NER — the reason policy IV is off for NER. The lines show
    each layer's trajectory (mean ± std over seeds); the layer × update heat map shows the whole picture at
    once, with the same colour scale for every dataset.

Input: ``{panel title: [run directory, ...]}`` (runs with ``cka.jsonl``; a panel's runs are its seeds).
Layers are coloured along ``cividis`` from bottom (dark) to top (light).
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from xlingual_probe.plots._series import cka_series
from xlingual_probe.plots.gap import UPDATE_LABEL, panel_grid
from xlingual_probe.plots.style import band, new_figure, styled

__all__ = ["cka_heatmap_figure", "cka_lines_figure"]

CMAP = "cividis"


def _ylabel(pooling: str) -> str:
    return f"linear CKA to pre-trained ({pooling})"


@styled
def cka_lines_figure(panels: dict[str, list[str]], pooling: str | None = None, title: str | None = None) -> Figure:
    """One panel per dataset: each layer's CKA over updates, mean ± std over the runs; a colour bar for layers.

    Returns:
        The figure; each layer's line is labelled ``layer <i>``.
    """
    data = {name: cka_series(runs, pooling) for name, runs in panels.items()}
    rows, cols = panel_grid(len(panels))
    fig, axes = new_figure("one" if len(panels) == 1 else "two", 0.6 + 1.9 * rows, rows, cols, sharey=True)
    num_layers = max(int(d["layer"].max()) + 1 for d in data.values())
    norm = Normalize(vmin=0, vmax=max(num_layers - 1, 1))
    cmap = colormaps[CMAP]
    for ax, (name, table) in zip(axes.flat, data.items()):
        for layer, series in table.groupby("layer"):
            band(ax, series["step"], series["cka"], series["cka_std"], cmap(norm(layer)), label=f"layer {layer}",
                 marker="o", markersize=2)
        n = int(table["runs"].max())
        ax.set_title(f"{name} (n={n} seed{'s' if n > 1 else ''})")
        ax.set_xlabel(UPDATE_LABEL)
        ax.set_ylim(0.0, 1.02)
    for ax in axes[:, 0]:
        ax.set_ylabel(_ylabel(next(iter(data.values()))["pooling"].iloc[0]))
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes.flat[:len(panels)]),
                       label="layer (0 = bottom)")
    if num_layers <= 16:
        bar.set_ticks(list(range(num_layers)))
    if title:
        fig.suptitle(title)
    return fig


@styled
def cka_heatmap_figure(panels: dict[str, list[str]], pooling: str | None = None, title: str | None = None) -> Figure:
    """One panel per dataset: layer (rows, bottom layer at the bottom) × probe update (columns), colour = the
    mean CKA over the runs, one colour scale (0–1) for all panels; undefined cells are left blank.

    Returns:
        The figure; each panel's image (``ax.images[0].get_array()``) is the layers × steps matrix.
    """
    data = {name: cka_series(runs, pooling) for name, runs in panels.items()}
    rows, cols = panel_grid(len(panels))
    fig, axes = new_figure("one" if len(panels) == 1 else "two", 0.6 + 1.9 * rows, rows, cols)
    norm = Normalize(vmin=0.0, vmax=1.0)
    for ax, (name, table) in zip(axes.flat, data.items()):
        matrix = table.pivot(index="layer", columns="step", values="cka").sort_index()
        steps, layers = list(matrix.columns), list(matrix.index)
        ax.imshow(np.ma.masked_invalid(matrix.to_numpy(dtype=float)), origin="lower", aspect="auto", cmap=CMAP,
                  norm=norm, interpolation="nearest")
        ticks = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 6)).round().astype(int))
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(int(steps[i])) for i in ticks])
        ax.set_yticks(range(len(layers)) if len(layers) <= 16 else np.linspace(0, len(layers) - 1, 8).round())
        if len(layers) <= 16:
            ax.set_yticklabels([str(int(layer)) for layer in layers])
        ax.set_xlabel(UPDATE_LABEL)
        ax.set_ylabel("layer (0 = bottom)")
        ax.set_title(name)
        ax.grid(False)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    pooling_name = next(iter(data.values()))["pooling"].iloc[0]
    fig.colorbar(ScalarMappable(norm=norm, cmap=CMAP), ax=list(axes.flat[:len(panels)]), label=_ylabel(pooling_name))
    if title:
        fig.suptitle(title)
    return fig
