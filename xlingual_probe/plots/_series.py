"""Series over updates, averaged over a group's runs (seeds): the data behind every curve figure.

Each function reads run directories through :func:`~xlingual_probe.runs.load_runs` and returns the mean and
sample standard deviation (ddof = 1; NaN with one run) over the runs at each update, with ``runs`` = how
many runs had a value there. The phase-2 start of a run comes from its ``steps.jsonl``: the logged
``phase`` of a policy run, else the phase test of :mod:`xlingual_probe.phases` replayed over its losses.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from xlingual_probe.phases import phases_from_losses
from xlingual_probe.runs import RunFiles, load_runs
from xlingual_probe.utils.io import read_json, read_jsonl

__all__ = ["cka_series", "language_series", "mean_std_by", "metric_series", "phase2_start", "step_series"]


def mean_std_by(frame: pd.DataFrame, by: list[str], columns: list[str]) -> pd.DataFrame:
    """Per group of ``by``: the mean of ``columns``, their std as ``<column>_std``, and ``runs`` (group size)."""
    grouped = frame.groupby(by, sort=True)[columns]
    table = grouped.mean().join(grouped.std(ddof=1), rsuffix="_std").join(grouped.size().rename("runs"))
    return table.reset_index()


def metric_series(runs: Sequence[str], column: str) -> pd.DataFrame:
    """``column`` of ``metrics.jsonl`` (``gap``, ``source``, ``target_mean``, ``overall``, ``loss``) per step.

    Returns:
        Columns ``step``, ``<column>``, ``<column>_std``, ``runs``; empty when no run has evaluations.
    """
    metrics = load_runs(list(runs)).metrics
    if metrics.empty:
        return pd.DataFrame(columns=["step", column, f"{column}_std", "runs"])
    per_eval = metrics.drop_duplicates(["run", "step"])[["run", "step", column]]
    per_eval = per_eval.assign(**{column: pd.to_numeric(per_eval[column], errors="coerce")}).dropna()
    return mean_std_by(per_eval, ["step"], [column])


def language_series(runs: Sequence[str]) -> pd.DataFrame:
    """Each language's score per step: ``lang``, ``step``, ``value``, ``value_std``, ``runs``."""
    metrics = load_runs(list(runs)).metrics
    if metrics.empty:
        return pd.DataFrame(columns=["lang", "step", "value", "value_std", "runs"])
    metrics = metrics.assign(value=pd.to_numeric(metrics["value"], errors="coerce"))
    return mean_std_by(metrics, ["lang", "step"], ["value"])


def step_series(run: str) -> pd.DataFrame:
    """One run's ``steps.jsonl`` as a table (``step``, ``loss``, ``lr``, ``phase``, ``phi``, ``K.<set>`` ...)."""
    files = RunFiles(run)
    if not files.steps.is_file():
        return pd.DataFrame(columns=["step", "loss"])
    return pd.json_normalize(read_jsonl(files.steps), sep=".")


def cka_series(runs: Sequence[str], pooling: str | None = None) -> pd.DataFrame:
    """CKA per (step, layer) over the runs: ``step``, ``layer``, ``cka``, ``cka_std``, ``runs``, ``pooling``.

    Args:
        runs: run directories with ``cka.jsonl``.
        pooling: keep this pooling's records; ``None`` = the pooling of the first record.
    """
    cka = load_runs(list(runs)).cka
    if cka.empty:
        return pd.DataFrame(columns=["step", "layer", "cka", "cka_std", "runs", "pooling"])
    if "pooling" in cka:
        pooling = pooling or str(cka["pooling"].iloc[0])
        cka = cka[cka["pooling"] == pooling]
    cka = cka.assign(cka=pd.to_numeric(cka["cka"], errors="coerce"))  # null (undefined) -> NaN
    return mean_std_by(cka, ["step", "layer"], ["cka"]).assign(pooling=pooling)


def phase2_start(run: str) -> int | None:
    """The first update of ``run`` in phase 2, or ``None`` when it never got there (or logged no losses).

    A policy run logs each update's ``phase``; any other run is replayed with the phase test under the
    run's own ``slowfast`` window and threshold when it has them, else SPEC's (window 100, threshold 0.1).
    """
    steps = step_series(run)
    if steps.empty:
        return None
    if "phase" in steps and steps["phase"].notna().all():
        in_p2 = steps.loc[steps["phase"] == 2, "step"]
        return int(in_p2.iloc[0]) if len(in_p2) else None
    policy = (read_json(RunFiles(run).config).get("config") or {}).get("slowfast") or {}
    options = {k: policy[k] for k in ("window", "threshold") if policy.get(k) is not None}
    steps = steps.sort_values("step")
    states = phases_from_losses(steps["loss"].astype(float), **options)
    return next((int(s) for s, state in zip(steps["step"], states) if state.phase == 2), None)
