"""Quick figures of training curves, read from run directories only.

Context:
    Two of the paper's figures are curves over training updates. Figure 2 plots the performance
    gap between English and the other languages next to the training loss: the gap opens fast
    while the loss falls fast (phase 1) and keeps growing slowly afterwards (phase 2). Figure 6
    plots, per layer, the CKA between the working model and the pre-trained model: bottom layers
    stay close, top layers drift. These functions draw both from ``metrics.jsonl`` and
    ``cka.jsonl`` (via :func:`~xlingual_probe.runs.load_runs`), so they work on any run directory,
    including those written by :class:`~xlingual_probe.probes.hf_callback.GapCallback`.

Grouping:
    Runs whose configurations differ only in the seed (and output folder) are one group, drawn
    as the mean over its runs with a ±1 std band (sample std) when it has several. A group is
    labelled by its method, or by its folder when methods repeat.

Figures are drawn with matplotlib's object API on an Agg canvas (no ``pyplot``, no global state,
no display needed).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from xlingual_probe.runs import Runs, load_runs
from xlingual_probe.utils.errors import UserError

__all__ = ["cka_curves", "gap_curves", "plot_cka_curves", "plot_gap_curves", "run_groups"]

_NOT_IDENTITY = {"run", "seed", "out"}
_GAP_COLUMNS = ["source", "target_mean", "overall", "gap", "loss"]


def _paths(run_dirs: str | Path | Iterable[str | Path]) -> list[str | Path]:
    return [run_dirs] if isinstance(run_dirs, (str, Path)) else list(run_dirs)


def run_groups(runs: Runs) -> dict[str, list[str]]:
    """``{label: [run, ...]}``: runs that differ only in seed and output folder form one group.

    Labels are the method when each group has its own, else the groups' common folder names.
    """
    configs = runs.configs
    identity = [c for c in configs.columns if c not in _NOT_IDENTITY]
    keys = configs[identity].apply(lambda row: json.dumps(row.to_dict(), sort_keys=True, default=str), axis=1)
    groups: dict[str, list[str]] = {}
    for key, run in zip(keys, configs["run"]):
        groups.setdefault(key, []).append(run)
    methods = [configs.loc[configs["run"] == members[0], "method"].iloc[0] if "method" in configs else None
               for members in groups.values()]
    if all(methods) and len(set(methods)) == len(methods):
        labels = [str(m) for m in methods]
    else:
        labels = [Path(os.path.commonpath(members)).name or str(i) for i, members in enumerate(groups.values())]
        if len(set(labels)) < len(labels):
            labels = [f"{label} ({i})" for i, label in enumerate(labels)]
    return dict(zip(labels, groups.values()))


def _mean_std(frame: pd.DataFrame, by: list[str], columns: list[str]) -> pd.DataFrame:
    grouped = frame.groupby(by, sort=True)[columns]
    table = grouped.mean().join(grouped.std(ddof=1), rsuffix="_std").join(grouped.size().rename("runs"))
    return table.reset_index()


def gap_curves(run_dirs: str | Path | Iterable[str | Path], allow_incomplete: bool = False) -> pd.DataFrame:
    """Mean and std over each group's runs of source, target mean, overall, gap and loss per evaluation.

    Incomplete runs are skipped with a warning unless ``allow_incomplete`` (see :func:`load_runs`).

    Returns:
        One row per (``group``, ``step``): the columns above, each with a ``*_std`` twin, and
        ``runs`` (how many runs evaluated that step).
    """
    runs = load_runs(_paths(run_dirs), allow_incomplete=allow_incomplete)
    if runs.metrics.empty:
        raise UserError("no evaluations (metrics.jsonl) in the given run directories")
    per_eval = runs.metrics.drop_duplicates(["run", "step"])[["run", "step", *_GAP_COLUMNS]]
    per_eval = per_eval.astype({c: float for c in _GAP_COLUMNS})
    frames = [per_eval[per_eval["run"].isin(members)].assign(group=label)
              for label, members in run_groups(runs).items()]
    return _mean_std(pd.concat(frames), ["group", "step"], _GAP_COLUMNS)


def cka_curves(run_dirs: str | Path | Iterable[str | Path], pooling: str | None = None,
               allow_incomplete: bool = False) -> pd.DataFrame:
    """Mean and std over each group's runs of the CKA of every layer at every probe step.

    Args:
        run_dirs: run directories (or folders of them) with ``cka.jsonl``.
        pooling: keep records of this pooling only; ``None`` = the pooling of the first record.
        allow_incomplete: also read runs without ``summary.json`` (else skipped with a warning).

    Returns:
        One row per (``group``, ``step``, ``layer``): ``cka``, ``cka_std``, ``runs``, ``pooling``.
    """
    runs = load_runs(_paths(run_dirs), allow_incomplete=allow_incomplete)
    cka = runs.cka
    if cka.empty:
        raise UserError("no CKA records (cka.jsonl) in the given run directories; run `xprobe probe cka`")
    if "pooling" in cka:
        pooling = pooling or cka["pooling"].iloc[0]
        cka = cka[cka["pooling"] == pooling]
    cka = cka.assign(cka=cka["cka"].astype(float))  # None (undefined) -> NaN
    frames = [cka[cka["run"].isin(members)].assign(group=label) for label, members in run_groups(runs).items()]
    table = _mean_std(pd.concat(frames), ["group", "step", "layer"], ["cka"])
    return table.assign(pooling=pooling)


def _band(ax, x: pd.Series, mean: pd.Series, std: pd.Series, color, **line) -> None:
    ax.plot(x, mean, color=color, **line)
    if std.notna().any():
        ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)


def plot_gap_curves(run_dirs: str | Path | Iterable[str | Path], out: str | Path, title: str | None = None,
                    allow_incomplete: bool = False) -> Path:
    """Figure 2-style plot: source and target-mean scores (top), gap and training loss (bottom).

    Args:
        run_dirs: run directories (or folders of them).
        out: the image to write (PNG, or any format matplotlib knows from the suffix).
        title: figure title.
        allow_incomplete: also draw runs without ``summary.json`` (else skipped with a warning).

    Returns:
        ``out`` as a Path.
    """
    table = gap_curves(run_dirs, allow_incomplete)
    fig = Figure(figsize=(7.5, 6.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    loss_ax = bottom.twinx()
    colors = colormaps["tab10"]
    for i, (label, rows) in enumerate(table.groupby("group", sort=False)):
        color = colors(i % 10)
        n = int(rows["runs"].max())
        name = f"{label} (n={n})" if n > 1 else label
        _band(top, rows["step"], rows["source"], rows["source_std"], color, label=f"{name} source")
        _band(top, rows["step"], rows["target_mean"], rows["target_mean_std"], color, linestyle="--",
              label=f"{name} target mean")
        _band(bottom, rows["step"], rows["gap"], rows["gap_std"], color, marker="o", markersize=3, label=f"{name} gap")
        with_loss = rows[rows["loss"].notna()]
        loss_ax.plot(with_loss["step"], with_loss["loss"], color=color, linestyle=":", label=f"{name} loss")
    top.set_ylabel("score")
    top.legend(fontsize="small")
    top.grid(alpha=0.3)
    bottom.set_xlabel("update")
    bottom.set_ylabel("gap (source − target mean)")
    loss_ax.set_ylabel("training loss (dotted)")
    bottom.grid(alpha=0.3)
    handles = bottom.get_legend_handles_labels()[0] + loss_ax.get_legend_handles_labels()[0]
    bottom.legend(handles=handles, fontsize="small")
    fig.suptitle(title or "Cross-lingual gap over fine-tuning")
    return _save(fig, out)


def plot_cka_curves(run_dirs: str | Path | Iterable[str | Path], out: str | Path, pooling: str | None = None,
                    title: str | None = None, allow_incomplete: bool = False) -> Path:
    """Figure 6-style plot: CKA to the pre-trained model per layer over updates, one panel per group.

    Layers are coloured along a gradient from bottom (dark) to top (light).

    Args:
        run_dirs: run directories (or folders of them) with ``cka.jsonl``.
        out: the image to write.
        pooling: which records to draw (see :func:`cka_curves`).
        title: figure title.
        allow_incomplete: also draw runs without ``summary.json`` (else skipped with a warning).

    Returns:
        ``out`` as a Path.
    """
    table = cka_curves(run_dirs, pooling, allow_incomplete)
    groups = list(table.groupby("group", sort=False))
    num_layers = int(table["layer"].max()) + 1
    cmap, norm = colormaps["viridis"], Normalize(vmin=0, vmax=max(num_layers - 1, 1))
    fig = Figure(figsize=(5.0 * len(groups) + 1.0, 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(groups), sharey=True, squeeze=False)[0])
    for ax, (label, rows) in zip(axes, groups):
        for layer, series in rows.groupby("layer"):
            _band(ax, series["step"], series["cka"], series["cka_std"], cmap(norm(layer)), marker="o", markersize=2)
        n = int(rows["runs"].max())
        ax.set_title(f"{label} (n={n})" if n > 1 else label, fontsize="medium")
        ax.set_xlabel("update")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"linear CKA to the pre-trained model ({table['pooling'].iloc[0]})")
    colorbar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), label="layer (0 = bottom)")
    if num_layers <= 16:
        colorbar.set_ticks(list(range(num_layers)))
    fig.suptitle(title or "Representation similarity to the pre-trained model")
    return _save(fig, out)


def _save(fig: Figure, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    return out
