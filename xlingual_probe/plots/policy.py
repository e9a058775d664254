"""What slow-and-fast does during a run: the training loss with phase 2 shaded, and the learning-rate
multiplier K of each weight set over updates (new; the paper describes the policies only in equations).

Context:
    Policy I multiplies S_I's rate by c1 in phase 1, policy II gives S_II the rate R(φ) in phase 2,
    policy IV gives V_II c2 in phase 2, and the phase is a test on the loss curve (SPEC "Slow-and-fast
    fine-tuning"). A reader pictures this best on one run: the loss (top) with the updates in phase 2
    shaded, and K of each optimizer group (bottom, symmetric log scale so 0, 0.01, 1 and 10 all show).
    The groups are disjoint: ``S_I`` is S_I ∖ S_II and ``V_I`` is V_I ∖ V_II (as in ``param_groups.csv``);
    a group that holds no parameter (an empty selected set) is not drawn, and the legend says so.

Input: ``{panel title: run directory}`` — one policy run each (its ``steps.jsonl`` has ``phase`` and ``K``).
"""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from xlingual_probe.plots._series import step_series
from xlingual_probe.plots.gap import UPDATE_LABEL
from xlingual_probe.plots.style import LINESTYLES, OKABE_ITO, legend_below, new_figure, styled
from xlingual_probe.runs import RunFiles
from xlingual_probe.utils.errors import UserError

__all__ = ["SET_LABELS", "phase2_spans", "policy_figure", "populated_sets"]

SET_LABELS = {"S_I": r"$S_I \setminus S_{II}$", "S_II": r"$S_{II}$", "V_I": r"$V_I \setminus V_{II}$",
              "V_II": r"$V_{II}$"}
SET_COLOURS = {"S_I": OKABE_ITO[5], "S_II": OKABE_ITO[3], "V_I": OKABE_ITO[1], "V_II": OKABE_ITO[4]}
PHASE2_COLOUR = "0.85"


def populated_sets(run: str) -> set[str] | None:
    """The weight sets that hold parameters in ``run``'s optimizer (from ``param_groups.csv``; a group's
    ``/no_decay`` part counts for its set), or ``None`` when the file is missing."""
    path = RunFiles(run).param_groups
    if not path.is_file():
        return None
    with open(path, encoding="utf-8", newline="") as f:
        return {row["group"].split("/")[0] for row in csv.DictReader(f)}


def phase2_spans(steps: pd.Series, phases: pd.Series) -> list[tuple[float, float]]:
    """Contiguous runs of phase-2 updates as ``(first − 0.5, last + 0.5)`` intervals.

    >>> phase2_spans(pd.Series([1, 2, 3, 4, 5]), pd.Series([1, 2, 2, 1, 2]))
    [(1.5, 3.5), (4.5, 5.5)]
    """
    spans, start, prev = [], None, None
    for step, phase in zip(steps, phases):
        if phase == 2 and start is None:
            start = step
        elif phase != 2 and start is not None:
            spans.append((start - 0.5, prev + 0.5))
            start = None
        prev = step
    if start is not None:
        spans.append((start - 0.5, prev + 0.5))
    return [(float(a), float(b)) for a, b in spans]


@styled
def policy_figure(panels: dict[str, str], title: str | None = None) -> Figure:
    """Loss with phase 2 shaded (top) and K per weight set (bottom) over updates, one column per run.

    Raises:
        UserError: a run without ``K`` in its ``steps.jsonl`` (not a policy run).

    Returns:
        The figure; K lines are labelled with the set name (``S_I``, ...), the phase-2 spans are patches
        with gid ``phase2``.
    """
    fig, axes = new_figure("one" if len(panels) == 1 else "two", 3.4, 2, len(panels), sharex="col")
    sets_seen: list[str] = []
    empty: list[str] = []
    for col, (name, run) in enumerate(panels.items()):
        steps = step_series(run).sort_values("step")
        k_columns = [c for c in steps.columns if c.startswith("K.")]
        if not k_columns or "phase" not in steps:
            raise UserError(f"{run}: steps.jsonl has no K / phase (not a slow-and-fast run)")
        loss_ax, k_ax = axes[0, col], axes[1, col]
        spans = phase2_spans(steps["step"], steps["phase"])
        for ax in (loss_ax, k_ax):
            for low, high in spans:
                ax.axvspan(low, high, color=PHASE2_COLOUR, linewidth=0, gid="phase2", zorder=0)
        loss_ax.plot(steps["step"], steps["loss"], color=OKABE_ITO[0], linewidth=0.5, alpha=0.35, label="loss")
        window = max(1, min(50, len(steps) // 20))
        smooth = steps["loss"].rolling(window, min_periods=1).mean()
        loss_ax.plot(steps["step"], smooth, color=OKABE_ITO[0], linewidth=1.2, label=f"running mean ({window})")
        populated = populated_sets(run)
        # a set without parameters still gets a K in steps.jsonl; drawing it would suggest a policy acted
        empty += [c[2:] for c in k_columns if populated is not None and c[2:] not in populated]
        k_columns = [c for c in k_columns if populated is None or c[2:] in populated]
        for i, column in enumerate(sorted(k_columns, key=lambda c: list(SET_LABELS).index(c[2:])
                                          if c[2:] in SET_LABELS else 99)):
            name_ = column[2:]
            sets_seen.append(name_)
            k_ax.plot(steps["step"], steps[column].astype(float), label=name_, drawstyle="steps-post",
                      color=SET_COLOURS.get(name_, OKABE_ITO[6]), linestyle=LINESTYLES[i % len(LINESTYLES)])
        k_ax.set_yscale("symlog", linthresh=0.01, linscale=0.5)
        values = np.unique(steps[k_columns].to_numpy(dtype=float).round(6)) if k_columns else np.array([1.0])
        k_ax.set_yticks(sorted({0.0, 0.01, 1.0, *[v for v in values if v >= 1.0]}))
        k_ax.set_yticklabels([f"{v:g}" for v in k_ax.get_yticks()])
        loss_ax.set_title(name)
        loss_ax.set_ylabel("training loss (nats)" if col == 0 else "")
        k_ax.set_ylabel("multiplier K" if col == 0 else "")
        k_ax.set_xlabel(UPDATE_LABEL)
    handles, labels = [], []
    for name_ in dict.fromkeys(sets_seen):
        line = next(line for ax in axes[1] for line in ax.get_lines() if line.get_label() == name_)
        handles.append(line)
        labels.append(SET_LABELS.get(name_, name_))
    loss_handles, loss_labels = axes[0, 0].get_legend_handles_labels()
    handles += [*loss_handles, Patch(color=PHASE2_COLOUR, label="phase 2")]
    labels += [*loss_labels, "phase 2"]
    if empty:
        handles.append(Line2D([], [], linestyle="none"))
        labels.append("no parameters (not drawn): " + ", ".join(SET_LABELS.get(n, n) for n in dict.fromkeys(empty)))
    legend_below(fig, handles, labels, ncols=4)
    if title:
        fig.suptitle(title)
    return fig
