"""The layer sweep's quick figure: overall performance vs the layer changed (paper Figure 3).

One panel per per-layer experiment that ran (re-initialise, freeze): the mean over seeds of the final
overall score of each layer's runs with ± std error bars, and the untouched baseline (DF) dotted, drawn by
:func:`~xlingual_probe.plots.layers.layer_figure` (the same figure as ``xprobe figures``' ``fig3-layers``,
without the significance marks: the sweep writes it before any selection). The embeddings, when swept,
sit left of layer 0.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from xlingual_probe.plots.layers import KINDS, LayerPanel, layer_figure
from xlingual_probe.plots.style import save_figure

LABELS = {"overall": "overall score (points)", "source": "source score (points)", "target_mean": "target mean (points)",
          "gap": "gap (points)"}


def _by_seed(rows: pd.DataFrame, column: str) -> pd.Series:
    return pd.Series(pd.to_numeric(rows[column], errors="coerce").to_numpy(), index=rows["seed"].to_numpy())


def plot_layer_sweep(results: pd.DataFrame, which: str = "final", metric: str = "overall"):
    """Figure of ``{which}_{metric}`` vs layer for the reinit and freeze experiments of ``results``.

    Args:
        results: a sweep's results table (``results.csv``: experiment, unit, seed, best_/final_ ...).
        which: ``final`` or ``best`` evaluation.
        metric: ``overall``, ``source``, ``target_mean`` or ``gap``.

    Returns:
        A matplotlib ``Figure``, or ``None`` when ``results`` has no per-layer experiment.
    """
    column = f"{which}_{metric}"
    baseline = _by_seed(results[results["experiment"] == "baseline"], column)
    panels = []
    for kind in KINDS:
        rows = results[results["experiment"] == kind]
        if len(rows):
            values = {str(unit): _by_seed(group, column) for unit, group in rows.groupby(rows["unit"].astype(str))}
            panels.append(LayerPanel("", kind, values, baseline, ylabel=f"{which} {LABELS[metric]}"))
    return layer_figure(panels) if panels else None


def save_layer_sweep_plot(sweep_dir: str | Path, results: pd.DataFrame | None = None,
                          name: str = "layers.png") -> Path | None:
    """Draw :func:`plot_layer_sweep` for a sweep directory and save it there; ``None`` if nothing to draw.

    Args:
        sweep_dir: the sweep directory (its ``results.csv`` is read when ``results`` is not given).
        results: the results table, if already loaded.
        name: the image file name (its suffix is the format).
    """
    sweep_dir = Path(sweep_dir)
    if results is None:
        results = pd.read_csv(sweep_dir / "results.csv", dtype={"unit": str})
    fig = plot_layer_sweep(results)
    if fig is None:
        return None
    path = sweep_dir / name
    (written,) = save_figure(fig, path.with_suffix(""), formats=(path.suffix.lstrip("."),))
    return written
