"""Figures of the alignment probe, read from run directories only.

* :func:`plot_alignment_curves` — each layer's alignment (translation retrieval by default) over the
  updates, one panel per language group, layers coloured bottom (dark) to top (light) as in the CKA
  figure. A group's curve is the mean over its languages, then over the runs (seeds) with a ±1 std
  band across the runs. Pass the seeds of one configuration.
* :func:`plot_alignment_vs_reinit` — per layer, the alignment lost by the end of the DF runs against
  the drop of overall performance when the layer is re-initialised (a layer sweep), with Spearman's ρ
  over the layers: does the alignment probe point at the layers the sweep finds?

Language groups: one panel per target language when there are at most :data:`MAX_SINGLE_PANELS`;
otherwise :data:`LANGUAGE_GROUPS` (by script, which drives subword overlap with English), the rest in
"other"; or pass your own ``groups``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from xlingual_probe.forgetting import alignment_frame, alignment_lost, alignment_vs_reinit
from xlingual_probe.plots.curves import _save
from xlingual_probe.plots.style import band

__all__ = ["LANGUAGE_GROUPS", "MAX_SINGLE_PANELS", "alignment_curves", "language_groups", "plot_alignment_curves",
           "plot_alignment_vs_reinit"]

MAX_SINGLE_PANELS = 6
LANGUAGE_GROUPS: dict[str, tuple[str, ...]] = {
    "Latin script": ("af", "de", "es", "et", "eu", "fi", "fr", "id", "it", "jv", "ms", "nl", "pt", "ro", "sw", "tl",
                     "tr", "vi", "yo"),
    "Cyrillic, Greek": ("bg", "el", "kk", "ru"),
    "Arabic script, Hebrew": ("ar", "fa", "he", "ur"),
    "Indic, Thai, other scripts": ("bn", "hi", "ka", "ml", "mr", "my", "ta", "te", "th"),
    "Chinese, Japanese, Korean": ("ja", "ko", "zh"),
}


def language_groups(targets: Sequence[str], groups: Mapping[str, Sequence[str]] | None = None
                    ) -> dict[str, list[str]]:
    """``{panel: [languages]}`` for the target languages (see the module docstring); empty groups dropped.

    >>> language_groups(["de", "sw"])
    {'de': ['de'], 'sw': ['sw']}
    >>> language_groups(["de", "fr", "ru", "zh", "ar", "hi", "xx"])["Latin script"]
    ['de', 'fr']
    """
    if groups is None and len(targets) <= MAX_SINGLE_PANELS:
        return {lang: [lang] for lang in targets}
    groups = groups if groups is not None else LANGUAGE_GROUPS
    out = {name: [lang for lang in targets if lang in members] for name, members in groups.items()}
    grouped = {lang for members in out.values() for lang in members}
    out["other"] = [lang for lang in targets if lang not in grouped]
    return {name: members for name, members in out.items() if members}


def alignment_curves(run_dirs: str | Path | Iterable[str | Path], measure: str = "retrieval",
                     groups: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Per language group, probe step and layer: the measure's mean over the group and the runs.

    Returns:
        Columns ``group``, ``step``, ``layer``, ``value``, ``value_std`` (across runs), ``runs``.
    """
    lost = alignment_lost(alignment_frame(run_dirs), measure)
    targets = list(dict.fromkeys(lost["lang"]))
    frames = []
    for name, members in language_groups(targets, groups).items():
        per_run = lost[lost["lang"].isin(members)].groupby(["run", "step", "layer"])["value"].mean().reset_index()
        grouped = per_run.groupby(["step", "layer"])["value"]
        frames.append(grouped.mean().to_frame().join(grouped.std(ddof=1).rename("value_std"))
                      .join(grouped.size().rename("runs")).reset_index().assign(group=name))
    return pd.concat(frames)[["group", "step", "layer", "value", "value_std", "runs"]]


def plot_alignment_curves(run_dirs: str | Path | Iterable[str | Path], out: str | Path, measure: str = "retrieval",
                          groups: Mapping[str, Sequence[str]] | None = None, title: str | None = None) -> Path:
    """Alignment per layer over updates, one panel per language group (see the module docstring).

    Returns:
        ``out`` as a Path.
    """
    table = alignment_curves(run_dirs, measure, groups)
    panels = list(table.groupby("group", sort=False))
    num_layers = int(table["layer"].max()) + 1
    cmap, norm = colormaps["viridis"], Normalize(vmin=0, vmax=max(num_layers - 1, 1))
    columns = min(len(panels), 3)
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(4.6 * columns + 1.2, 3.6 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)).ravel()
    for ax, (name, rows_) in zip(axes, panels):
        for layer, series in rows_.groupby("layer"):
            band(ax, series["step"], series["value"], series["value_std"], cmap(norm(layer)), marker="o", markersize=2)
        n = int(rows_["runs"].max())
        ax.set_title(f"{name} (n={n} runs)" if n > 1 else name, fontsize="medium")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-columns:]:
        ax.set_xlabel("update")
    label = "translation retrieval (%)" if measure.startswith("retrieval") else measure
    for ax in axes[::columns]:
        ax.set_ylabel(label)
    colorbar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), label="layer (0 = bottom)")
    if num_layers <= 16:
        colorbar.set_ticks(list(range(num_layers)))
    fig.suptitle(title or "Cross-lingual alignment per layer over fine-tuning")
    return _save(fig, out)


def plot_alignment_vs_reinit(run_dirs: str | Path | Iterable[str | Path], sweep: str | Path, out: str | Path,
                             measure: str = "retrieval", metric: str = "final", title: str | None = None) -> Path:
    """Per layer: alignment lost by the end (x, ±1 std over seeds) against the re-initialisation drop (y).

    ``sweep``: a sweep directory or its ``results.csv`` (:func:`~xlingual_probe.forgetting.reinit_drops`).

    Returns:
        ``out`` as a Path.
    """
    table, rho, p = alignment_vs_reinit(run_dirs, sweep, measure, metric)
    fig = Figure(figsize=(6.0, 4.8), layout="constrained")
    ax = fig.subplots()
    cmap, norm = colormaps["viridis"], Normalize(vmin=0, vmax=max(int(table["layer"].max()), 1))
    ax.errorbar(table["lost"], table["drop"], xerr=table["lost_std"].fillna(0), fmt="none", ecolor="0.6", zorder=1)
    ax.scatter(table["lost"], table["drop"], c=[cmap(norm(v)) for v in table["layer"]], zorder=2)
    for layer, x, y in zip(table["layer"], table["lost"], table["drop"]):
        ax.annotate(str(layer), (x, y), textcoords="offset points", xytext=(4, 3), fontsize="small")
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.axvline(0, color="0.5", linewidth=0.8)
    unit = "points" if measure.startswith("retrieval") else measure
    ax.set_xlabel(f"alignment lost by the end ({measure}, {unit}; mean over targets)")
    ax.set_ylabel(f"overall drop when re-initialised ({metric}, points)")
    ax.grid(alpha=0.3)
    rank = "ρ undefined" if np.isnan(rho) else f"Spearman ρ = {rho:.2f} (p = {p:.2g}, {len(table)} layers)"
    fig.suptitle(title or f"Alignment lost vs re-initialisation drop: {rank}", fontsize="medium")
    return _save(fig, out)
