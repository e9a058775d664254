"""What the figures and tables read: run, sweep and comparison directories found under the given paths.

Every paper artefact is drawn from files only (:mod:`xlingual_probe.runs` is the contract): run directories
(``config.json``, ``metrics.jsonl``, ``steps.jsonl``, ``cka.jsonl``, ``summary.json``), sweep directories
(``sweep.json``: which run is which experiment), comparison directories (``compare.json``: which run is
which method) and selection files (``selection.json``). :func:`collect_sources` walks the given paths
once and returns them all; :meth:`Sources.runs_table` is one row per run with everything the artefacts
filter and group on (task, method, seed, few-shot M, the slow-and-fast hyper-parameters, the sweep
experiment, the command that made it).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from xlingual_probe.plots._scores import SCORES, ScoreMissing, ScoreSource, number
from xlingual_probe.runs import BASELINE, RunFiles
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import read_json

__all__ = ["Comparison", "Run", "Sources", "Sweep", "collect_sources", "command_text"]

POLICY_HYPER = ("c1", "c2", "r")


@dataclass
class Run:
    """One run directory: its ``config.json`` and, when finished, its ``summary.json``."""

    path: Path
    info: dict[str, Any]
    summary: dict[str, Any] | None

    @property
    def config(self) -> dict[str, Any]:
        return self.info.get("config") or {}

    @property
    def files(self) -> RunFiles:
        return RunFiles(self.path)


@dataclass
class Sweep:
    """A sweep directory: ``sweep.json`` and its jobs (experiment, label, unit, component, seed, run path)."""

    path: Path
    plan: dict[str, Any]
    jobs: pd.DataFrame
    selection: dict[str, Any] | None = None
    selection_path: Path | None = None

    @property
    def task(self) -> str:
        return str(self.plan.get("train", {}).get("task"))


@dataclass
class Comparison:
    """A comparison directory: ``compare.json`` and the run directories of each method."""

    path: Path
    plan: dict[str, Any]
    runs: dict[str, list[Path]]


@dataclass
class Sources:
    """Everything found under the input paths."""

    inputs: list[Path]
    runs: dict[str, Run] = field(default_factory=dict)
    sweeps: list[Sweep] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    selections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def run(self, path: str | Path) -> Run:
        return self.runs[str(Path(path).resolve())]

    def runs_table(self) -> pd.DataFrame:
        """One row per run: ``run`` (resolved path), ``task``, ``model``, ``method``, ``seed``, ``few_shot``,
        ``c1``/``c2``/``r``/``swap`` (policy runs), ``modified`` (freeze / reinit / lr_scale), ``sweep``,
        ``experiment``, ``label``, ``unit``, ``component``, ``comparison``, ``finished``, ``select_by``,
        ``source_lang``, ``metric``, ``dataset`` (the column label: the task, with the model when several)."""
        by_run: dict[str, dict[str, Any]] = {}
        for sweep in self.sweeps:
            for job in sweep.jobs.to_dict("records"):
                by_run.setdefault(job["run"], {"sweep": str(sweep.path), **{
                    k: job[k] for k in ("experiment", "label", "unit", "component")}})
        in_comparison = {str(p): str(c.path) for c in self.comparisons for paths in c.runs.values() for p in paths}
        rows = []
        for key, run in self.runs.items():
            cfg = run.config
            policy = cfg.get("slowfast") or {}
            rows.append({
                "run": key, "task": cfg.get("task"), "model": cfg.get("model"), "method": cfg.get("method", "direct"),
                "seed": run.info.get("seed", cfg.get("seed")), "few_shot": int(cfg.get("few_shot") or 0),
                **{k: policy.get(k) for k in POLICY_HYPER}, "swap": policy.get("swap"),
                "modified": bool(cfg.get("freeze") or cfg.get("reinit") or cfg.get("lr_scale")),
                "sweep": "", "experiment": "", "label": "", "unit": "", "component": "",
                **by_run.get(key, {}), "comparison": in_comparison.get(key, ""),
                "finished": run.summary is not None,
                "select_by": (run.summary or {}).get("select_by", cfg.get("select_by")),
                "source_lang": cfg.get("source_lang", "en"), "metric": (run.info.get("data") or {}).get("metric"),
                "eval_every": cfg.get("eval_every"),
            })
        columns = ["run", "task", "model", "method", "seed", "few_shot", *POLICY_HYPER, "swap", "modified", "sweep",
                   "experiment", "label", "unit", "component", "comparison", "finished", "select_by", "source_lang",
                   "metric", "eval_every"]
        table = pd.DataFrame(rows, columns=columns)
        several_models = table["model"].nunique() > 1
        table["dataset"] = [f"{_short(m)} {t}" if several_models else str(t)
                            for m, t in zip(table["model"], table["task"])]
        return table

    def scores(self, runs: list[str], source: ScoreSource) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
        """The scores of ``runs`` under ``source``.

        Returns:
            ``(scores, languages, missing)``: one row per run (``run``, source, target_mean, overall, gap),
            one row per (run, ``lang``, ``value``), and the runs without such a record (unfinished, or no
            test record).
        """
        rows, langs, missing = [], [], []
        for key in runs:
            run = self.runs[key]
            try:
                if run.summary is None:
                    raise ScoreMissing("unfinished")
                record = source.record_of(run.summary)
            except ScoreMissing:
                missing.append(key)
                continue
            rows.append({"run": key, **{k: number(record.get(k)) for k in SCORES}})
            langs += [{"run": key, "lang": lang, "value": number(v)} for lang, v in record["metrics"].items()]
        return (pd.DataFrame(rows, columns=["run", *SCORES]), pd.DataFrame(langs, columns=["run", "lang", "value"]),
                missing)


def _short(model: Any) -> str:
    return Path(str(model)).name or str(model)


def command_text(info: dict[str, Any]) -> str | None:
    """The command line recorded in a run's ``config.json`` (``command.argv``), shell-quoted; ``None`` if absent."""
    command = info.get("command")
    argv = command.get("argv") if isinstance(command, dict) else None
    if not argv:
        return None
    argv = [str(a) for a in argv]
    if Path(argv[0]).name in ("xprobe", "xlingual-probe"):
        argv[0] = Path(argv[0]).name
    return shlex.join(argv)


def _read_json_or_none(path: Path) -> dict[str, Any] | None:
    try:
        value = read_json(path)
    except (OSError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _find(paths: list[Path], name: str) -> list[Path]:
    found = []
    for path in paths:
        if (path / name).is_file():
            found.append(path)
        if path.is_dir():
            found += [p.parent for p in sorted(path.rglob(name)) if "checkpoints" not in p.parts and p.parent != path]
    return sorted(set(found))


def _sweep_jobs(path: Path, plan: dict[str, Any]) -> pd.DataFrame:
    rows = [{"experiment": j.get("experiment"), "label": j.get("label"), "unit": str(j.get("unit") or ""),
             "component": str(j.get("component") or ""), "seed": j.get("seed"),
             "run": str((path / j["run"]).resolve())} for j in plan.get("jobs", []) if "run" in j]
    return pd.DataFrame(rows, columns=["experiment", "label", "unit", "component", "seed", "run"])


def _comparison_runs(path: Path, plan: dict[str, Any]) -> dict[str, list[Path]]:
    """``compare.json``'s runs; a path that moved with the folder is found under the comparison directory."""
    out: dict[str, list[Path]] = {}
    for method, paths in (plan.get("runs") or {}).items():
        resolved = []
        for text in paths:
            candidate = Path(text)
            if not (candidate / "config.json").is_file():
                candidate = path / candidate.parent.name / candidate.name
            if (candidate / "config.json").is_file():
                resolved.append(candidate.resolve())
        out[method] = resolved
    return out


def _selection_for(sweep: Path, selections: dict[str, dict[str, Any]]) -> tuple[dict[str, Any] | None, Path | None]:
    """The selection made from ``sweep``: its own ``selection.json``, one beside it (``--sets auto``), or one
    whose ``sweep`` key names it."""
    for candidate in (sweep / "selection.json", sweep.parent / "selection.json"):
        key = str(candidate.resolve())
        if key in selections:
            return selections[key], candidate
    for key, selection in selections.items():
        named = selection.get("sweep")
        if named and Path(str(named)).resolve() == sweep.resolve():
            return selection, Path(key)
    return None, None


def collect_sources(paths: list[str | Path]) -> Sources:
    """Find every run, sweep, comparison and selection under ``paths`` (each searched recursively).

    Raises:
        UserError: a path that does not exist, or no run directory at all.
    """
    inputs = [Path(p) for p in paths]
    for path in inputs:
        if not path.exists():
            raise UserError(f"not found: {path}")
    sources = Sources(inputs=inputs)
    for folder in _find(inputs, "selection.json"):
        selection = _read_json_or_none(folder / "selection.json")
        if selection is not None and "sets" in selection:
            sources.selections[str((folder / "selection.json").resolve())] = selection
    for folder in _find(inputs, "config.json"):
        info = _read_json_or_none(folder / "config.json")
        if info is None or "config" not in info:
            continue
        files = RunFiles(folder)
        summary = _read_json_or_none(files.summary) if files.is_finished() else None
        sources.runs[str(folder.resolve())] = Run(folder.resolve(), info, summary)
    if not sources.runs:
        raise UserError("no run directories (folders with a config.json) under " + ", ".join(map(str, inputs)))
    for folder in _find(inputs, "sweep.json"):
        plan = _read_json_or_none(folder / "sweep.json")
        if plan is None:
            continue
        selection, where = _selection_for(folder, sources.selections)
        sources.sweeps.append(Sweep(folder.resolve(), plan, _sweep_jobs(folder, plan), selection, where))
    for folder in _find(inputs, "compare.json"):
        plan = _read_json_or_none(folder / "compare.json")
        if plan is not None:
            sources.comparisons.append(Comparison(folder.resolve(), plan, _comparison_runs(folder, plan)))
    return sources


def is_plain(row: pd.Series) -> bool:
    """A run of a fine-tuning method as such: not a sweep's model change (the sweep's DF baseline counts)."""
    return not row["modified"] and row["experiment"] in ("", BASELINE)
