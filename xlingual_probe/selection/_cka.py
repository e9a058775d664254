"""Policy IV on or off: does the CKA of the top layers keep falling in phase 2 of plain fine-tuning?

Context:
    Policy IV speeds up V_II in phase 2. The paper keeps it when the top layers are still moving
    away from the pre-trained model late in training (their CKA to it keeps falling) and turns it
    off when they have settled (NER). This module makes that reading a test.

Method:
    For each CKA run (a DF run of ``xprobe probe cka``; several seeds are pooled):

    1. Phase 2 is replayed from the run's ``steps.jsonl`` losses with
       :func:`~xlingual_probe.phases.phases_from_losses` (``window``, ``threshold``
       of :class:`~xlingual_probe.selection.SelectionOptions`). The probe steps in phase 2 are used.
       When the run is shorter than 2·window (phase 2 never exists), has no ``steps.jsonl``, or has
       fewer than 3 probe steps in phase 2, the second half of its probe steps is used instead, and a
       note says so.
    2. At each of those probe steps the CKA of the V_I layers is averaged (``null`` values dropped):
       one point (step, mean CKA) per run and probe step.
    3. The points of all runs are pooled and ``scipy.stats.linregress`` fits CKA against step.

    Policy IV is on iff the slope is negative and its two-sided p-value is below ``cka_alpha``
    ("falling beyond noise"); off otherwise, including with fewer than 3 points (no test possible).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


def policy_iv_from_cka(cka_runs: Sequence[str | Path], v1_layers: list[int],
                       options: SelectionOptions | None = None) -> dict[str, Any]:
    """Decide policy IV from the CKA trend of the V_I layers in phase 2 (see the module docstring).

    Args:
        cka_runs: DF run directories with ``cka.jsonl`` (or folders holding them).
        v1_layers: the layers of V_I.
        options: ``cka_alpha``, ``window`` and ``threshold``.

    Returns:
        ``{"on", "decision", "slope", "intercept", "p", "r", "points", "runs", "layers",
        "phase2": {run: how phase 2 was found}, "alpha", "notes"}`` (the ``policy_iv`` evidence).
    """
    from scipy import stats

    options = options or SelectionOptions()
    runs = find_cka_runs(cka_runs)
    result: dict[str, Any] = {"on": False, "layers": format_layers(v1_layers) or None, "alpha": options.cka_alpha,
                              "runs": [str(r) for r in runs], "phase2": {}, "points": [], "slope": None,
                              "intercept": None, "p": None, "r": None, "notes": []}
    if not v1_layers:
        result.update(decision="off", reason="V_I is empty")
        result["notes"].append("policy IV off: V_I is empty, so there is no CKA trend to read")
        return result
    for run in runs:
        records = [r for r in read_jsonl(RunFiles(run).cka) if r["layer"] in v1_layers and r.get("cka") is not None]
        probe_steps = sorted({r["step"] for r in records})
        steps, how = _phase2_probe_steps(run, probe_steps, options)
        result["phase2"][str(run)] = how
        if "second half" in how:
            result["notes"].append(f"policy IV: {how}")
        for step in steps:
            values = [float(r["cka"]) for r in records if r["step"] == step]
            result["points"].append({"run": str(run), "step": step, "cka": math.fsum(values) / len(values)})
    points = result["points"]
    if len(points) < 3 or len({p["step"] for p in points}) < 2:
        result.update(decision="off", reason=f"{len(points)} CKA point(s) in phase 2: no trend can be tested")
        result["notes"].append(f"policy IV off: {result['reason']}")
        return result
    fit = stats.linregress([p["step"] for p in points], [p["cka"] for p in points])
    slope, p_value = float(fit.slope), float(fit.pvalue)
    on = slope < 0 and p_value < options.cka_alpha
    result.update(on=on, decision="on" if on else "off", slope=slope, intercept=float(fit.intercept),
                  p=p_value, r=float(fit.rvalue),
                  reason=(f"CKA of V_I falls in phase 2 (slope {slope:.3g} per update, p = {p_value:.3g} < "
                          f"{options.cka_alpha:g})" if on else
                          f"CKA of V_I does not fall beyond noise in phase 2 (slope {slope:.3g} per update, "
                          f"p = {p_value:.3g}, alpha {options.cka_alpha:g})"))
    return result
