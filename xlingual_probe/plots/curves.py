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
no display needed), in the style of :mod:`xlingual_probe.plots.style`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from xlingual_probe.plots._series import cka_series, mean_std_by
from xlingual_probe.plots.cka import cka_lines_figure
from xlingual_probe.plots.style import band, legend_right, new_figure, save_figure, series_colors, styled
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


def gap_curves(run_dirs: str | Path | Iterable[str | Path], allow_incomplete: bool = False) -> pd.DataFrame:
    """Mean and std over each group's runs of source, target mean, overall, gap and loss per evaluation.

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
    return mean_std_by(pd.concat(frames), ["group", "step"], _GAP_COLUMNS)


def cka_curves(run_dirs: str | Path | Iterable[str | Path], pooling: str | None = None,
               allow_incomplete: bool = False) -> pd.DataFrame:
    """Mean and std over each group's runs of the CKA of every layer at every probe step.

    Args:
        run_dirs: run directories (or folders of them) with ``cka.jsonl``.
        pooling: keep records of this pooling only; ``None`` = the pooling of the first record.

    Returns:
        One row per (``group``, ``step``, ``layer``): ``cka``, ``cka_std``, ``runs``, ``pooling``.
    """
    runs = load_runs(_paths(run_dirs), allow_incomplete=allow_incomplete)
    if runs.cka.empty:
        raise UserError("no CKA records (cka.jsonl) in the given run directories; run `xprobe probe cka`")
    pooling = pooling or (str(runs.cka["pooling"].iloc[0]) if "pooling" in runs.cka else None)
    frames = [cka_series(members, pooling).assign(group=label) for label, members in run_groups(runs).items()]
    return pd.concat([f for f in frames if len(f)], ignore_index=True)


@styled
def _gap_figure(table: pd.DataFrame, title: str | None) -> Figure:
    groups = list(table.groupby("group", sort=False))
    colours = series_colors(len(groups))
    fig, axes = new_figure("two", 4.6, 2, 1, sharex=True)
    top, bottom = axes[:, 0]
    loss_ax = bottom.twinx()
    loss_ax.spines["right"].set_visible(True)
    for colour, (label, rows) in zip(colours, groups):
        n = int(rows["runs"].max())
        name = f"{label} (n={n})" if n > 1 else label
        band(top, rows["step"], rows["source"], rows["source_std"], colour, label=f"{name} source")
        band(top, rows["step"], rows["target_mean"], rows["target_mean_std"], colour, linestyle="--",
             label=f"{name} target mean")
        band(bottom, rows["step"], rows["gap"], rows["gap_std"], colour, marker="o", label=f"{name} gap")
        with_loss = rows[rows["loss"].notna()]
        loss_ax.plot(with_loss["step"], with_loss["loss"], color=colour, linestyle=":", label=f"{name} loss")
    top.set_ylabel("score (points)")
    legend_right(top)
    bottom.set_xlabel("update (optimizer steps)")
    bottom.set_ylabel("gap (points)")
    loss_ax.set_ylabel("training loss (nats, dotted)")
    loss_ax.grid(False)
    handles = bottom.get_legend_handles_labels()[0] + loss_ax.get_legend_handles_labels()[0]
    # beyond the twin axis' tick labels, so it covers neither axes
    bottom.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.12, 1.0), borderaxespad=0.0)
    fig.suptitle(title or "Cross-lingual gap over fine-tuning")
    return fig


def plot_gap_curves(run_dirs: str | Path | Iterable[str | Path], out: str | Path, title: str | None = None,
                    allow_incomplete: bool = False) -> Path:
    """Figure 2-style plot: source and target-mean scores (top), gap and training loss (bottom).

    Args:
        run_dirs: run directories (or folders of them).
        out: the image to write (PNG, or any format matplotlib knows from the suffix).
        title: figure title.

    Returns:
        ``out`` as a Path.
    """
    return _save(_gap_figure(gap_curves(run_dirs, allow_incomplete), title), out)


def plot_cka_curves(run_dirs: str | Path | Iterable[str | Path], out: str | Path, pooling: str | None = None,
                    title: str | None = None, allow_incomplete: bool = False) -> Path:
    """Figure 6-style plot: CKA to the pre-trained model per layer over updates, one panel per group
    (:func:`~xlingual_probe.plots.cka.cka_lines_figure`).

    Args:
        run_dirs: run directories (or folders of them) with ``cka.jsonl``.
        out: the image to write.
        pooling: which records to draw (see :func:`cka_curves`).
        title: figure title.

    Returns:
        ``out`` as a Path.
    """
    runs = load_runs(_paths(run_dirs), allow_incomplete=allow_incomplete)
    if runs.cka.empty:
        raise UserError("no CKA records (cka.jsonl) in the given run directories; run `xprobe probe cka`")
    with_cka = set(runs.cka["run"])
    panels = {label: [r for r in members if r in with_cka] for label, members in run_groups(runs).items()}
    fig = cka_lines_figure({k: v for k, v in panels.items() if v}, pooling,
                           title=title or "Representation similarity to the pre-trained model")
    return _save(fig, out)


def _save(fig: Figure, out: str | Path) -> Path:
    out = Path(out)
    (written,) = save_figure(fig, out.with_suffix(""), formats=(out.suffix.lstrip(".") or "png",))
    return written
