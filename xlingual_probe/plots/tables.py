"""The paper's tables from run, sweep and comparison directories: Tables 1, 2, 4, 5, 6, 7 and 8.

Every number is read from the runs' ``summary.json`` under one :class:`~xlingual_probe.plots._scores.ScoreSource`
(default: the best evaluation on dev); each cell keeps its per-seed values, so the bold is a tested claim
(:mod:`xlingual_probe.plots.table`). Rows are the things compared, columns the conditions; the paper's
Tables 1, 5, 6 and 8 put datasets in rows, here they are columns so that "best per column" means the best
setting for a dataset.

=========  ==========================================  ===============================================
table      rows × columns                              from
=========  ==========================================  ===============================================
Table 1    DF + last-k, group-freeze, ×10 lr × dataset  sweeps (``--experiments last-k,group-freeze,lr-x10``)
Table 2    methods × (dataset, few-shot M)              comparisons (one per M)
Table 4    methods × (dataset, source / non-source)     comparisons, zero-shot; Δ vs DF in brackets
Table 5    c1 / c2 / r values × dataset                 comparisons differing in ``--c1/--c2/--r``
Table 6    DF + group re-initialisation × dataset       sweeps (``--experiments group-reinit``)
Table 7    methods × language (one table per dataset)   comparisons, zero-shot
Table 8    slow-and-fast and its swaps × dataset        comparisons with ``slowfast:<swap>`` methods
=========  ==========================================  ===============================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from xlingual_probe.plots._names import experiment_name, method_key
from xlingual_probe.plots._runsets import Series, at_centre, centre_setting, plain, series, zero_shot
from xlingual_probe.plots._scores import ScoreSource
from xlingual_probe.plots._sources import POLICY_HYPER, Sources
from xlingual_probe.plots.table import Table
from xlingual_probe.runs import BASELINE

__all__ = ["Skip", "TableContext", "caption_facts", "slug"]

SELECT_BY = {"overall": "the mean over all languages' dev sets (the paper's rule; it uses target-language data)",
             "source": "the source language's dev set (XTREME's rule)", "last": "the last evaluation"}
GROUP_FAMILIES = ("last-k", "group-freeze", "lr-x10")


class Skip(Exception):
    """An artefact the given runs cannot support; the message says why."""


def slug(text: str) -> str:
    """A file-name-safe form: ``"e5 xnli"`` → ``e5-xnli``."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


@dataclass
class TableContext:
    """What every builder reads: the sources, their runs table, the score source and the bold test's α."""

    sources: Sources
    runs: pd.DataFrame
    score: ScoreSource
    alpha: float = 0.05
    scored: int = 0  # runs read with / without a record of ``score`` (see :meth:`values`)
    unscored: int = 0

    def values(self, runs: list[str], column: str = "overall") -> pd.Series:
        """``column`` of each run's score record, indexed by the run's seed (runs without a record left out)."""
        scores, _, missing = self.sources.scores(runs, self.score)
        self.scored += len(scores)
        self.unscored += len(missing)
        seeds = self.runs.set_index("run").loc[list(scores["run"]), "seed"] if len(scores) else []
        return pd.Series(list(scores[column]), index=list(seeds), dtype=float)

    def language_values(self, runs: list[str]) -> pd.DataFrame:
        """Per-language scores of the runs: one column per language, indexed by seed."""
        _, langs, _ = self.sources.scores(runs, self.score)
        if langs.empty:
            return pd.DataFrame()
        seeds = self.runs.set_index("run")["seed"]
        langs = langs.assign(seed=langs["run"].map(seeds))
        return langs.pivot_table(index="seed", columns="lang", values="value", aggfunc="first")


def caption_facts(ctx: TableContext, runs: list[str]) -> str:
    """Seeds, metric, score record, checkpoint rule and split of ``runs`` as caption sentences."""
    table = ctx.runs[ctx.runs["run"].isin(runs)]
    seeds = sorted({int(s) for s in table["seed"].dropna()})
    metrics = sorted({str(m) for m in table["metric"].dropna()}) or ["score"]
    select = sorted({str(s) for s in table["select_by"].dropna()})
    rule = "; ".join(SELECT_BY.get(s, s) for s in select) or "not recorded"
    plural = "s" if len(seeds) != 1 else ""
    text = (f"Mean ± std (ddof 1) over seed{plural} {', '.join(map(str, seeds))} ({len(seeds)} seed{plural}; a cell's own "
            f"seeds are in the CSV). Metric: {', '.join(metrics)} (points, 0–100), from {ctx.score.describe()}; "
            f"checkpoint selected by {rule}.")
    if ctx.score.split == "dev" and ctx.score.record == "best" and not _reported_apart(ctx, runs):
        text += " The checkpoint is selected and reported on the same dev data (an optimistic estimate)."
    return text


def _reported_apart(ctx: TableContext, runs: list[str]) -> bool:
    """Whether the runs' best records say they were reported on data apart from the selection data (the
    training loop's records: chosen on ``selection_half``, reported on the reporting halves)."""
    for run in runs:
        summary = ctx.sources.runs[run].summary or {}
        record = summary.get("best") or {}
        if not any(key in record for key in ("selection_half", "split", "reported_on", "report_split")):
            return False
    return bool(runs)


def _unique_columns(labels: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Column names for (dataset, where) pairs: the dataset, with ``where`` added where datasets repeat."""
    names = [d for d, _ in labels]
    return {(d, w): d if names.count(d) == 1 else f"{d} ({w})" for d, w in labels}


def _sweep_table(ctx: TableContext, name: str, title: str, families: tuple[str, ...], what: str) -> Table:
    sweeps = [s for s in ctx.sources.sweeps if s.jobs["experiment"].isin(families).any()]
    if not sweeps:
        raise Skip(f"no sweep directory with {', '.join(families)} experiments (xprobe probe layers "
                   f"--experiments {','.join(families)})")
    datasets = ctx.runs.set_index("run")["dataset"]
    columns = _unique_columns([(str(datasets.get(s.jobs["run"].iloc[0], s.task)), s.path.name) for s in sweeps])
    rows: list[str] = []
    families_of: dict[str, str] = {}
    cells = []
    for sweep, column in zip(sweeps, columns.values()):
        jobs = sweep.jobs[sweep.jobs["experiment"].isin((BASELINE, *families))]
        for keys, group in jobs.groupby(["experiment", "label", "unit", "component"], sort=False):
            row = experiment_name(*keys)
            rows.append(row)
            families_of[row] = keys[0]
            cells.append((row, column, list(group["run"])))
    order = (BASELINE, *families)
    rows = sorted(dict.fromkeys(rows), key=lambda r: order.index(families_of[r]))  # stable: sweep order within
    table = Table(name, title, "", rows=rows, columns=list(columns.values()), row_header="experiment",
                  alpha=ctx.alpha)
    for row, column, runs in cells:
        table.set(row, column, ctx.values(runs), runs=runs)
    table.caption = f"{what} {caption_facts(ctx, [r for _, _, runs in cells for r in runs])}"
    return table


def table1_groups(ctx: TableContext) -> list[Table]:
    """Table 1: DF and the group experiments (fine-tune only the last k layers, freeze groups of the bottom
    layers, ×10 learning rate of the top layers), one column per dataset."""
    return [_sweep_table(ctx, "table1-groups", "Table 1: group experiments", GROUP_FAMILIES,
                         "Overall score of DF and of each group experiment of the layer sweep.")]


def table6_reinit_groups(ctx: TableContext) -> list[Table]:
    """Table 6: DF and re-initialising the whole layers / attention / feed-forward blocks of the bottom layers."""
    return [_sweep_table(ctx, "table6-reinit-groups", "Table 6: re-initialised groups", ("group-reinit",),
                         "Overall score of DF and of re-initialising groups of the bottom layers before fine-tuning.")]


def _method_runs(ctx: TableContext, with_swaps: bool = False) -> pd.DataFrame:
    runs = at_centre(plain(ctx.runs[ctx.runs["finished"]]))
    if not with_swaps:
        runs = runs[runs["swap"].isna()]
    if runs["method"].nunique() < 2:
        raise Skip("needs finished runs of at least two methods (xprobe compare --methods ...)")
    return runs


def _row_order(grouped: dict[Any, list[Series]]) -> list[str]:
    """Every series label, in the paper's method order."""
    method_of: dict[str, str] = {}
    for group in grouped.values():
        for s in group:
            method_of.setdefault(s.label, s.method)
    return sorted(method_of, key=lambda label: (method_key(method_of[label]), label))


def _series_runs(grouped: dict[Any, list[Series]]) -> list[str]:
    return [r for group in grouped.values() for s in group for r in s.runs]


def table2_methods(ctx: TableContext) -> list[Table]:
    """Table 2: overall score per method, per dataset and few-shot M."""
    grouped = series(ctx.sources, _method_runs(ctx), by=("dataset", "few_shot"))
    keys = sorted(grouped, key=lambda k: (str(k[0]), int(k[1])))
    columns = [f"{d} M = {m}" for d, m in keys]
    table = Table("table2-methods", "Table 2: methods, zero- and few-shot", "", rows=_row_order(grouped),
                  columns=columns, column_groups=[str(d) for d, _ in keys], row_header="method", alpha=ctx.alpha)
    for key, column in zip(keys, columns):
        for s in grouped[key]:
            table.set(s.label, column, ctx.values(s.runs), runs=s.runs)
    table.caption = (f"Overall score per method; M = few-shot examples per target language. "
                     f"{caption_facts(ctx, _series_runs(grouped))}")
    return [table]


def table4_source_target(ctx: TableContext) -> list[Table]:
    """Table 4: source and non-source (target mean) score per method, zero-shot, with the difference to DF."""
    runs, fallback = zero_shot(_method_runs(ctx))
    grouped = {d: g for d, g in series(ctx.sources, runs).items() if any(s.method == "direct" for s in g)}
    if not grouped:
        raise Skip("needs DF runs (method direct) next to the other methods")
    datasets = [str(d) for d in grouped]
    columns = [f"{d} {w}" for d in datasets for w in ("source", "non-source")]
    table = Table("table4-source-target", "Table 4: source vs non-source languages", "", rows=_row_order(grouped),
                  columns=columns, column_groups=[d for d in datasets for _ in range(2)], row_header="method",
                  alpha=ctx.alpha)
    for dataset, group in grouped.items():
        reference = next(s for s in group if s.method == "direct")
        for where, column in (("source", "source"), ("non-source", "target_mean")):
            base = ctx.values(reference.runs, column).mean()
            for s in group:
                values = ctx.values(s.runs, column)
                delta = None if s is reference else values.mean() - base
                table.set(s.label, f"{dataset} {where}", values, delta=delta, runs=s.runs)
    note = "".join(f" {d}: few-shot M = {m} (no zero-shot runs)." for d, m in fallback.items())
    table.caption = (f"Source-language and non-source (mean over target languages) scores; in brackets the "
                     f"difference of the means to DF.{note} {caption_facts(ctx, _series_runs(grouped))}")
    return [table]


def table5_ablation(ctx: TableContext) -> list[Table]:
    """Table 5: slow-and-fast with one of c1, c2, r moved from the central setting, per dataset."""
    runs = plain(ctx.runs[ctx.runs["finished"] & (ctx.runs["method"] == "slowfast")])
    runs = zero_shot(runs)[0]
    centre = centre_setting(runs)
    if not centre or all(pd.to_numeric(runs[k], errors="coerce").nunique() < 2 for k in POLICY_HYPER):
        raise Skip("needs slow-and-fast runs that differ in --c1, --c2 or --r (xprobe run analyses/table5-ablation.yaml)")
    rows, groups, cells = [], [], []
    for key in POLICY_HYPER:
        others = [k for k in POLICY_HYPER if k != key]
        here = at_centre(runs, {k: centre[k] for k in others if k in centre})
        values = sorted(pd.to_numeric(here[key], errors="coerce").dropna().unique())
        if len(values) < 2:
            continue
        block = []
        for value in values:
            row = f"{key} = {value:g}"
            block.append(row)
            chosen = here[pd.to_numeric(here[key], errors="coerce") == value]
            for dataset, group in series(ctx.sources, chosen).items():
                cells.append((row, str(dataset), group[0].runs))  # one run per seed (equal configs deduplicated)
        rows += block
        groups.append(block)
    datasets = list(dict.fromkeys(c for _, c, _ in cells))
    table = Table("table5-ablation", "Table 5: c1, c2 and r", "", rows=rows, columns=datasets, row_groups=groups,
                  row_header="setting", alpha=ctx.alpha)
    for row, column, run_list in cells:
        table.set(row, column, ctx.values(run_list), runs=run_list)
    fixed = ", ".join(f"{k} = {v:g}" for k, v in centre.items())
    table.caption = (f"Overall score of slow-and-fast with one hyper-parameter changed at a time, the others at "
                     f"the central setting ({fixed}); bold is decided within each hyper-parameter's rows. "
                     f"{caption_facts(ctx, [r for _, _, rs in cells for r in rs])}")
    return [table]


def table7_languages(ctx: TableContext) -> list[Table]:
    """Table 7: each language's score per method (one table per dataset), zero-shot."""
    runs, fallback = zero_shot(_method_runs(ctx))
    grouped = series(ctx.sources, runs)
    tables = []
    for dataset, group in grouped.items():
        per_series = {s.label: (s, ctx.language_values(s.runs)) for s in group}
        langs = sorted({lang for _, frame in per_series.values() for lang in frame.columns})
        name = "table7-languages" if len(grouped) == 1 else f"table7-languages-{slug(str(dataset))}"
        table = Table(name, f"Table 7: per language, {dataset}", "", rows=_row_order({dataset: group}),
                      columns=langs, row_header="method", alpha=ctx.alpha)
        for label, (s, frame) in per_series.items():
            for lang in frame.columns:
                table.set(label, lang, frame[lang], runs=s.runs)
        note = f" Few-shot M = {fallback[dataset]} (no zero-shot runs)." if dataset in fallback else ""
        table.caption = (f"Each language's score per method on {dataset}.{note} "
                         f"{caption_facts(ctx, [r for s in group for r in s.runs])}")
        tables.append(table)
    return tables


def table8_swaps(ctx: TableContext) -> list[Table]:
    """Table 8: slow-and-fast and its weight-set variants (``slowfast:<swap>``), per dataset."""
    runs = zero_shot(_method_runs(ctx, with_swaps=True))[0]
    runs = runs[runs["method"].astype(str).str.startswith("slowfast")]
    if runs["swap"].isna().all():
        raise Skip("needs slow-and-fast runs with Table-8 variants (xprobe compare --methods "
                   "slowfast,slowfast:only-S_I,...)")
    grouped = series(ctx.sources, runs)
    table = Table("table8-swaps", "Table 8: weight-set variants", "", rows=_row_order(grouped),
                  columns=[str(d) for d in grouped], row_header="method", alpha=ctx.alpha)
    for dataset, group in grouped.items():
        for s in group:
            table.set(s.label, str(dataset), ctx.values(s.runs), runs=s.runs)
    table.caption = (f"Overall score of slow-and-fast and of its variants that move policies between the weight "
                     f"sets (only-S_I: policies I and II on S_I only, swap-S: policy I on S_II and II on S_I, and "
                     f"the same for V). {caption_facts(ctx, _series_runs(grouped))}")
    return [table]


TABLES = {"table1-groups": table1_groups, "table2-methods": table2_methods, "table4-source-target": table4_source_target,
          "table5-ablation": table5_ablation, "table6-reinit-groups": table6_reinit_groups,
          "table7-languages": table7_languages, "table8-swaps": table8_swaps}
