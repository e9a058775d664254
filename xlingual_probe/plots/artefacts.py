"""Every paper figure and table by name, built from whatever runs are given (``xprobe figures``, ``xprobe report``).

Each entry of :data:`ARTEFACTS` knows which paper artefact it is, what it needs and how to draw it from the
:class:`~xlingual_probe.plots._sources.Sources`; one the runs cannot support raises
:class:`~xlingual_probe.plots.tables.Skip` with the reason (and the command that would make the missing runs).
:func:`build_artefacts` draws all (or some), writes each figure as PNG + PDF + SVG and each table as
CSV + Markdown + LaTeX, and returns what it wrote, with the run directories behind every series and cell.

==========================  ===========  =====================================================================
name                        paper        needs
==========================  ===========  =====================================================================
fig1-gap-methods            Fig. 1, 5    runs of ≥ 2 methods of a task (``xprobe compare``)
fig2-loss-gap               Fig. 2       DF runs (``xprobe train direct``), one or more tasks
fig3-layers                 Fig. 3       a sweep with ``reinit`` / ``freeze`` (``xprobe probe layers``)
fig-table1-groups           Table 1      a sweep with ``last-k`` / ``group-freeze`` / ``lr-x10``
fig4-last-k                 Fig. 4       a sweep with ``last-k``
fig6-cka-lines, -heatmap    Fig. 6       runs with ``cka.jsonl`` (``xprobe probe cka``)
fig7-languages              Fig. 7       DF runs
fig-policy-k                (new)        a slow-and-fast / FS / FF run (``steps.jsonl`` with ``K``)
fig-language-gains          (new)        DF and another method on ≥ 2 shared seeds (``xprobe compare``)
table1 … table8             Tables       see :mod:`xlingual_probe.plots.tables`
==========================  ===========  =====================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from xlingual_probe.plots import tables as T
from xlingual_probe.plots._names import experiment_name, method_name
from xlingual_probe.plots._paired import holm, paired_difference
from xlingual_probe.plots._runsets import Series, as_panels, at_centre, plain, series, zero_shot
from xlingual_probe.plots._scores import ScoreSource
from xlingual_probe.plots._series import step_series
from xlingual_probe.plots._sources import Sources, collect_sources
from xlingual_probe.plots.cka import cka_heatmap_figure, cka_lines_figure
from xlingual_probe.plots.gap import curves_figure, loss_gap_figure
from xlingual_probe.plots.languages import ForestPanel, language_curves_figure, language_gain_figure
from xlingual_probe.plots.layers import GroupBars, LayerPanel, group_bars_figure, layer_figure
from xlingual_probe.plots.policy import policy_figure
from xlingual_probe.plots.style import FORMATS, save_figure
from xlingual_probe.plots.table import Table
from xlingual_probe.plots.tables import Skip, TableContext, caption_facts
from xlingual_probe.runs import RunFiles
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import atomic_write_text

__all__ = ["ARTEFACTS", "Artefact", "BuildResult", "Output", "build_artefacts", "marked_layers", "outputs_markdown",
           "write_index"]


@dataclass
class Output:
    """One drawn figure or table: its file stem, title, caption, the object, its provenance and files."""

    name: str
    title: str
    caption: str
    figure: Figure | None = None
    table: Table | None = None
    provenance: dict[str, list[str]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class Artefact:
    """A registered paper artefact: ``build(context)`` returns its outputs or raises :class:`Skip`."""

    name: str
    paper: str
    kind: str
    build: Callable[[TableContext], list[Output]]


ARTEFACTS: dict[str, Artefact] = {}


def _register(name: str, paper: str, kind: str = "figure"):
    def decorate(build: Callable[[TableContext], list[Output]]) -> Callable[[TableContext], list[Output]]:
        ARTEFACTS[name] = Artefact(name, paper, kind, build)
        return build
    return decorate


def _curve_caption(ctx: TableContext, runs: list[str], what: str) -> str:
    seeds = sorted({int(s) for s in ctx.runs.loc[ctx.runs["run"].isin(runs), "seed"].dropna()})
    return (f"{what} Lines: mean over seeds {', '.join(map(str, seeds))}; bands: ± 1 std (ddof 1) where a series "
            "has ≥ 2 seeds. Scores on the dev sets evaluated during training (every --eval-every updates).")


def _scored_figure(ctx: TableContext, name: str, title: str, text: str, figure: Figure,
                   provenance: dict[str, list[str]]) -> list[Output]:
    """An output whose caption adds the seeds, score and checkpoint rule of the runs behind it."""
    return [Output(name, title, f"{text} {caption_facts(ctx, _all_runs(provenance))}", figure=figure,
                   provenance=provenance)]


def _all_runs(panels: dict[str, Any]) -> list[str]:
    out = []
    for value in panels.values():
        out += _all_runs(value) if isinstance(value, dict) else list(value)
    return out


def _with_metrics(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[[RunFiles(r).metrics.is_file() for r in runs["run"]]] if len(runs) else runs


def _method_series(ctx: TableContext) -> dict[str, list[Series]]:
    runs = zero_shot(at_centre(plain(_with_metrics(ctx.runs))))[0]
    return series(ctx.sources, runs[runs["swap"].isna()])


@_register("fig1-gap-methods", "Fig. 1, Fig. 5")
def fig1_gap_methods(ctx: TableContext) -> list[Output]:
    panels = as_panels({d: g for d, g in _method_series(ctx).items() if len(g) >= 2})
    if not panels:
        raise Skip("needs runs of at least two methods on one task (xprobe compare --methods direct,slowfast)")
    provenance = {f"{d}: {label}": runs for d, s in panels.items() for label, runs in s.items()}
    return [Output("fig1-gap-methods", "Figure 1 / 5: the gap over updates per method",
                   _curve_caption(ctx, _all_runs(panels), "Gap (source − mean of the target languages) over "
                                  "fine-tuning updates, one panel per task, one line per method."),
                   figure=curves_figure(panels, "gap"), provenance=provenance)]


def _df_series(ctx: TableContext) -> dict[str, dict[str, list[str]]]:
    grouped = {d: [s for s in g if s.method == "direct"] for d, g in _method_series(ctx).items()}
    return as_panels({d: g for d, g in grouped.items() if g})


@_register("fig2-loss-gap", "Fig. 2")
def fig2_loss_gap(ctx: TableContext) -> list[Output]:
    panels = _df_series(ctx)
    if not panels:
        raise Skip("needs DF runs with evaluations (xprobe train direct, one per task)")
    return [Output("fig2-loss-gap", "Figure 2: loss and gap over updates, phase-2 start marked",
                   _curve_caption(ctx, _all_runs(panels), "Training loss (mean since the previous evaluation, top) "
                                  "and gap (bottom) of DF per task. Dotted: the first update in phase 2 (the mean loss "
                                  "fell by no more than the threshold over the last window; SPEC Eq. 1), mean over "
                                  "the seeds that reach it, from steps.jsonl (logged by policy runs, else replayed with the "
                                  "run's policy window and threshold, or 100 and 0.1)."),
                   figure=loss_gap_figure(panels), provenance={f"{d}: {k}": v for d, s in panels.items()
                                                               for k, v in s.items()})]


def _evidence_rows(selection: dict[str, Any], key: str) -> list[dict[str, Any]] | None:
    evidence = (selection.get("evidence") or {}).get(key)
    if isinstance(evidence, dict):
        evidence = evidence.get("rows")
    return evidence if isinstance(evidence, list) else None


def _number(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def marked_layers(selection: dict[str, Any], kind: str, alpha: float = 0.05) -> tuple[set[str], str] | None:
    """The layers ``selection.json``'s evidence marks for ``kind`` (``reinit`` → S_I, ``freeze`` → S_II).

    Read defensively, in order: a boolean ``significant``; a Holm-adjusted p-value (``p_holm``,
    ``p_adjusted``, ``holm_p``) below ``alpha``; else the decision text (``"in S_I ..."``). Returns
    ``(units, how)`` or ``None`` when the selection has no evidence rows for ``kind``.
    """
    name = "S_I" if kind == "reinit" else "S_II"
    rows = _evidence_rows(selection, name)
    if rows is None:
        return None
    metric = (selection.get("options") or {}).get("metric")
    on = f", on its {metric} scores" if metric else ""
    marked, how = set(), f"in {name} (selection.json decision{on})"
    for row in rows:
        unit = str(row.get("unit", ""))
        adjusted = next((_number(row[k]) for k in ("p_holm", "p_adjusted", "holm_p") if k in row), None)
        if isinstance(row.get("significant"), bool):
            hit, how = row["significant"], f"significant for {name} (selection.json{on})"
        elif adjusted is not None:
            hit, how = adjusted < alpha, f"Holm-adjusted p < {alpha:g} (selection.json, {name}{on})"
        else:
            hit = str(row.get("decision", "")).startswith(f"in {name}")
        if hit and unit:
            marked.add(unit)
    return marked, how


def _tested_layers(values: dict[str, pd.Series], baseline: pd.Series, lower: bool, alpha: float) -> set[str]:
    """One-sided paired t-tests of each layer against DF (lower for reinit, higher for freeze), Holm over layers."""
    units, pvalues = list(values), []
    for unit in units:
        d = paired_difference(values[unit], baseline)
        one_sided = math.nan if math.isnan(d.p) else (d.p / 2 if (d.t < 0) == lower else 1 - d.p / 2)
        pvalues.append(one_sided)
    return {u for u, p in zip(units, holm(pvalues)) if not math.isnan(p) and p < alpha}


@_register("fig3-layers", "Fig. 3")
def fig3_layers(ctx: TableContext) -> list[Output]:
    panels, provenance, hows = [], {}, set()
    for sweep in ctx.sources.sweeps:
        jobs = sweep.jobs
        base_runs = list(jobs.loc[jobs["experiment"] == "baseline", "run"])
        dataset = str(ctx.runs.set_index("run")["dataset"].get(base_runs[0], sweep.task)) if base_runs else sweep.task
        for kind in ("reinit", "freeze"):
            rows = jobs[jobs["experiment"] == kind]
            if rows.empty:
                continue
            values = {u: ctx.values(list(g["run"])) for u, g in rows.groupby("unit")}
            baseline = ctx.values(base_runs)
            found = marked_layers(sweep.selection, kind, ctx.alpha) if sweep.selection else None
            if found is None:
                marked = _tested_layers(values, baseline, lower=kind == "reinit", alpha=ctx.alpha)
                how = (f"one-sided paired t-test vs DF, Holm over layers, p < {ctx.alpha:g} (computed here: no "
                       "selection.json evidence)")
            else:
                marked, how = found
            hows.add(how)
            panels.append(LayerPanel(dataset, kind, values, baseline, marked))
            provenance.update({f"{dataset}: {experiment_name(kind, '', u, 'all')}": list(g["run"])
                               for u, g in rows.groupby("unit")})
            provenance[f"{dataset}: DF"] = base_runs
    if not panels:
        raise Skip("needs a sweep with reinit / freeze experiments (xprobe probe layers --experiments reinit,freeze)")
    return _scored_figure(ctx, "fig3-layers", "Figure 3: re-initialise / freeze one layer",
                          "Overall score when one layer is re-initialised before / frozen during fine-tuning; error "
                          "bars ± 1 std over seeds, dotted DF with its ± std band. Stars: "
                          f"{'; '.join(sorted(hows))}.", layer_figure(panels, mark_label="significant"), provenance)


@_register("fig-table1-groups", "Table 1 (as a figure)")
def fig_table1_groups(ctx: TableContext) -> list[Output]:
    table = T.table1_groups(ctx)[0]
    panels, provenance = [], {}
    for column in table.columns:
        base = table.cell("DF (baseline)", column)
        if base is None:
            continue
        diffs = {row: paired_difference(cell.values, base.values) for row in table.rows
                 if row != "DF (baseline)" and (cell := table.cell(row, column)) is not None}
        panels.append(GroupBars(column, diffs))
        provenance.update({f"{column}: {row}": table.cell(row, column).runs for row in diffs})
        provenance[f"{column}: DF"] = base.runs
    if not panels:
        raise Skip("the sweep has no finished DF baseline to compare the group experiments with")
    return _scored_figure(ctx, "fig-table1-groups", "Table 1 as a figure: group experiments vs DF",
                          "Group experiments of the layer sweep: the mean per-seed difference to DF (pairs by seed: "
                          "same head initialisation and data order) with its 95% Student-t interval; no whisker with "
                          "one seed or no variance.", group_bars_figure(panels), provenance)


@_register("fig4-last-k", "Fig. 4")
def fig4_last_k(ctx: TableContext) -> list[Output]:
    panels: dict[str, dict[str, list[str]]] = {}
    datasets = ctx.runs.set_index("run")["dataset"]
    for sweep in ctx.sources.sweeps:
        jobs = sweep.jobs[sweep.jobs["experiment"].isin(["baseline", "last-k"])]
        if not (jobs["experiment"] == "last-k").any():
            continue
        dataset = str(datasets.get(jobs["run"].iloc[0], sweep.task))
        panels[dataset] = {experiment_name(*keys): list(g["run"]) for keys, g in
                           jobs.groupby(["experiment", "label", "unit", "component"], sort=False)}
    if not panels:
        raise Skip("needs a sweep with last-k experiments (xprobe probe layers --experiments last-k)")
    return [Output("fig4-last-k", "Figure 4: the gap when fine-tuning only the last k layers",
                   _curve_caption(ctx, _all_runs(panels), "Gap over updates of DF and of fine-tuning only the last k "
                                  "layers (the embeddings and the layers below frozen)."),
                   figure=curves_figure(panels, "gap"),
                   provenance={f"{d}: {k}": v for d, s in panels.items() for k, v in s.items()})]


def _cka_panels(ctx: TableContext) -> dict[str, list[str]]:
    runs = ctx.runs[[RunFiles(r).cka.is_file() for r in ctx.runs["run"]]] if len(ctx.runs) else ctx.runs
    grouped = series(ctx.sources, runs)
    return {(d if len(g) == 1 else f"{d}: {s.label}"): s.runs for d, g in grouped.items() for s in g}


def _cka_outputs(ctx: TableContext, name: str, title: str, draw, what: str) -> list[Output]:
    panels = _cka_panels(ctx)
    if not panels:
        raise Skip("needs runs with cka.jsonl (xprobe probe cka)")
    return [Output(name, title, _curve_caption(ctx, _all_runs(panels), what), figure=draw(panels),
                   provenance=dict(panels))]


@_register("fig6-cka-lines", "Fig. 6")
def fig6_cka_lines(ctx: TableContext) -> list[Output]:
    return _cka_outputs(ctx, "fig6-cka-lines", "Figure 6: CKA to the pre-trained model per layer", cka_lines_figure,
                        "Linear CKA between each layer's hidden states and the pre-trained model's on the current "
                        "training batch, over updates.")


@_register("fig6-cka-heatmap", "Fig. 6 (heat map)")
def fig6_cka_heatmap(ctx: TableContext) -> list[Output]:
    return _cka_outputs(ctx, "fig6-cka-heatmap", "Figure 6 as a heat map: layer × update", cka_heatmap_figure,
                        "Linear CKA to the pre-trained model per layer (rows) and probe update (columns), mean over "
                        "seeds; one colour scale from 0 to 1.")


@_register("fig7-languages", "Fig. 7")
def fig7_languages(ctx: TableContext) -> list[Output]:
    panels = {(d if len(s) == 1 else f"{d}: {k}"): v for d, s in _df_series(ctx).items() for k, v in s.items()}
    if not panels:
        raise Skip("needs DF runs with evaluations (xprobe train direct)")
    sources = ctx.runs.set_index("run")["source_lang"]
    source_lang = str(sources.get(next(iter(panels.values()))[0], "en"))
    return [Output("fig7-languages", "Figure 7: each language's score over updates",
                   _curve_caption(ctx, _all_runs(panels), "Each language's score over updates under DF, languages "
                                  "ordered by their final score (legend: final mean); the source language thicker."),
                   figure=language_curves_figure(panels, source_lang), provenance=dict(panels))]


@_register("fig-policy-k", "new: the policies at work")
def fig_policy_k(ctx: TableContext) -> list[Output]:
    runs = ctx.runs[ctx.runs["method"].astype(str).str.match(r"^(slowfast|slow|fast)(:|$)")]
    picked: dict[str, str] = {}
    methods: dict[str, str] = {}
    for (dataset, method), group in runs.sort_values("seed").groupby(["dataset", "method"], sort=False):
        with_k = [r for r in group["run"] if any(c.startswith("K.") for c in step_series(r).columns)]
        if with_k:
            seed = ctx.runs.set_index("run").loc[with_k[0], "seed"]
            key = f"{dataset}: {method_name(method)} (seed {seed})"
            picked[key], methods[key] = with_k[0], str(method)
    if not picked:
        raise Skip("needs a slow-and-fast, FS or FF run (xprobe train slowfast / xprobe compare)")
    rank = {"slowfast": 0, "slow": 1, "fast": 2}  # all four policies first; variants (method:swap) last
    order = sorted(picked, key=lambda k: (rank.get(methods[k], 3), k))
    panels = {k: picked[k] for k in order[:3]}
    caption = ("The training loss of one policy run per panel (thin: every update; thick: running mean) with the "
               "updates in phase 2 shaded, and the learning-rate multiplier K of each optimizer group over updates "
               "(symmetric log scale), from steps.jsonl. S_I ∖ S_II and V_I ∖ V_II are the groups' disjoint parts."
               + (f" {len(picked) - 3} more policy runs not shown." if len(picked) > 3 else ""))
    return [Output("fig-policy-k", "The slow-and-fast policies at work: K and phase on the loss curve", caption,
                   figure=policy_figure(panels), provenance={k: [v] for k, v in panels.items()})]


@_register("fig-language-gains", "new: per-language gain over DF")
def fig_language_gains(ctx: TableContext) -> list[Output]:
    runs = zero_shot(at_centre(plain(ctx.runs[ctx.runs["finished"]])))[0]
    panels, provenance = [], {}
    for dataset, group in series(ctx.sources, runs[runs["swap"].isna()]).items():
        reference = next((s for s in group if s.method == "direct"), None)
        if reference is None:
            continue
        base_langs = ctx.language_values(reference.runs)
        base = {"target mean": ctx.values(reference.runs, "target_mean"), "overall": ctx.values(reference.runs)}
        gains = {}
        for other in (s for s in group if s is not reference and s.method != "direct"):
            langs = ctx.language_values(other.runs)
            rows = {lang: paired_difference(langs[lang], base_langs[lang]) for lang in langs.columns
                    if lang in base_langs}
            rows["target mean"] = paired_difference(ctx.values(other.runs, "target_mean"), base["target mean"])
            rows["overall"] = paired_difference(ctx.values(other.runs), base["overall"])
            if max(d.n for d in rows.values()) >= 2:
                gains[other.label] = rows
                provenance[f"{dataset}: {other.label}"] = other.runs
        if gains:
            source = str(ctx.runs.set_index("run").loc[reference.runs[0], "source_lang"])
            langs = sorted({lang for g in gains.values() for lang in g if lang not in base}, key=lambda x: (x != source, x))
            panels.append(ForestPanel(str(dataset), gains, [*langs, *base], summary_rows=list(base)))
            provenance[f"{dataset}: {reference.label}"] = reference.runs
    if not panels:
        raise Skip("needs finished DF runs and runs of another method on at least 2 shared seeds (xprobe compare)")
    return _scored_figure(ctx, "fig-language-gains", "Per-language gain over DF (forest plot)",
                          "Per-language gain of each method over DF: the mean of the per-seed differences (pairs by "
                          "seed) with its 95% Student-t interval; source language first, then the targets "
                          "alphabetically; diamonds: the target mean and the overall score.",
                          language_gain_figure(panels), provenance)


def _table_artefact(name: str, paper: str) -> None:
    def build(ctx: TableContext) -> list[Output]:
        return [Output(t.name, t.title, t.caption, table=t,
                       provenance={f"{row} / {column}": cell.runs for (row, column), cell in t.cells.items()})
                for t in T.TABLES[name](ctx)]
    _register(name, paper, "table")(build)


for _name, _paper in (("table1-groups", "Table 1"), ("table2-methods", "Table 2"),
                      ("table4-source-target", "Table 4"), ("table5-ablation", "Table 5"),
                      ("table6-reinit-groups", "Table 6"), ("table7-languages", "Table 7"),
                      ("table8-swaps", "Table 8")):
    _table_artefact(_name, _paper)


@dataclass
class BuildResult:
    """What :func:`build_artefacts` produced: outputs (with their files) and ``(name, reason)`` of the skipped."""

    sources: Sources
    outputs: list[Output]
    skipped: list[tuple[str, str]]
    score: ScoreSource


def build_artefacts(paths: list[str | Path], out: str | Path | None = None, *, only: list[str] | None = None,
                    score: ScoreSource | None = None, alpha: float = 0.05,
                    formats: tuple[str, ...] = FORMATS) -> BuildResult:
    """Draw every artefact (or ``only`` those) the runs under ``paths`` support; write them to ``out`` if given.

    Args:
        paths: run, sweep or comparison directories, or folders holding them.
        out: the folder for the files (figures: ``NAME.png/.pdf/.svg``; tables: ``NAME.csv/.md/.tex``).
        only: artefact names (:data:`ARTEFACTS`); default: all.
        score: the score the tables and bar charts report (default: best evaluation, dev split).
        alpha: the level of the tests behind bold values and marked layers.
        formats: figure formats.

    Raises:
        UserError: no runs under ``paths``, or an unknown artefact name.
    """
    unknown = sorted(set(only or []) - set(ARTEFACTS))
    if unknown:
        raise UserError(f"unknown figure/table {', '.join(unknown)}; choose from: {', '.join(ARTEFACTS)}")
    sources = collect_sources(list(paths))
    ctx = TableContext(sources, sources.runs_table(), score or ScoreSource(), alpha)
    outputs, skipped = [], []
    for name, artefact in ARTEFACTS.items():
        if only and name not in only:
            continue
        ctx.scored = ctx.unscored = 0
        try:
            built = artefact.build(ctx)
            if ctx.unscored and not ctx.scored:
                raise Skip(f"no run has a {ctx.score.name} record")
        except Skip as reason:
            skipped.append((name, str(reason)))
            continue
        for output in built:
            if out is not None:
                output.files = (save_figure(output.figure, Path(out) / output.name, formats)
                                if output.figure is not None else output.table.write(out))
            outputs.append(output)
    return BuildResult(sources, outputs, skipped, ctx.score)


def outputs_markdown(result: BuildResult, figures: str = "") -> list[str]:
    """Markdown lines of every output (a section each: image and caption, or the table) and the skipped ones.

    Args:
        result: what :func:`build_artefacts` drew (with its files written).
        figures: the folder of the PNG files, relative to where the Markdown lies ("" = the same folder).
    """
    lines = []
    for output in result.outputs:
        lines += [f"## {output.title}", ""]
        if output.figure is not None:
            image = f"{figures}/{output.name}.png" if figures else f"{output.name}.png"
            lines += [f"![{output.title}]({image})", "", output.caption, ""]
        else:
            lines += [output.table.to_markdown(), ""]
    lines += ["## Not drawn", ""]
    lines += [f"- `{name}` ({ARTEFACTS[name].paper}): {reason}" for name, reason in result.skipped] or ["- nothing"]
    return [*lines, ""]


def write_index(result: BuildResult, out: str | Path) -> Path:
    """``out/index.md``: every figure (image and caption) and table written to ``out``, then what was skipped."""
    lines = ["# Figures and tables", "", f"Tables report {result.score.describe()}.", "", *outputs_markdown(result)]
    path = Path(out) / "index.md"
    atomic_write_text(path, "\n".join(lines))
    return path
