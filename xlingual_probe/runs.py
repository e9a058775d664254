"""The run directory and the sweep directory: the contract between training, probes, selection and figures.

Every fine-tuning run writes one folder, through one :class:`RunWriter`; everything downstream reads
only these files (metrics on a 0–100 scale, steps counted in optimizer updates, 1-based)::

    config.json        written first. Keys: ``schema_version``, ``numerics_version`` (see
                       :data:`NUMERICS_VERSION`), ``config`` (the resolved TrainConfig), ``seed``, ``versions`` (python and package versions), ``git`` (commit, dirty),
                       ``device`` (type, number of processes, CPU threads), ``data`` (metric, languages,
                       train_examples, train_features, max_length, eval_examples per language),
                       ``training`` (total_steps, warmup_steps, steps_per_epoch, trainable_parameters,
                       frozen_parameters, model_family, num_layers); extra keys when present:
                       ``selection`` (policy methods: the weight sets used), ``sweep`` (a sweep job's
                       identity), ``cka_probe`` (the CKA probe's options).
    steps.jsonl        one object per update: ``step``, ``loss`` (full precision, the value a policy
                       was fed), ``lr`` (the scheduled rate before multipliers); with parameter
                       groups also ``group_lr`` {group: rate}; policy runs add ``phase``, ``phi``, ``K``.
    metrics.jsonl      one object per evaluation: ``step``, ``loss`` (mean training loss since the
                       previous evaluation; ``null`` at step 0), ``metrics`` {lang: primary metric},
                       ``source``, ``target_mean``, ``overall``, ``gap`` (= source − target_mean),
                       ``details`` {lang: {metric: value}} and ``eval_seconds``.
    param_groups.csv   columns ``group``, ``parameter``: the optimizer group (weight set, ``/no_decay``
                       for its undecayed part) of every trainable parameter; ``group_lr`` in
                       steps.jsonl gives each group's rate.
    summary.json       written last (its presence means the run ended): ``status`` (:data:`RUN_STATUSES`;
                       absent = ``finished``), and for a finished run ``best`` and ``final``
                       (evaluation records as in metrics.jsonl), ``select_by``, ``wall_seconds``,
                       ``train_seconds``, ``eval_seconds``, ``method``, ``seed``, ``steps``; policy
                       runs add ``phase2_updates`` (updates spent in phase 2). A run that raised
                       has ``status: error``, ``error`` (the last error line), ``traceback`` and ``key``
                       (the run identity it was made for); executors do not retry it unless asked to.
    checkpoints/last/  resumable state (Accelerate state: model safetensors, optimizer, RNG;
                       ``trainer_state.json``); present while a run can be resumed.
    checkpoints/best/  the best evaluation's weights (safetensors) and tokenizer, if kept.
    cka.jsonl          (CKA probe) one object per layer and probe step: ``step``, ``layer`` (0 = bottom
                       layer's output), ``cka`` (null when undefined), ``pooling``, ``debiased``,
                       ``n`` (rows compared), ``cka_seconds`` (the probe's time at that step);
                       ``config.json`` then has a ``cka_probe`` key with the probe's options.

A layer sweep (``xprobe probe layers``) writes a sweep directory::

    sweep.json         written before any run: ``schema_version``, ``options`` (the sweep's own options),
                       ``train`` (the shared training options), ``num_layers``, ``jobs`` (experiment,
                       label, unit, component, seed, key, run, freeze, reinit, lr_scale).
    runs/              one run directory per distinct (config, seed): ``<label>-seed<k>-<key>``.
    results.csv        one row per finished job (:data:`RESULT_COLUMNS`), see :func:`summarise_sweep`.
    summary.csv, summary.md, layers.png   the sweep's tables and figure (from the finished runs;
                       summary.md lists the runs that are missing).
    status.txt         while and after the runs execute: done / running / pending / failed runs with
                       their keys, and each failed run's last error line.
    logs/              executor logs (worker output, Slurm job logs), when the executor writes any.

>>> RunFiles("runs/x").metrics.name
'metrics.jsonl'
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import pandas as pd

from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import (
    append_jsonl,
    atomic_write_json,
    atomic_write_text,
    read_json,
    read_jsonl,
    truncate_jsonl,
)

SCHEMA_VERSION = 1
# Bumped by every code change that alters the numbers a run produces (losses, metrics, CKA): a run
# directory written under another numerics version is never resumed or reused (runs written before
# the key existed count as version 1).
NUMERICS_VERSION = 1
SWEEP_SCHEMA_VERSION = 1
# ``summary.json``'s ``status``: the run ended normally / stopped on a non-finite loss / raised an exception
FINISHED, DIVERGED, ERROR = "finished", "diverged", "error"
RUN_STATUSES = (FINISHED, DIVERGED, ERROR)
BASELINE = "baseline"  # the sweep's DF experiment, the reference of every selection rule
METRICS = ("overall", "source", "target_mean", "gap")
RESULT_COLUMNS = (["experiment", "label", "unit", "component", "seed", "run"]
                  + [f"{w}_{k}" for w in ("best", "final") for k in ("step",) + METRICS])


class EvalRecord(TypedDict):
    """One line of ``metrics.jsonl``."""

    step: int
    loss: float | None
    metrics: dict[str, float]
    source: float
    target_mean: float | None
    overall: float
    gap: float | None
    details: dict[str, dict[str, float]]
    eval_seconds: float


class _PolicySummary(TypedDict, total=False):
    phase2_updates: int  # policy runs only


class Summary(_PolicySummary):
    """``summary.json`` (``phase2_updates`` only in policy runs)."""

    best: EvalRecord
    final: EvalRecord
    select_by: str
    wall_seconds: float
    train_seconds: float
    eval_seconds: float
    method: str
    seed: int
    steps: int


@dataclass(frozen=True)
class RunFiles:
    """Paths of the files of one run directory."""

    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root))

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def steps(self) -> Path:
        return self.root / "steps.jsonl"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def param_groups(self) -> Path:
        return self.root / "param_groups.csv"

    @property
    def cka(self) -> Path:
        return self.root / "cka.jsonl"

    @property
    def last_checkpoint(self) -> Path:
        return self.root / "checkpoints" / "last"

    @property
    def best_checkpoint(self) -> Path:
        return self.root / "checkpoints" / "best"

    def is_finished(self) -> bool:
        """The run ended: ``summary.json`` exists (whatever its :meth:`status`)."""
        return self.summary.is_file()

    def status(self) -> str | None:
        """``summary.json``'s ``status`` (``finished`` when the key is absent); ``None`` without a summary."""
        return read_json(self.summary).get("status", FINISHED) if self.is_finished() else None


class RunWriter:
    """Writes the files of one run directory: the loop, :class:`~xlingual_probe.probes.hf_callback.GapCallback`
    and the Trainer policy adapter all write through it. JSONL records are appended and flushed one
    at a time; ``config.json``, ``param_groups.csv`` and ``summary.json`` are written atomically.

    Args:
        root: the run directory.
        enabled: ``False`` on the non-main processes of a multi-process run (nothing is written).
    """

    LOGS = ("steps", "metrics", "cka")

    def __init__(self, root: str | Path, enabled: bool = True):
        self.files = RunFiles(root)
        self.enabled = enabled

    def start(self, run_info: dict[str, Any] | None = None) -> None:
        """A fresh run: drop earlier logs and summary, then write ``config.json`` (when given)."""
        if not self.enabled:
            return
        self.files.root.mkdir(parents=True, exist_ok=True)
        for path in [getattr(self.files, log) for log in self.LOGS] + [self.files.summary]:
            path.unlink(missing_ok=True)
        if run_info is not None:
            atomic_write_json(self.files.config, run_info)

    def resume_at(self, step: int) -> None:
        """A resumed run: drop the records logged after ``step`` (those updates are redone) and the summary."""
        if not self.enabled:
            return
        for path in (getattr(self.files, log) for log in self.LOGS):
            if path.is_file():
                truncate_jsonl(path, [r for r in read_jsonl(path) if r["step"] <= step])
        self.files.summary.unlink(missing_ok=True)

    def write_param_groups(self, group_names: dict[str, list[str]]) -> None:
        """``param_groups.csv``: one ``group,parameter`` row per trainable parameter."""
        if not self.enabled:
            return
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["group", "parameter"])
        for group, names in group_names.items():
            writer.writerows([group, name] for name in names)
        atomic_write_text(self.files.param_groups, out.getvalue())

    def append(self, log: str, record: dict[str, Any]) -> None:
        """Append one record to ``steps``, ``metrics`` or ``cka`` (``.jsonl``)."""
        if log not in self.LOGS:
            raise ValueError(f"unknown log {log!r}; one of {', '.join(self.LOGS)}")
        if self.enabled:
            self.files.root.mkdir(parents=True, exist_ok=True)
            append_jsonl(getattr(self.files, log), record)

    def write_summary(self, summary: dict[str, Any]) -> None:
        """``summary.json``, written last: its presence means the run finished."""
        if self.enabled:
            atomic_write_json(self.files.summary, summary)


def summarise_scores(scores: dict[str, float], source_lang: str) -> dict[str, float | None]:
    """Source, target mean, overall (mean over all languages) and gap from per-language scores.

    >>> summarise_scores({"en": 90.0, "de": 80.0, "sw": 60.0}, "en")
    {'source': 90.0, 'target_mean': 70.0, 'overall': 76.66666666666667, 'gap': 20.0}
    """
    source = scores[source_lang]
    targets = [v for lang, v in scores.items() if lang != source_lang]
    target_mean = sum(targets) / len(targets) if targets else None
    return {
        "source": source,
        "target_mean": target_mean,
        "overall": sum(scores.values()) / len(scores),
        "gap": None if target_mean is None else source - target_mean,
    }


@dataclass
class Runs:
    """The tables of one or more run directories (``load_runs``). Each row carries ``run`` (the folder)."""

    configs: pd.DataFrame  # one row per run: flattened config + seed + method
    steps: pd.DataFrame  # one row per update
    metrics: pd.DataFrame  # one row per (evaluation, language): step, lang, value, source, ..., gap
    summaries: pd.DataFrame  # one row per finished run: best_/final_ overall, source, target_mean, gap
    cka: pd.DataFrame  # one row per (probe step, layer), empty when no CKA was recorded


def _run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    found = []
    for path in map(Path, paths):
        if (path / "config.json").is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p.parent for p in path.rglob("config.json") if "checkpoints" not in p.parts))
        else:
            raise UserError(f"not a run directory: {path}")
    if not found:
        raise UserError("no run directories (folders with a config.json) found")
    return found


def load_runs(paths: str | Path | Iterable[str | Path]) -> Runs:
    """Read run directories (or folders containing them) into pandas DataFrames.

    Args:
        paths: a run directory, a folder of run directories (searched recursively), or several.

    Returns:
        A :class:`Runs` of DataFrames; metrics are in long form (one row per language).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    configs, steps, metrics, summaries, cka = [], [], [], [], []
    for run in _run_dirs(paths):
        files = RunFiles(run)
        cfg = read_json(files.config)
        configs.append({"run": str(run), "seed": cfg.get("seed"), **cfg.get("config", {})})
        if files.steps.is_file():
            steps.extend({"run": str(run), **r} for r in read_jsonl(files.steps))
        if files.metrics.is_file():
            for rec in read_jsonl(files.metrics):
                common = {k: rec.get(k) for k in ("step", "loss", "source", "target_mean", "overall", "gap")}
                for lang, value in rec["metrics"].items():
                    metrics.append({"run": str(run), **common, "lang": lang, "value": value})
        if files.status() == FINISHED:
            summary = read_json(files.summary)
            row = {"run": str(run), "method": summary.get("method"), "seed": summary.get("seed"),
                   "wall_seconds": summary.get("wall_seconds")}
            for which in ("best", "final"):
                for key in ("step", "source", "target_mean", "overall", "gap"):
                    row[f"{which}_{key}"] = summary[which].get(key)
            summaries.append(row)
        if files.cka.is_file():
            cka.extend({"run": str(run), **r} for r in read_jsonl(files.cka))
    return Runs(*(pd.DataFrame(rows) for rows in (configs, steps, metrics, summaries, cka)))


def summarise_sweep(sweep_dir: str | Path) -> pd.DataFrame:
    """One row per finished job of ``sweep.json`` (:data:`RESULT_COLUMNS`; ``run`` relative to the sweep).

    Jobs whose run has not finished (not started, running, interrupted, diverged, error) are left out,
    so the table can be read while (or after) a sweep runs or is interrupted.

    Raises:
        UserError: ``sweep_dir`` has no ``sweep.json``.
    """
    sweep_dir = Path(sweep_dir)
    if not (sweep_dir / "sweep.json").is_file():
        raise UserError(f"not a sweep directory (no sweep.json): {sweep_dir}")
    rows = []
    for job in read_json(sweep_dir / "sweep.json")["jobs"]:
        files = RunFiles(sweep_dir / job["run"])
        if files.status() != FINISHED:
            continue
        summary = read_json(files.summary)
        row = {k: job[k] for k in ("experiment", "label", "unit", "component", "seed", "run")}
        for which in ("best", "final"):
            for key in ("step",) + METRICS:
                row[f"{which}_{key}"] = summary[which].get(key)
        rows.append(row)
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)
