"""Forgetting, measured directly: how much cross-lingual alignment each layer loses during fine-tuning.

Reads run directories only (``alignment.jsonl``, ``steps.jsonl``, ``metrics.jsonl``, a sweep's
results); the selection (:mod:`xlingual_probe.selection`), the figures and ``xprobe probe alignment``
build on it.

Definitions (SPEC "Alignment probe"):
    * **Alignment lost** at update t, per layer and language: the alignment measure at update 0
      minus at t (positive = lost). The measure is ``retrieval`` by default (any numeric field of
      ``alignment.jsonl``); a layer's value is the mean over the target languages.
    * **Per phase** (:func:`phase_losses`): the updates of a run are put in phase 1 or 2 by the phase
      test (:func:`~xlingual_probe.phases.phases_from_losses`, replayed from ``steps.jsonl``). The
      loss between two consecutive probe steps is shared between the phases in proportion to the
      updates of that interval each holds; a phase's *rate* is its loss per 100 of its updates.
    * **Against the scores** (:func:`score_correlations`): per run (seed) and layer, Spearman's ρ
      across the target languages between a language's alignment lost at the end and its final
      score, and its final gap (source − that language's score). With the same source score in every
      comparison the gap's ρ is minus the score's (both are reported, computed). Correlations are
      computed per seed and then summarised across seeds: the probe points of one run are
      autocorrelated, so they are never pooled as independent samples.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from xlingual_probe.phases import phases_from_losses
from xlingual_probe.runs import BASELINE, RunFiles, load_runs, summarise_sweep
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import read_json, read_jsonl

__all__ = ["MEASURES", "alignment_frame", "alignment_lost", "alignment_vs_reinit", "layer_losses", "phase_losses",
           "reinit_drops", "score_correlations", "summarise_over_runs",
           "sweep_results"]

MEASURES = ("retrieval", "retrieval_src2tgt", "retrieval_tgt2src", "cka_cross", "cka_to_pretrained")


def alignment_frame(run_dirs: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """Every ``alignment.jsonl`` record of the runs (``run`` names the folder).

    Raises:
        UserError: no run holds alignment records.
    """
    frame = load_runs([run_dirs] if isinstance(run_dirs, (str, Path)) else list(run_dirs)).alignment
    if frame.empty:
        raise UserError("no alignment records (alignment.jsonl) in the given run directories; "
                        "run `xprobe probe alignment`")
    return frame


def alignment_lost(frame: pd.DataFrame, measure: str = "retrieval") -> pd.DataFrame:
    """Per run, probe step, layer and language: ``before`` (update 0), ``value`` and ``lost`` = before − value.

    Languages without the measure (the source for retrieval and ``cka_cross``) are left out.

    Raises:
        UserError: an unknown measure, or a run without its update-0 records.
    """
    if measure not in MEASURES:
        raise UserError(f"unknown alignment measure {measure!r}; choose one of {', '.join(MEASURES)}")
    rows = frame.loc[frame[measure].notna(), ["run", "step", "layer", "lang", measure]].rename(columns={measure: "value"})
    rows = rows.astype({"value": float})
    before = rows[rows["step"] == 0].set_index(["run", "layer", "lang"])["value"].rename("before")
    missing = sorted(set(rows["run"]) - set(before.index.get_level_values("run")))
    if missing:
        raise UserError(f"no alignment before the first update (step 0) in {', '.join(missing)}")
    out = rows.join(before, on=["run", "layer", "lang"])
    return out.assign(lost=out["before"] - out["value"]).reset_index(drop=True)


def layer_losses(frame: pd.DataFrame, measure: str = "retrieval") -> pd.DataFrame:
    """Per run and layer, the target mean at update 0 and at the run's last probe step.

    Returns:
        Columns ``run``, ``layer``, ``before``, ``end``, ``lost`` (= before − end), ``end_step``.
    """
    lost = alignment_lost(frame, measure)
    last = lost.groupby("run")["step"].transform("max")
    end = lost[lost["step"] == last].groupby(["run", "layer"]).agg(
        before=("before", "mean"), end=("value", "mean"), end_step=("step", "max")).reset_index()
    return end.assign(lost=end["before"] - end["end"])[["run", "layer", "before", "end", "lost", "end_step"]]


def _phases(run: str, window: int, threshold: float) -> list[int]:
    files = RunFiles(run)
    losses = [r["loss"] for r in read_jsonl(files.steps)] if files.steps.is_file() else []
    return [s.phase for s in phases_from_losses(losses, window, threshold)]


def phase_losses(frame: pd.DataFrame, measure: str = "retrieval", window: int = 100,
                 threshold: float = 0.1) -> pd.DataFrame:
    """Per run and layer, the alignment (target mean) lost in phase 1 and in phase 2 (module docstring).

    Returns:
        Columns ``run``, ``layer``, ``lost_p1``, ``lost_p2``, ``updates_p1``, ``updates_p2``,
        ``rate_p1``, ``rate_p2`` (lost per 100 updates of the phase; NaN for a phase with no
        update) and ``share_p2`` (lost_p2 / total lost; NaN when nothing was lost).
    """
    lost = alignment_lost(frame, measure)
    curve = lost.groupby(["run", "layer", "step"])["value"].mean().reset_index()
    rows = []
    for run, per_run in curve.groupby("run"):
        phases = _phases(str(run), window, threshold)
        for layer, series in per_run.groupby("layer"):
            steps, values = series["step"].to_numpy(), series["value"].to_numpy()
            totals = {1: [0.0, 0], 2: [0.0, 0]}
            for (s0, v0), (s1, v1) in zip(zip(steps[:-1], values[:-1]), zip(steps[1:], values[1:])):
                # updates s0+1 .. s1 (1-based): phase of each from the replay; beyond it, phase 1
                span = [phases[t - 1] if t - 1 < len(phases) else 1 for t in range(int(s0) + 1, int(s1) + 1)]
                for phase in (1, 2):
                    share = span.count(phase) / len(span)
                    totals[phase][0] += (v0 - v1) * share
                    totals[phase][1] += span.count(phase)
            (l1, u1), (l2, u2) = totals[1], totals[2]
            total = l1 + l2
            rows.append({"run": run, "layer": layer, "lost_p1": l1, "lost_p2": l2, "updates_p1": u1,
                         "updates_p2": u2, "rate_p1": 100 * l1 / u1 if u1 else math.nan,
                         "rate_p2": 100 * l2 / u2 if u2 else math.nan,
                         "share_p2": l2 / total if total > 0 else math.nan})
    return pd.DataFrame(rows)


def _final_scores(run: str) -> tuple[dict[str, float], str] | None:
    files = RunFiles(run)
    record = read_json(files.summary).get("final") if files.is_finished() else None  # None: a no-train map
    if record is None and files.metrics.is_file() and (records := read_jsonl(files.metrics)):
        record = records[-1]
    if record is None:
        return None
    return record["metrics"], read_json(files.config)["config"]["source_lang"]


def score_correlations(frame: pd.DataFrame, measure: str = "retrieval") -> pd.DataFrame:
    """Per run and layer, Spearman's ρ across target languages of the end loss against final score and gap.

    Returns:
        Columns ``run``, ``layer`` (``"mean"`` for the mean over layers), ``languages``,
        ``rho_score``, ``rho_gap`` (NaN with fewer than 3 languages or constant values).
    """
    from scipy.stats import spearmanr

    lost = alignment_lost(frame, measure)
    last = lost.groupby("run")["step"].transform("max")
    end = lost[lost["step"] == last]
    rows = []
    for run, per_run in end.groupby("run"):
        scores = _final_scores(str(run))
        if scores is None:
            continue
        metrics, source = scores
        per_layer = [(layer, group.set_index("lang")["lost"]) for layer, group in per_run.groupby("layer")]
        per_layer.append(("mean", per_run.groupby("lang")["lost"].mean()))
        for layer, by_lang in per_layer:
            langs = [lang for lang in by_lang.index if lang in metrics and lang != source]
            loss = by_lang[langs].to_numpy(dtype=float)
            score = np.array([metrics[lang] for lang in langs], dtype=float)
            gap = metrics[source] - score
            defined = len(langs) >= 3 and np.ptp(loss) > 0 and np.ptp(score) > 0
            rows.append({"run": run, "layer": layer, "languages": len(langs),
                         "rho_score": float(spearmanr(loss, score).statistic) if defined else math.nan,
                         "rho_gap": float(spearmanr(loss, gap).statistic) if defined else math.nan})
    return pd.DataFrame(rows, columns=["run", "layer", "languages", "rho_score", "rho_gap"])


def summarise_over_runs(table: pd.DataFrame, by: str, columns: list[str]) -> pd.DataFrame:
    """Mean, sample std (ddof 1) and count over the runs (seeds) of each ``by`` group: ``<col>``,
    ``<col>_std``, ``seeds`` — one value per run, so the seeds are the independent samples."""
    grouped = table.groupby(by, sort=False)[columns]
    out = grouped.mean().join(grouped.std(ddof=1), rsuffix="_std").join(grouped.size().rename("seeds"))
    return out.reset_index()


def sweep_results(sweep: str | Path) -> pd.DataFrame:
    """A sweep's results table from its directory (:func:`~xlingual_probe.runs.summarise_sweep`) or from its
    ``results.csv`` (e.g. one kept with an analysis).

    Raises:
        UserError: neither a ``.csv`` file nor a sweep directory.
    """
    sweep = Path(sweep)
    if sweep.suffix == ".csv" and sweep.is_file():
        return pd.read_csv(sweep, dtype={"unit": str})
    return summarise_sweep(sweep)


def reinit_drops(sweep: str | Path, metric: str = "final") -> pd.DataFrame:
    """Per layer, the drop of overall performance when the layer is re-initialised: DF − reinit.

    Paired by seed: the mean over the seeds that have both runs of (DF − reinit(ℓ)), so a sweep with
    more DF seeds than reinit seeds (an interrupted one) does not mix seeds. ``drop`` > 0 means
    re-initialising the layer hurts.

    Args:
        sweep: a sweep directory (``sweep.json``) or its ``results.csv`` (:func:`sweep_results`).
        metric: ``final`` or ``best``.

    Returns:
        Columns ``layer``, ``drop``, ``seeds`` (paired seeds), ``baseline`` (DF mean over those seeds).

    Raises:
        UserError: not a sweep directory or results table, or no DF and per-layer reinit run of a common seed.
    """
    results = sweep_results(sweep)
    column = f"{metric}_overall"
    base = results[results["experiment"] == BASELINE].groupby("seed")[column].mean().rename("baseline")
    reinit = results[(results["experiment"] == "reinit") & results["unit"].astype(str).str.fullmatch(r"\d+")]
    paired = reinit.assign(layer=reinit["unit"].astype(int)).join(base, on="seed", how="inner")
    if paired.empty:
        raise UserError(f"{sweep}: needs finished DF (baseline) and per-layer reinit runs of a common seed")
    per_layer = paired.assign(drop=paired["baseline"] - paired[column]).groupby("layer")
    return per_layer[["drop", "baseline"]].mean().join(per_layer.size().rename("seeds")).reset_index()[
        ["layer", "drop", "seeds", "baseline"]]


def alignment_vs_reinit(run_dirs: str | Path | Iterable[str | Path], sweep: str | Path,
                        measure: str = "retrieval", metric: str = "final") -> tuple[pd.DataFrame, float, float]:
    """Per layer, the alignment lost by the end of the DF runs next to the sweep's re-initialisation drop.

    ``sweep``: a sweep directory or its ``results.csv`` (:func:`reinit_drops`).

    Returns:
        The table (``layer``, ``before``, ``lost``, ``lost_std``, ``seeds`` over the alignment runs;
        ``drop``, ``reinit_seeds``), and Spearman's ρ between ``lost`` and ``drop`` over the layers with
        its two-sided p-value (NaN when fewer than 3 layers or a constant column).
    """
    from scipy.stats import spearmanr

    losses = summarise_over_runs(layer_losses(alignment_frame(run_dirs), measure), "layer", ["before", "lost"])
    drops = reinit_drops(sweep, metric).rename(columns={"seeds": "reinit_seeds"})
    table = losses[["layer", "before", "lost", "lost_std", "seeds"]].merge(
        drops[["layer", "drop", "reinit_seeds"]], on="layer")
    if len(table) < 3 or table["lost"].nunique() < 2 or table["drop"].nunique() < 2:
        return table, math.nan, math.nan
    result = spearmanr(table["lost"], table["drop"])
    return table, float(result.statistic), float(result.pvalue)
