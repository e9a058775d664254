"""The layer sweep's quick figure: overall performance vs the layer changed (paper Figure 3).

One panel per per-layer experiment that ran (re-initialise, freeze): the mean over seeds of the
final overall score of each run, with the standard deviation over seeds as error bars, and the
untouched baseline (DF) as a dotted line. The embeddings, when swept, sit left of layer 0.

Matplotlib is used through its object API with the Agg canvas (no pyplot, no display, no global
backend switch), so it works on headless machines and inside other programs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

PANELS = {"reinit": "re-initialise layer ℓ", "freeze": "freeze layer ℓ"}


def _position(unit: str) -> int:
    return -1 if unit == "embeddings" else int(unit)


def plot_layer_sweep(results: pd.DataFrame, which: str = "final", metric: str = "overall"):
    """Figure of ``{which}_{metric}`` vs layer for the reinit and freeze experiments of ``results``.

    Args:
        results: a sweep's results table (``results.csv``: experiment, unit, seed, best_/final_ ...).
        which: ``final`` or ``best`` evaluation.
        metric: ``overall``, ``source``, ``target_mean`` or ``gap``.

    Returns:
        A matplotlib ``Figure``, or ``None`` when ``results`` has no per-layer experiment.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    column = f"{which}_{metric}"
    panels = [kind for kind in PANELS if (results["experiment"] == kind).any()]
    if not panels:
        return None
    baseline = pd.to_numeric(results.loc[results["experiment"] == "baseline", column], errors="coerce").dropna()
    fig = Figure(figsize=(4.2 * len(panels), 3.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, kind in zip(axes, panels):
        rows = results[results["experiment"] == kind].copy()
        rows["position"] = rows["unit"].astype(str).map(_position)
        rows[column] = pd.to_numeric(rows[column], errors="coerce")
        stats = rows.groupby("position")[column].agg(["mean", "std"]).sort_index()
        ax.errorbar(stats.index, stats["mean"], yerr=stats["std"].fillna(0), marker="o", capsize=3,
                    label=kind)
        if not baseline.empty:
            ax.axhline(baseline.mean(), linestyle=":", color="black", label="DF baseline")
        ax.set_xticks(list(stats.index))
        ax.set_xticklabels(["emb" if p == -1 else str(p) for p in stats.index])
        ax.set_xlabel("layer")
        ax.set_title(PANELS[kind])
        ax.legend(fontsize="small")
    axes[0].set_ylabel(f"{which} {metric.replace('_', ' ')}")
    return fig


def save_layer_sweep_plot(sweep_dir: str | Path, results: pd.DataFrame | None = None,
                          name: str = "layers.png") -> Path | None:
    """Draw :func:`plot_layer_sweep` for a sweep directory and save it there; ``None`` if nothing to draw.

    Args:
        sweep_dir: the sweep directory (its ``results.csv`` is read when ``results`` is not given).
        results: the results table, if already loaded.
        name: the image file name.
    """
    sweep_dir = Path(sweep_dir)
    if results is None:
        results = pd.read_csv(sweep_dir / "results.csv", dtype={"unit": str})
    fig = plot_layer_sweep(results)
    if fig is None:
        return None
    path = sweep_dir / name
    fig.savefig(path, dpi=120)
    return path
