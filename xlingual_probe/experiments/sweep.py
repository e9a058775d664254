"""The layer sweep (``xprobe probe layers``): fine-tune once per model change and seed, then tabulate.

Context:
    SPEC "Probes" 2 and 3: for each layer, re-initialise it / freeze it; for groups of layers,
    freeze / re-initialise their attention, feed-forward or whole blocks, fine-tune only the last k
    layers, or raise their learning rate ×10. Each change is compared with plain fine-tuning (DF)
    over the same seeds. :mod:`~xlingual_probe.experiments.catalogue` lists what each experiment
    changes; this module turns experiments × seeds into jobs, runs them, and summarises them.

The sweep directory (its reading side, :func:`~xlingual_probe.runs.summarise_sweep`, is in
:mod:`xlingual_probe.runs`)::

    sweep.json     written before any run: ``schema_version``, ``options`` (the SweepConfig without
                   ``train``), ``train`` (the shared training options), ``num_layers``, ``jobs``
                   (experiment, label, unit, component, seed, key, run, freeze, reinit, lr_scale).
    runs/          one run directory per distinct run identity (config with seed, data fingerprint,
                   numerics version: :mod:`xlingual_probe.training.identity`):
                   ``<label>-seed<k>-<key>`` with key = :func:`~xlingual_probe.training.identity.identity_key`.
                   A re-run with the same options and data reuses finished runs and resumes
                   unfinished ones; after a data or code change that alters numbers the runs get new
                   keys (the old folders are kept, never reused) and the sweep says why; the baseline
                   is one run per seed.
    results.csv    one row per complete (finished or diverged) job (:data:`RESULT_COLUMNS`).
    summary.csv    one row per experiment: seeds, mean / std of best_ (the selected checkpoint) and
                   final_ overall, source, target_mean and gap, all on the reporting halves, and the
                   difference of the means to the baseline (``*_delta``).
    summary.md     the same as a table of ``mean ± std`` next to the baseline, with the protocol, and the
                   jobs whose run has no result (error, interrupted or not run), which the tables leave out.
    layers.png     overall vs layer for reinit and freeze, baseline dotted (when either ran).
    status.txt     the executor's view of the runs while they execute (done / running / pending / failed).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from xlingual_probe.experiments.catalogue import EXPERIMENTS, Experiment, build_experiments, parse_experiments
from xlingual_probe.experiments.executor import Executor, RunJob, SequentialExecutor
from xlingual_probe.models.units import count_layers
from xlingual_probe.reporting import format_signed, format_values, markdown_table, protocol_caption
from xlingual_probe.runs import (
    BASELINE,
    METRICS,
    RESULT_STATUSES,
    SWEEP_SCHEMA_VERSION,
    differing_keys,
    summarise_sweep,
    sweep_job_status,
)
from xlingual_probe.training.config import TrainConfig, check_seeds
from xlingual_probe.training.identity import identity_key, identity_mismatch, run_identity
from xlingual_probe.training.model_selection import SELECT_BY
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import atomic_write_json, atomic_write_text, read_json


@dataclass
class SweepConfig:
    """Everything that defines a layer sweep.

    Attributes:
        train: TrainConfig values shared by every run (``out`` and ``seed`` are set per job).
        out: the sweep directory.
        seeds: training seeds; every experiment and the baseline run once per seed.
        experiments: experiment families (:data:`~xlingual_probe.experiments.catalogue.EXPERIMENTS`).
        layers: layers of the per-layer experiments (unit syntax, e.g. ``all``, ``0-3``, ``top2``).
        include_embeddings: also re-initialise / freeze the embeddings as one more unit.
        bottom_set: the layer set of the group freeze / re-initialise experiments.
        top_set: the layer set of the learning-rate experiments.
        last_k: the k of "fine-tune only the last k layers".
        lr_factor: the learning-rate multiplier of the ``lr-x10`` experiments.
    """

    train: dict[str, Any]
    out: str
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3, 4])
    experiments: list[str] = field(default_factory=lambda: list(EXPERIMENTS))
    layers: str = "all"
    include_embeddings: bool = False
    bottom_set: str = "bottom4"
    top_set: str = "top2"
    last_k: list[int] = field(default_factory=lambda: [1, 2, 3])
    lr_factor: float = 10.0

    def __post_init__(self) -> None:
        self.experiments = parse_experiments(self.experiments)
        check_seeds(self.seeds)

    @property
    def options(self) -> dict[str, Any]:
        """The sweep's own options (everything but ``train``)."""
        return {k: v for k, v in asdict(self).items() if k != "train"}


@dataclass
class SweepJob:
    """One fine-tuning run of a sweep: an experiment at one seed, with its full TrainConfig."""

    experiment: str
    label: str
    unit: str
    component: str
    seed: int
    key: str
    config: TrainConfig
    stale: str | None = None  # why an earlier run of this experiment and seed is not reused (None: none)

    @property
    def run_dir(self) -> Path:
        return Path(self.config.out)

    def describe(self) -> dict[str, Any]:
        """The job's identity and model changes (stored in ``sweep.json`` and each run's ``config.json``)."""
        return {"experiment": self.experiment, "label": self.label, "unit": self.unit,
                "component": self.component, "seed": self.seed, "key": self.key,
                "freeze": self.config.freeze, "reinit": self.config.reinit, "lr_scale": self.config.lr_scale}

    def run_job(self, cka_probe: dict[str, Any] | None = None) -> RunJob:
        """The fine-tuning run of this job (resumable; ``sweep`` recorded in its ``config.json``)."""
        return RunJob(self.config, label=self.label, extra_config={"sweep": self.describe()}, cka_probe=cka_probe)


def _find_run_dir(runs_dir: Path, seed: int, key: str) -> Path | None:
    # a run made under another label (another experiment selection) with the same identity is reused
    found = sorted(runs_dir.glob(f"*-seed{seed}-{key}")) if runs_dir.is_dir() else []
    return found[0] if found else None


def _stale_reason(runs_dir: Path, label: str, seed: int, identity: dict[str, Any]) -> str | None:
    """Why the latest earlier run of ``label`` at ``seed`` (another key) is not this run, or None."""
    earlier = sorted(runs_dir.glob(f"{label}-seed{seed}-*"), key=lambda p: p.stat().st_mtime) if runs_dir.is_dir() else []
    for run in reversed(earlier):
        reasons = identity_mismatch(run, identity)
        if reasons:
            return f"{label} seed {seed}: runs anew, not reusing {run.name} ({'; '.join(reasons)})"
    return None


def sweep_configs(config: SweepConfig, num_layers: int) -> list[tuple[Experiment, TrainConfig]]:
    """Every (experiment, TrainConfig) of the sweep, seed-major, before any data is read (``out`` empty).

    Raises:
        UserError: an invalid option (layer set, k, training option).
    """
    experiments = build_experiments(config.experiments, num_layers, layers=config.layers,
                                    include_embeddings=config.include_embeddings, bottom_set=config.bottom_set,
                                    top_set=config.top_set, last_k=config.last_k, lr_factor=config.lr_factor)
    base = {k: v for k, v in config.train.items() if k not in ("out", "seed")}
    return [(exp, TrainConfig.from_dict({**base, "seed": seed, "out": "",
                                         "freeze": list(base.get("freeze") or []) + exp.freeze,
                                         "reinit": list(base.get("reinit") or []) + exp.reinit,
                                         "lr_scale": {**(base.get("lr_scale") or {}), **exp.lr_scale}}))
            for seed in config.seeds for exp in experiments]


def plan_sweep(config: SweepConfig, num_layers: int) -> list[SweepJob]:
    """The jobs of a sweep: the baseline and every experiment, once per seed (seed-major order).

    Each experiment's units are added to the base ``freeze`` / ``reinit`` / ``lr_scale``. A job's
    key is its run identity (:func:`~xlingual_probe.training.identity.run_identity`: config, data
    fingerprint, numerics version; the data are loaded and hashed once per data configuration); jobs
    with the same identity share one run directory, so the baseline runs once per seed. A job whose
    label and seed have an earlier run under another key says why in ``stale``.

    Args:
        config: the sweep.
        num_layers: the model's number of layers (:func:`~xlingual_probe.models.count_layers`).

    Returns:
        The jobs, each with its final TrainConfig (``out`` = its run directory).

    Raises:
        UserError: an invalid option (layer set, k, training option) or data that cannot be loaded.
    """
    runs_dir = Path(config.out) / "runs"
    jobs, dirs = [], {}
    for exp, train_config in sweep_configs(config, num_layers):
        seed = train_config.seed
        identity = run_identity(train_config)
        key = identity_key(identity)
        stale = None
        if key not in dirs:
            dirs[key] = _find_run_dir(runs_dir, seed, key)
            if dirs[key] is None:
                dirs[key] = runs_dir / f"{exp.label}-seed{seed}-{key}"
                stale = _stale_reason(runs_dir, exp.label, seed, identity)
        jobs.append(SweepJob(exp.experiment, exp.label, exp.unit, exp.component, seed, key,
                             train_config.replace(out=str(dirs[key])), stale))
    return jobs


def check_same_sweep(config: SweepConfig) -> None:
    """Refuse a sweep directory that holds a sweep of other training options (another model, data, budget).

    The same training options with other seeds, experiments or layers extend the sweep (finished
    runs are reused); anything else would mix two sweeps in one table.

    Raises:
        UserError: ``sweep.json`` exists and its ``train`` options differ from ``config.train``.
    """
    path = Path(config.out) / "sweep.json"
    if not path.is_file():
        return
    saved = read_json(path).get("train", {})
    changed = differing_keys(saved, config.train)
    if changed:
        raise UserError(f"{config.out} holds a sweep of {saved.get('model')} on {saved.get('task')} with other "
                        f"training options ({', '.join(changed)}); use another --out")


def write_sweep_plan(config: SweepConfig, jobs: list[SweepJob], num_layers: int) -> Path:
    """Write ``sweep.json`` (options and jobs, run paths relative to the sweep directory)."""
    out = Path(config.out)
    described = [{**job.describe(), "run": os.path.relpath(job.run_dir, out)} for job in jobs]
    path = out / "sweep.json"
    atomic_write_json(path, {"schema_version": SWEEP_SCHEMA_VERSION, "options": config.options,
                             "train": config.train, "num_layers": num_layers, "jobs": described})
    return path


def sweep_summary_table(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per experiment, and the difference of the means to the baseline.

    Columns: experiment, label, unit, component, seeds, diverged (runs among the seeds without a
    score: a non-finite loss stopped them), then ``{best,final}_{metric}_{mean,std}``
    for overall, source, target_mean, gap and ``{best,final}_{overall,gap}_delta`` (experiment mean −
    baseline mean; NaN without a finished baseline). Rows keep the order of ``results``.
    """
    by = ["experiment", "label", "unit", "component"]
    baseline = results[results["experiment"] == BASELINE]
    rows = []
    for key, group in results.groupby(by, sort=False, dropna=False):
        row: dict[str, Any] = dict(zip(by, key))
        row["seeds"] = len(group)
        row["diverged"] = int((group["status"] == "diverged").sum()) if "status" in group else 0
        for which in ("final", "best"):
            for metric in METRICS:
                column = pd.to_numeric(group[f"{which}_{metric}"], errors="coerce")
                row[f"{which}_{metric}_mean"] = column.mean()
                row[f"{which}_{metric}_std"] = column.std(ddof=1) if len(column.dropna()) > 1 else math.nan
            for metric in ("overall", "gap"):
                base = pd.to_numeric(baseline[f"{which}_{metric}"], errors="coerce").mean()
                row[f"{which}_{metric}_delta"] = row[f"{which}_{metric}_mean"] - base
        rows.append(row)
    return pd.DataFrame(rows)


def format_sweep_summary(results: pd.DataFrame) -> pd.DataFrame:
    """The summary as text: ``mean ± std`` of final and selected overall and final gap, and Δ vs the baseline
    (every number on the reporting halves)."""
    numbers = sweep_summary_table(results).set_index("label")
    rows = []
    for label, group in results.groupby("label", sort=False):
        n = numbers.loc[label]
        is_base = n["experiment"] == BASELINE
        rows.append({
            "experiment": label,
            "seeds": f"{int(n['seeds'])} ({int(n['diverged'])} diverged)" if n["diverged"] else int(n["seeds"]),
            "overall": format_values(group["final_overall"]),
            "Δ overall": "—" if is_base else format_signed(n["final_overall_delta"]),
            "gap": format_values(group["final_gap"]),
            "Δ gap": "—" if is_base else format_signed(n["final_gap_delta"]),
            "selected overall": format_values(group["best_overall"]),
            "Δ selected": "—" if is_base else format_signed(n["best_overall_delta"]),
        })
    return pd.DataFrame(rows)


def missing_runs(sweep_dir: str | Path) -> list[str]:
    """The jobs of ``sweep.json`` without a result (:func:`~xlingual_probe.runs.sweep_job_status` not
    finished or diverged): ``label seed k (status)``, status ``error`` or ``incomplete`` (not run,
    running or interrupted)."""
    status = sweep_job_status(sweep_dir)
    return [f"{r.label} seed {r.seed} ({r.status})" for r in status.itertuples() if r.status not in RESULT_STATUSES]


def write_sweep_reports(sweep_dir: str | Path) -> dict[str, Path]:
    """Write ``results.csv``, ``summary.csv``, ``summary.md`` and ``layers.png`` from the complete runs
    (``summary.md`` names the jobs left out)."""
    from xlingual_probe.plots.sweep import save_layer_sweep_plot

    sweep_dir = Path(sweep_dir)
    results = summarise_sweep(sweep_dir)
    paths = {name: sweep_dir / name for name in ("results.csv", "summary.csv", "summary.md")}
    atomic_write_text(paths["results.csv"], results.to_csv(index=False))
    atomic_write_text(paths["summary.csv"], sweep_summary_table(results).to_csv(index=False))
    sweep = read_json(sweep_dir / "sweep.json")
    train = sweep["train"]
    selected = protocol_caption(train.get("select_by", SELECT_BY[0]), "selected", train.get("source_lang", "en"))
    header = (f"# Layer sweep: {train.get('model')} on {train.get('task')}\n\n"
              f"{protocol_caption('source', 'final')} Mean ± std over seeds {sweep['options']['seeds']}; Δ = "
              f"experiment mean − baseline (DF) mean. Selected: {selected}\n\n")
    missing = missing_runs(sweep_dir)
    footer = (f"\nMissing from the tables: {len(missing)} of {len(sweep['jobs'])} jobs have no result: "
              + ", ".join(missing) + ".\n") if missing else ""
    atomic_write_text(paths["summary.md"], header + markdown_table(format_sweep_summary(results)) + "\n" + footer)
    plot = save_layer_sweep_plot(sweep_dir, results)
    if plot is not None:
        paths["layers.png"] = plot
    return paths


def run_sweep(config: SweepConfig, *, executor: Executor | None = None, num_layers: int | None = None,
              show_progress: bool = True, cka_probe: dict[str, Any] | None = None,
              cka_seeds: list[int] | None = None) -> pd.DataFrame:
    """Plan, run (or finish) and summarise a layer sweep in ``config.out``.

    Safe to repeat: finished runs are reused and unfinished ones resumed, so after Ctrl-C (which
    propagates as ``KeyboardInterrupt``), a crash or a pre-emption the same call completes the sweep.
    A failed run does not stop the others; the tables are written from the finished runs and the
    failures stay in ``executor.failures`` (the command reports them).

    Args:
        config: the sweep.
        executor: how the jobs run (default: :class:`SequentialExecutor`); its CPU thread count per
            run is written into the runs' configs (:meth:`~xlingual_probe.experiments.executor.Executor.run_values`).
        num_layers: the model's layer count (default: read from the model's config).
        show_progress: progress bars.
        cka_probe: CKA probe options (a dict of :class:`~xlingual_probe.probes.cka_probe.CKAProbeConfig`)
            for the baseline (DF) runs of ``cka_seeds`` (default: every seed); ``None`` = no probe.

    Returns:
        The results table (one row per job, :data:`~xlingual_probe.runs.RESULT_COLUMNS`); the report
        files are written.

    Raises:
        UserError: bad options, or ``config.out`` holding a sweep of other training options.
    """
    executor = executor or SequentialExecutor(show_progress=show_progress)
    config = replace(config, train=executor.run_values(config.train))
    if num_layers is None:
        num_layers = count_layers(config.train["model"], bool(config.train.get("trust_remote_code")))
    check_same_sweep(config)
    jobs = plan_sweep(config, num_layers)
    for job in jobs:
        if job.stale is not None:
            tqdm.write(job.stale)
    write_sweep_plan(config, jobs, num_layers)
    probed = set(config.seeds if cka_seeds is None else cka_seeds) if cka_probe is not None else set()
    run_jobs, seen = [], set()
    for job in jobs:
        if job.key in seen:  # the baseline is shared by every experiment of its seed: one run
            continue
        seen.add(job.key)
        with_cka = job.experiment == BASELINE and job.seed in probed
        run_jobs.append(job.run_job(cka_probe if with_cka else None))
    executor.run(run_jobs, status_dir=config.out)
    write_sweep_reports(config.out)
    return summarise_sweep(config.out)
