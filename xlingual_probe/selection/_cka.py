"""Policy IV on or off: does the CKA of the top layers keep falling in phase 2 of plain fine-tuning?

Context:
    Policy IV speeds up V_II in phase 2. The paper keeps it when the top layers are still moving
    away from the pre-trained model late in training (their CKA to it keeps falling) and turns it
    off when they have settled (NER). This module makes that reading a test.

Method:
    Each CKA run (a DF run of ``xprobe probe cka``, one per seed) gives a series:

    1. Phase 2 is replayed from the run's ``steps.jsonl`` losses with
       :func:`~xlingual_probe.phases.phases_from_losses` (``window``, ``threshold``
       of :class:`~xlingual_probe.selection.SelectionOptions`). The probe steps in phase 2 are used.
       When the run is shorter than 2·window (phase 2 never exists), has no ``steps.jsonl``, or has
       fewer than 3 probe steps in phase 2, the second half of its probe steps is used instead, and a
       note says so.
    2. At each of those probe steps the CKA of the V_I layers is averaged (``null`` values dropped):
       one point (step, mean CKA) per probe step.

    Paired rule (default, SPEC "Statistics and protocol"): the probe points of one run are
    autocorrelated (each CKA is measured on a model one ``eval_every`` of updates away from the
    last), so they are never treated as independent samples. Instead each run gives one number, its
    least-squares slope over phase 2, and its fitted fall over phase 2, −slope · (last − first
    phase-2 probe step). Policy IV is on iff the one-sided one-sample t-test of the slopes across
    seeds ("the mean slope is below 0", n − 1 degrees of freedom) has p < ``alpha`` and the mean fall
    is at least ``min_cka_effect``. A run with fewer than 3 points gives no slope; with fewer than 2
    slopes (one seed) the trend cannot be tested: policy IV is off and a note says so. Without any
    CKA run policy IV is off as well (on only on evidence).

    Delta rule (``rule="delta"``, the former test): the points of all runs are pooled and
    ``scipy.stats.linregress`` fits CKA against step; on iff the slope is negative with two-sided
    p < ``cka_alpha``. With autocorrelated points its false-"on" rate grows with the number of probe
    points (``benchmarks/selection_power.py`` measures it); without any CKA run it is on (the
    paper's default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xlingual_probe.phases import phases_from_losses
from xlingual_probe.runs import RunFiles
from xlingual_probe.selection._rules import SelectionOptions, format_layers
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import read_jsonl


def find_cka_runs(paths: Sequence[str | Path]) -> list[Path]:
    """Run directories with a ``cka.jsonl`` among ``paths`` (each a run or a folder of runs, e.g. seed-N)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if RunFiles(path).cka.is_file():
            found.append(path)
        elif path.is_dir():
            runs = sorted(p.parent for p in path.rglob("cka.jsonl") if "checkpoints" not in p.parts)
            if not runs:
                raise UserError(f"no cka.jsonl in {path}: run `xprobe probe cka` (a DF run with the CKA probe)")
            found.extend(runs)
        else:
            raise UserError(f"CKA run not found: {path}")
    return found


def _phase2_probe_steps(run: Path, probe_steps: list[int], options: SelectionOptions) -> tuple[list[int], str]:
    files = RunFiles(run)
    losses = [r["loss"] for r in read_jsonl(files.steps)] if files.steps.is_file() else []
    half = probe_steps[len(probe_steps) // 2:]
    if not losses:
        return half, f"{run}: no steps.jsonl; used the second half of the probe steps"
    if len(losses) < 2 * options.window:
        return half, (f"{run}: the run ({len(losses)} updates) is shorter than 2·window = {2 * options.window}, "
                      "so it has no phase 2; used the second half of the probe steps")
    phase2 = {s.step for s in phases_from_losses(losses, options.window, options.threshold) if s.phase == 2}
    steps = [s for s in probe_steps if s in phase2]
    if len(steps) < 3:
        return half, (f"{run}: only {len(steps)} probe step(s) in phase 2; used the second half of the probe steps")
    return steps, f"{run}: phase 2 replayed from the losses ({len(phase2)} updates)"


def _run_points(run: Path, v1_layers: list[int], options: SelectionOptions) -> tuple[list[tuple[int, float]], str]:
    """The (probe step, mean CKA of the V_I layers) points of one run in its phase 2, and how phase 2 was found."""
    records = [r for r in read_jsonl(RunFiles(run).cka) if r["layer"] in v1_layers and r.get("cka") is not None]
    probe_steps = sorted({r["step"] for r in records})
    steps, how = _phase2_probe_steps(run, probe_steps, options)
    points = []
    for step in steps:
        values = [float(r["cka"]) for r in records if r["step"] == step]
        points.append((step, math.fsum(values) / len(values)))
    return points, how


def cka_slope_test(series: Sequence[Sequence[tuple[float, float]]], alpha: float, min_effect: float) -> dict[str, Any]:
    """The paired rule's policy IV test: one least-squares slope per seed, a t-test across seeds.

    Args:
        series: per seed (run), its phase-2 points (step, CKA); runs with fewer than 3 points are skipped.
        alpha: policy IV is on only if the one-sided p of "mean slope < 0" is below this.
        min_effect: ... and the mean fall over phase 2 is at least this (CKA units).

    Returns:
        ``{"on", "decision", "reason", "slopes", "falls", "seeds", "mean_slope", "mean_fall", "t", "df", "p"}``
        (``t``/``df``/``p`` are ``None`` when fewer than 2 seeds have a slope).

    >>> falling = [[(0, 0.9), (100, 0.8), (200, 0.7)], [(0, 0.8), (100, 0.72), (200, 0.62)]]
    >>> result = cka_slope_test(falling, 0.05, 0.02)
    >>> result["decision"], [round(f, 3) for f in result["falls"]], round(result["p"], 3)
    ('on', [0.2, 0.18], 0.017)
    >>> cka_slope_test(falling[:1], 0.05, 0.02)["decision"]
    'off'
    """
    from scipy import stats

    slopes, falls = [], []
    for points in series:
        if len(points) < 3 or len({step for step, _ in points}) < 2:
            continue
        steps, values = zip(*points)
        slope = float(np.polyfit(np.asarray(steps, dtype=float), np.asarray(values, dtype=float), 1)[0])
        slopes.append(slope)
        falls.append(-slope * (max(steps) - min(steps)))
    result: dict[str, Any] = {"on": False, "decision": "off", "slopes": slopes, "falls": falls, "seeds": len(slopes),
                              "mean_slope": float(np.mean(slopes)) if slopes else None,
                              "mean_fall": float(np.mean(falls)) if falls else None, "t": None, "df": None, "p": None}
    if len(slopes) < 2:
        result["reason"] = (f"{len(slopes)} seed(s) with a CKA slope in phase 2: the trend cannot be tested across "
                            "seeds (probe points within a run are not independent); run the CKA probe on 2+ seeds")
        return result
    if np.allclose(slopes, slopes[0], rtol=1e-9, atol=0):  # identical slopes: the sign decides (scipy's t would be ±inf or NaN)
        falling = result["mean_slope"] < 0
        t, p = (-math.inf, 0.0) if falling else (math.inf, 1.0)
    else:
        test = stats.ttest_1samp(slopes, 0.0, alternative="less")
        t, p = float(test.statistic), float(test.pvalue)
    on = p < alpha and result["mean_fall"] >= min_effect
    result.update(on=on, decision="on" if on else "off", t=t, df=len(slopes) - 1, p=p)
    fall = f"mean fall over phase 2 {result['mean_fall']:.3f}"
    if on:
        result["reason"] = (f"CKA of V_I falls in phase 2 on every seed's trend: mean slope "
                            f"{result['mean_slope']:.3g} per update, p = {p:.3g} < {alpha:g} over {len(slopes)} seeds, "
                            f"{fall} ≥ {min_effect:g}")
    elif p >= alpha:
        result["reason"] = (f"CKA of V_I is not shown to fall in phase 2: mean slope {result['mean_slope']:.3g} per "
                            f"update, p = {p:.3g} ≥ {alpha:g} over {len(slopes)} seeds")
    else:
        result["reason"] = f"CKA of V_I falls significantly (p = {p:.3g}) but only by {fall} < {min_effect:g}"
    return result


def policy_iv_from_cka(cka_runs: Sequence[str | Path], v1_layers: list[int],
                       options: SelectionOptions | None = None) -> dict[str, Any]:
    """Decide policy IV from the CKA trend of the V_I layers in phase 2 (see the module docstring).

    Args:
        cka_runs: DF run directories with ``cka.jsonl`` (or folders holding them), one per seed.
        v1_layers: the layers of V_I.
        options: ``rule``; ``alpha`` and ``min_cka_effect`` (paired) or ``cka_alpha`` (delta);
            ``window`` and ``threshold``.

    Returns:
        The ``policy_iv`` evidence: ``on``, ``decision``, ``reason``, ``method``, ``points``
        (run, step, cka), ``runs``, ``layers``, ``phase2`` ({run: how phase 2 was found}), ``alpha``,
        ``notes``; paired: the fields of :func:`cka_slope_test` and ``min_effect``; delta:
        ``slope``, ``intercept``, ``p``, ``r`` of the pooled fit.
    """
    options = options or SelectionOptions()
    runs = find_cka_runs(cka_runs)
    paired = options.rule == "paired"
    result: dict[str, Any] = {"on": False, "layers": format_layers(v1_layers) or None, "runs": [str(r) for r in runs],
                              "method": "per-seed slopes, t-test across seeds" if paired else "pooled linear fit",
                              "alpha": options.alpha if paired else options.cka_alpha, "phase2": {}, "points": [],
                              "notes": []}
    if not v1_layers:
        result.update(decision="off", reason="V_I is empty")
        result["notes"].append("policy IV off: V_I is empty, so there is no CKA trend to read")
        return result
    series = []
    for run in runs:
        points, how = _run_points(run, v1_layers, options)
        result["phase2"][str(run)] = how
        if "second half" in how:
            result["notes"].append(f"policy IV: {how}")
        series.append(points)
        result["points"] += [{"run": str(run), "step": step, "cka": cka} for step, cka in points]
    if paired:
        result.update(cka_slope_test(series, options.alpha, options.min_cka_effect), min_effect=options.min_cka_effect)
        testable = result["seeds"] >= 2
    else:
        result.update(cka_pooled_fit_test(series, options.cka_alpha))
        testable = result["slope"] is not None
    if not testable:
        result["notes"].append(f"policy IV off: {result['reason']}")
    return result


def cka_pooled_fit_test(series: Sequence[Sequence[tuple[float, float]]], alpha: float) -> dict[str, Any]:
    """The delta rule's policy IV test: one linear fit through the phase-2 points of every run.

    Treats every probe point as an independent sample, which they are not (module docstring); kept
    as the ``delta`` rule's test so that rule gives its former answers.

    Args:
        series: per run, its phase-2 points (step, CKA).
        alpha: on iff the slope is negative with two-sided p below this.

    Returns:
        ``{"on", "decision", "reason", "slope", "intercept", "p", "r"}`` (the fit's fields ``None``
        with fewer than 3 points or a single step).
    """
    from scipy import stats

    points = [point for run in series for point in run]
    result: dict[str, Any] = {"on": False, "decision": "off", "slope": None, "intercept": None, "p": None, "r": None}
    if len(points) < 3 or len({step for step, _ in points}) < 2:
        result["reason"] = f"{len(points)} CKA point(s) in phase 2: no trend can be tested"
        return result
    fit = stats.linregress([step for step, _ in points], [cka for _, cka in points])
    slope, p_value = float(fit.slope), float(fit.pvalue)
    on = slope < 0 and p_value < alpha
    result.update(on=on, decision="on" if on else "off", slope=slope, intercept=float(fit.intercept),
                  p=p_value, r=float(fit.rvalue),
                  reason=(f"CKA of V_I falls in phase 2 (slope {slope:.3g} per update, p = {p_value:.3g} < "
                          f"{alpha:g})" if on else
                          f"CKA of V_I does not fall beyond noise in phase 2 (slope {slope:.3g} per update, "
                          f"p = {p_value:.3g}, alpha {alpha:g})"))
    return result
