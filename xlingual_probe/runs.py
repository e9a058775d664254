"""The run directory and the sweep directory: the contract between training, probes, selection and figures.

Every fine-tuning run writes one folder, through one :class:`RunWriter`; everything downstream reads
only these files (metrics on a 0–100 scale, steps counted in optimizer updates, 1-based)::

    config.json        written first. Keys: ``schema_version``, ``numerics_version`` (see
                       :data:`NUMERICS_VERSION`), ``config`` (the resolved TrainConfig), ``seed``,
                       ``identity_key`` and ``data_fingerprint`` (the run identity:
                       :mod:`xlingual_probe.training.identity`; the fingerprint's ``sources`` list
                       every data file read — path, size, sha256, role (train, eval, test), dataset —
                       or hub split, its ``examples`` the sha256 of the train and per-language eval
                       and test examples used, after the id-based subsamples and the few-shot draw),
                       ``recipe`` (name, source, values, overridden; ``null`` without a recipe),
                       ``versions`` (python and package versions), ``git`` (commit, dirty),
                       ``device`` (type, number of processes, CPU threads, TF32), ``data`` (metric,
                       languages, train_examples, train_features, max_length, eval_examples per language,
                       eval_halves {lang: {selection: n, reporting: n}}, test_examples per language,
                       few_shot_examples, train_sources (the training files or hub datasets), in_domain
                       (evaluation languages that are in-domain, not zero-shot: the source language when
                       the training data come from the task's own dataset, e.g. TyDiQA-en after
                       TyDiQA-en training)), ``protocol`` (how the checkpoint is chosen and reported:
                       select_by, selected_on, uses_target_data, ties, reported_on, test {languages,
                       scored}), ``training`` (total_steps, warmup_steps, steps_per_epoch,
                       trainable_parameters, frozen_parameters, model_family, num_layers, optimizer,
                       attention), ``command`` (``argv`` and ``cwd`` of the command that made the run:
                       the outermost ``xprobe`` command line, or the Python process's ``sys.argv``);
                       ``data.eval_truncated`` {lang: examples whose evaluation input (both halves) was
                       cut to max_length (the pair of a sentence task, the question of a QA task; never
                       a tagging sentence, which is split at word boundaries)} and ``data.test_truncated``
                       (the same for the test splits); extra keys when present:
                       ``selection`` (policy methods: the weight sets used), ``sweep`` (a sweep job's
                       identity), ``cka_probe`` (the CKA probe's options), ``alignment_probe`` (the
                       alignment probe's options).
    eval_split.json    written with config.json: the held-out halves (:mod:`xlingual_probe.tasks._splits`):
                       ``rule``, ``seed`` (the hash seed = the data seed), ``ids`` (what an example id
                       is), ``unit`` (what decides a half: ``example`` or ``premise group``),
                       ``languages`` {lang: {selection: [ids], reporting: [ids]}}.
    few_shot.json      (``few_shot`` > 0) the shots moved into training: ``few_shot`` (M), ``seed`` (the
                       training seed that drew them), ``ids`` (as in eval_split.json), ``shots``
                       {lang: [ids]}; every row of their units left that language's evaluation set.
    steps.jsonl        one object per update: ``step``, ``loss`` (full precision, the value a policy
                       was fed), ``lr`` (the scheduled rate before multipliers); with parameter
                       groups also ``group_lr`` {group: rate}; policy runs add ``phase``, ``phi``, ``K``.
                       An update skipped for a non-finite loss (``skip_nonfinite``) has ``loss``
                       ``null`` and ``skipped`` (the reason) instead of the rates.
    metrics.jsonl      one object per evaluation: ``step``, ``loss`` (mean training loss since the
                       previous evaluation; ``null`` at step 0), then every language scored on its
                       *reporting half*: ``metrics`` {lang: primary metric}, ``source``,
                       ``target_mean``, ``overall``, ``gap`` (= source − target_mean), ``details``
                       {lang: {metric: value}}; ``selection_half`` (the same six keys on the selection
                       halves: what ``select_by`` reads), ``eval_seconds``; and ``test`` (the same six
                       keys on the labelled test splits) on the evaluations where test was scored: each
                       newly selected checkpoint (``select_by`` source / overall) and the last one.
    param_groups.csv   columns ``group``, ``parameter``: the optimizer group (weight set, ``/no_decay``
                       for its undecayed part) of every trainable parameter; ``group_lr`` in
                       steps.jsonl gives each group's rate.
    summary.json       written last: its presence means the run is complete (a recorded outcome);
                       without it the run is *incomplete* (running, killed or crashed) and readers
                       refuse or skip it (:func:`run_status`). ``status``: ``finished`` (trained to
                       the end; summaries written before the key existed count as finished),
                       ``diverged`` (stopped at a non-finite training loss: ``diverged_at`` (update),
                       ``reason``; ``best`` / ``final`` are the evaluations before it, ``null`` when
                       there was none; its last good checkpoint is kept) or ``error`` (written by an
                       executor for a job that raised: ``error`` (its last error line), ``traceback``,
                       ``key`` (the run identity it was made for); not a result, and executors do not
                       run it again unless asked to, ``--retry-failed``). Then ``best`` (the
                       selected checkpoint's evaluation record, chosen by ``select_by`` on the selection
                       halves; its top-level numbers are reporting-half numbers, its ``test`` the test
                       scores there) and ``final`` (the last evaluation record), ``select_by``,
                       ``protocol`` (as in config.json), ``wall_seconds``, ``train_seconds``,
                       ``eval_seconds``, ``method``, ``seed``, ``steps``, ``skipped_nonfinite`` (updates
                       skipped for a non-finite loss under ``skip_nonfinite``; 0 normally); policy runs
                       add ``phase2_updates``. Runs of the ``GapCallback`` (a Trainer script) have no
                       halves: their ``protocol`` says ``selected_on`` "last evaluation".
    lease.json         present while a process writes the directory: ``host``, ``pid``,
                       ``slurm_job_id`` / ``slurm_restart_count`` (under Slurm), ``acquired`` and
                       ``heartbeat`` (Unix times); see :mod:`xlingual_probe.utils.lease`.
    checkpoints/last/  resumable state (Accelerate state: model safetensors, optimizer, RNG;
                       ``trainer_state.json`` with the sha256 of every other file); with
                       ``checkpoints/previous/`` (the one before) present while a run can be resumed.
    checkpoints/best/  the selected checkpoint's weights (safetensors) and tokenizer, if kept.
    trackers/          (``--report-to tensorboard``) TensorBoard event files mirroring the logs above.
    cka.jsonl          (CKA probe) one object per layer and probe step: ``step``, ``layer`` (0 = bottom
                       layer's output), ``cka`` (null when undefined), ``pooling``, ``debiased``,
                       ``n`` (rows compared), ``cka_seconds`` (the probe's time at that step),
                       ``cka_undefined`` (why ``cka`` is null: zero variance, non-finite hidden
                       states, too few rows; absent when it is a number);
                       ``config.json`` then has a ``cka_probe`` key with the probe's options.
    alignment.jsonl    (alignment probe) one object per probe step, layer and language (source first),
                       step 0 = before the first update: ``step``, ``layer`` (0 = bottom layer's output),
                       ``lang``, ``n`` (pairs with the source; the source: its sentences),
                       ``retrieval_src2tgt``, ``retrieval_tgt2src``, ``retrieval`` (their mean; top-1
                       translation retrieval, 0–100), ``cka_cross`` (debiased linear CKA source vs
                       target), ``cka_to_pretrained`` (debiased linear CKA to the same language at the
                       start); the source's retrieval and cka_cross are null, as is a CKA that is
                       undefined; ``align_seconds`` (the probe's time at that step). ``config.json``
                       then has an ``alignment_probe`` key with the probe's options.
    alignment_sample.json  (alignment probe) the parallel sample: ``source_lang``, ``field`` (the
                       embedded field, e.g. premise) and its ``column``, ``parallel`` (rows or ids),
                       ``n`` {target: pairs}, ``pairs`` {target: [key, ...]} (row positions or ids).

A layer sweep (``xprobe probe layers``) writes a sweep directory::

    sweep.json         written before any run: ``schema_version``, ``options`` (the sweep's own options),
                       ``train`` (the shared training options), ``num_layers``, ``jobs`` (experiment,
                       label, unit, component, seed, key, run, freeze, reinit, lr_scale).
    runs/              one run directory per distinct run identity: ``<label>-seed<k>-<key>``.
    results.csv        one row per complete job (:data:`RESULT_COLUMNS`), see :func:`summarise_sweep`.
    summary.csv, summary.md, layers.png   the sweep's tables and figure (from the complete runs;
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
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict

import pandas as pd

from xlingual_probe.utils.errors import RunWarning, UserError
from xlingual_probe.utils.io import (
    append_jsonl,
    atomic_write_json,
    atomic_write_text,
    read_json,
    read_jsonl,
    truncate_jsonl,
)
from xlingual_probe.utils.lease import LEASE_FILE, DirectoryLease

SCHEMA_VERSION = 1
# Bumped by every code change that alters the numbers a run produces (losses, metrics, CKA): a run
# directory written under another numerics version is never resumed or reused (runs written before
# the key existed count as version 1). 2: NoisyTune perturbs every loaded parameter (a loaded pooler,
# XL's final LayerNorm) and nothing the checkpoint lacked; CKA with mean pooling is debiased by default.
# 3: PAN-X long sentences split at word boundaries; QA windows doc_stride apart (XTREME).
# 4: fused (or foreach) AdamW instead of the single-tensor loop; warm-up ceil(ratio × steps) as the Trainer.
# 5: held-out selection/reporting halves (best = the checkpoint chosen on the selection halves, reported on
# the reporting halves), select_by=source default, id-based eval/test subsamples, few-shot drawn per seed.
# 6: CKA and the alignment measures computed with torch in float64 on the representations' device, CKA from
# n x n Gram matrices when that is cheaper (last-bit differences); the no-train alignment map honours
# precision auto (bf16 on a CUDA GPU).
NUMERICS_VERSION = 6
SWEEP_SCHEMA_VERSION = 1
BASELINE = "baseline"  # the sweep's DF experiment, the reference of every selection rule
METRICS = ("overall", "source", "target_mean", "gap")
RESULT_COLUMNS = (["experiment", "label", "unit", "component", "seed", "run"]
                  + [f"{w}_{k}" for w in ("best", "final") for k in ("step",) + METRICS] + ["status"])
# ``summary.json``'s ``status``: trained to the end / stopped on a non-finite loss / raised (written by an
# executor); a run directory without a summary is ``incomplete`` (:func:`run_status`)
FINISHED, DIVERGED, ERROR, INCOMPLETE = "finished", "diverged", "error", "incomplete"
RESULT_STATUSES = (FINISHED, DIVERGED)  # summary statuses that are results (``error`` is not)


class SplitScores(TypedDict):
    """Every language scored on one split (a half of the validation sets, or the test sets)."""

    metrics: dict[str, float]
    source: float
    target_mean: float | None
    overall: float
    gap: float | None
    details: dict[str, dict[str, float]]


class _TestScores(TypedDict, total=False):
    test: SplitScores  # only where test was scored (a newly selected checkpoint, the last evaluation)


class EvalRecord(SplitScores, _TestScores):
    """One line of ``metrics.jsonl``: the reporting halves' scores at the top level (the fields of
    :class:`SplitScores`), ``test`` only where scored."""

    step: int
    loss: float | None
    selection_half: SplitScores
    eval_seconds: float


class _OptionalSummary(TypedDict, total=False):
    phase2_updates: int  # policy runs only
    diverged_at: int  # diverged runs only: the update whose loss was not finite
    reason: str  # diverged runs only
    error: str  # error summaries (written by executors) only
    traceback: str  # error summaries only
    key: str  # error summaries only: the run identity key the failed job was made for


class Summary(_OptionalSummary):
    """``summary.json`` (see the module docstring for when the optional keys are present)."""

    status: Literal["finished", "diverged", "error"]
    best: EvalRecord | None  # None only in a run that diverged before its first evaluation
    final: EvalRecord | None
    skipped_nonfinite: int
    select_by: str
    protocol: dict[str, Any]
    wall_seconds: float
    train_seconds: float
    eval_seconds: float
    method: str
    seed: int
    steps: int


class _RunFile:
    """A read-only attribute of :class:`RunFiles`: ``root`` joined with fixed path parts."""

    def __init__(self, *parts: str):
        self.parts = parts

    def __get__(self, files: RunFiles, owner: type) -> Path:
        return files.root.joinpath(*self.parts)


@dataclass(frozen=True)
class RunFiles:
    """Paths of the files of one run directory."""

    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root))

    config = _RunFile("config.json")
    steps = _RunFile("steps.jsonl")
    metrics = _RunFile("metrics.jsonl")
    summary = _RunFile("summary.json")
    param_groups = _RunFile("param_groups.csv")
    cka = _RunFile("cka.jsonl")
    eval_split = _RunFile("eval_split.json")
    few_shot = _RunFile("few_shot.json")
    lease = _RunFile(LEASE_FILE)
    alignment = _RunFile("alignment.jsonl")
    alignment_sample = _RunFile("alignment_sample.json")
    last_checkpoint = _RunFile("checkpoints", "last")
    previous_checkpoint = _RunFile("checkpoints", "previous")
    best_checkpoint = _RunFile("checkpoints", "best")

    def is_finished(self) -> bool:
        """Whether ``summary.json`` exists: the run is complete (finished, diverged or errored)."""
        return self.summary.is_file()

    def status(self) -> str:
        """``finished``, ``diverged``, ``error`` (from ``summary.json``) or ``incomplete`` (no summary)."""
        return run_status(self.summary)


def run_status(summary_path: str | Path) -> str:
    """The status of the run whose ``summary.json`` is ``summary_path`` (``incomplete`` when it is absent).

    A summary written before ``status`` existed is ``finished``; an unreadable one is ``incomplete``
    (a summary is written atomically, so that means it was damaged afterwards).
    """
    try:
        summary = read_json(summary_path)
    except (OSError, ValueError):  # FileNotFoundError included
        return INCOMPLETE
    return str(summary.get("status", FINISHED)) if isinstance(summary, dict) else INCOMPLETE


def differing_keys(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The keys whose values differ between two option dicts (a missing key counts as ``None``).

    >>> differing_keys({"model": "a", "lr": 1}, {"model": "b", "lr": 1, "seed": None})
    ['model']
    """
    return sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))


def describe_incomplete(runs: list[str], what: str = "run") -> str:
    """``2 incomplete runs (no summary.json: still running, killed or crashed): a, b``.

    >>> describe_incomplete(["runs/a"])
    'an incomplete run (no summary.json: still running, killed or crashed; finish it with --resume): runs/a'
    """
    head = f"an incomplete {what}" if len(runs) == 1 else f"{len(runs)} incomplete {what}s"
    shown = ", ".join(runs[:5]) + (f" and {len(runs) - 5} more" if len(runs) > 5 else "")
    return f"{head} (no summary.json: still running, killed or crashed; finish it with --resume): {shown}"


class RunWriter:
    """Writes the files of one run directory: the loop, :class:`~xlingual_probe.probes.hf_callback.GapCallback`
    and the Trainer policy adapter all write through it. JSONL records are appended and flushed one
    at a time; ``config.json``, ``param_groups.csv`` and ``summary.json`` are written atomically.

    Args:
        root: the run directory.
        enabled: ``False`` on the non-main processes of a multi-process run (nothing is written).
        observers: called as ``observer(log, record)`` after each record is appended (e.g. the
            experiment trackers' mirror, :class:`~xlingual_probe.training.trackers.TrackerMirror`).
    """

    LOGS = ("steps", "metrics", "cka", "alignment")

    def __init__(self, root: str | Path, enabled: bool = True,
                 observers: Sequence[Callable[[str, dict[str, Any]], None]] = ()):
        self.files = RunFiles(root)
        self.enabled = enabled
        self.observers = list(observers)
        self.lease: DirectoryLease | None = None

    def acquire(self, reentrant: bool = False) -> None:
        """Take the directory's lease (one writer per run directory, :mod:`xlingual_probe.utils.lease`),
        creating the directory; a no-op when disabled or already held.

        Args:
            reentrant: take it from another holder in this process instead of refusing (see
                :class:`~xlingual_probe.utils.lease.DirectoryLease`).

        Raises:
            UserError: another live process writes the directory, or it cannot be created.
        """
        if self.enabled and self.lease is None:
            self.lease = DirectoryLease(self.files.root, reentrant=reentrant).acquire()

    def release(self) -> None:
        """Give the lease back (if held)."""
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    def check_lease(self) -> None:
        """Raise :class:`UserError` if another process has taken this directory's lease over."""
        if self.lease is not None:
            self.lease.check()

    def start(self, run_info: dict[str, Any] | None = None) -> None:
        """A fresh run: drop earlier logs and summary, then write ``config.json`` (when given)."""
        if not self.enabled:
            return
        self.files.root.mkdir(parents=True, exist_ok=True)
        for path in [getattr(self.files, log) for log in self.LOGS] + [self.files.summary, self.files.few_shot]:
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
        """Append one record to ``steps``, ``metrics``, ``cka`` or ``alignment`` (``.jsonl``)."""
        if log not in self.LOGS:
            raise ValueError(f"unknown log {log!r}; one of {', '.join(self.LOGS)}")
        if self.enabled:
            self.files.root.mkdir(parents=True, exist_ok=True)
            append_jsonl(getattr(self.files, log), record)
            for observe in self.observers:
                observe(log, record)

    def write_data_record(self, name: str, content: dict[str, Any]) -> None:
        """``eval_split.json`` or ``few_shot.json`` (``name`` = ``eval_split`` / ``few_shot``), atomically."""
        if name not in ("eval_split", "few_shot"):
            raise ValueError(f"unknown data record {name!r}; one of eval_split, few_shot")
        if self.enabled:
            self.files.root.mkdir(parents=True, exist_ok=True)
            atomic_write_json(getattr(self.files, name), content)

    def write_summary(self, summary: dict[str, Any]) -> None:
        """``summary.json``, written last: its presence means the run is complete; ``status`` defaults
        to ``finished`` (put first, so a reader sees it at once)."""
        if self.enabled:
            atomic_write_json(self.files.summary, {"status": summary.get("status", "finished"), **summary})


REPORTED = {"selected": ("best", None), "final": ("final", None),
            "selected-test": ("best", "test"), "final-test": ("final", "test")}
"""What a table can report from ``summary.json``: the selected checkpoint or the last evaluation, on the
reporting halves (``selected``, ``final``) or on the test splits (``selected-test``, ``final-test``).
None of them is the maximum over the data it was selected on."""


def reported_record(summary: dict[str, Any], which: str) -> dict[str, Any] | None:
    """The scores ``which`` (a key of :data:`REPORTED`; ``best`` = ``selected``) of a run's summary:
    an evaluation record's reporting-half numbers, or its ``test`` scores (``None`` when not scored, or
    when a diverged run has no such record).

    Raises:
        UserError: an unknown ``which``.

    >>> summary = {"best": {"overall": 70.0, "test": {"overall": 69.0}}, "final": {"overall": 71.0}}
    >>> reported_record(summary, "selected")["overall"], reported_record(summary, "selected-test")["overall"]
    (70.0, 69.0)
    >>> reported_record(summary, "final-test") is None
    True
    """
    which = "selected" if which == "best" else which
    if which not in REPORTED:
        raise UserError(f"--which must be one of {', '.join(REPORTED)}, not {which!r}")
    record_key, part = REPORTED[which]
    record = summary.get(record_key)  # None: a run that diverged before its first evaluation
    return record if part is None or record is None else record.get(part)


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
    summaries: pd.DataFrame  # one row per complete run: status, select_by, best_/final_ (reporting half) and
    #                          best_test_/final_test_ (test split, NaN when not scored) overall, source, target_mean, gap
    cka: pd.DataFrame  # one row per (probe step, layer), empty when no CKA was recorded
    alignment: pd.DataFrame  # one row per (probe step, layer, language), empty without the alignment probe
    skipped: list[str] = field(default_factory=list)  # incomplete runs left out (see load_runs)


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


def load_runs(paths: str | Path | Iterable[str | Path], allow_incomplete: bool = False) -> Runs:
    """Read run directories (or folders containing them) into pandas DataFrames.

    Only complete runs (with ``summary.json``, finished or diverged) are results: an incomplete run
    (still running, killed, crashed) or an errored one is left out with a :class:`RunWarning` and
    listed in :attr:`Runs.skipped`, unless ``allow_incomplete`` (e.g. to watch a run as it trains);
    diverged runs are kept, their ``status`` in :attr:`Runs.summaries` says so.

    Args:
        paths: a run directory, a folder of run directories (searched recursively), or several.
        allow_incomplete: also read runs without a result summary.

    Returns:
        A :class:`Runs` of DataFrames; metrics are in long form (one row per language).

    Raises:
        UserError: a path that is no run directory, or no run left to read.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    configs, steps, metrics, summaries, cka, alignment, skipped = [], [], [], [], [], [], []
    for run in _run_dirs(paths):
        files = RunFiles(run)
        status = files.status()
        if status not in RESULT_STATUSES and not allow_incomplete:
            skipped.append(str(run))
            continue
        cfg = read_json(files.config)
        configs.append({"run": str(run), "seed": cfg.get("seed"), **cfg.get("config", {})})
        if files.steps.is_file():
            steps.extend({"run": str(run), **r} for r in read_jsonl(files.steps))
        if files.metrics.is_file():
            for rec in read_jsonl(files.metrics):
                common = {k: rec.get(k) for k in ("step", "loss", "source", "target_mean", "overall", "gap")}
                for lang, value in rec["metrics"].items():
                    metrics.append({"run": str(run), **common, "lang": lang, "value": value})
        if status in RESULT_STATUSES:
            summary = read_json(files.summary)
            row = {"run": str(run), "status": status, "method": summary.get("method"), "seed": summary.get("seed"),
                   "select_by": summary.get("select_by"), "wall_seconds": summary.get("wall_seconds")}
            for which in ("best", "final"):
                record = summary.get(which) or {}
                for key in ("step", "source", "target_mean", "overall", "gap"):
                    row[f"{which}_{key}"] = record.get(key)
                    row[f"{which}_test_{key}"] = (record.get("test") or {}).get(key)
            summaries.append(row)
        if files.cka.is_file():
            cka.extend({"run": str(run), **r} for r in read_jsonl(files.cka))
        if files.alignment.is_file():
            alignment.extend({"run": str(run), **r} for r in read_jsonl(files.alignment))
    if skipped:
        warnings.warn(f"skipped {describe_incomplete(skipped)}", RunWarning, stacklevel=2)
    if not configs:
        raise UserError(f"no complete run to read: {describe_incomplete(skipped)}; pass allow_incomplete "
                        "(--allow-incomplete) to read it as it is")
    return Runs(*(pd.DataFrame(rows) for rows in (configs, steps, metrics, summaries, cka, alignment)), skipped=skipped)


def sweep_job_status(sweep_dir: str | Path) -> pd.DataFrame:
    """One row per job of ``sweep.json``: ``experiment``, ``label``, ``seed``, ``run`` and its ``status``.

    Raises:
        UserError: ``sweep_dir`` has no ``sweep.json``.
    """
    sweep_dir = Path(sweep_dir)
    if not (sweep_dir / "sweep.json").is_file():
        raise UserError(f"not a sweep directory (no sweep.json): {sweep_dir}")
    rows = [{**{k: job[k] for k in ("experiment", "label", "seed", "run")},
             "status": RunFiles(sweep_dir / job["run"]).status()}
            for job in read_json(sweep_dir / "sweep.json")["jobs"]]
    return pd.DataFrame(rows, columns=["experiment", "label", "seed", "run", "status"])


def summarise_sweep(sweep_dir: str | Path) -> pd.DataFrame:
    """One row per complete job of ``sweep.json`` (:data:`RESULT_COLUMNS`; ``run`` relative to the sweep).

    Incomplete and errored jobs are left out, so the table can be read while (or after) a sweep is
    interrupted; :func:`sweep_job_status` lists them, and ``xprobe select`` refuses a sweep with any
    unless told otherwise. A diverged job is a row with ``status`` ``diverged`` and the scores of its
    evaluations before the divergence (empty when it had none).

    Raises:
        UserError: ``sweep_dir`` has no ``sweep.json``.
    """
    sweep_dir = Path(sweep_dir)
    if not (sweep_dir / "sweep.json").is_file():
        raise UserError(f"not a sweep directory (no sweep.json): {sweep_dir}")
    rows = []
    for job in read_json(sweep_dir / "sweep.json")["jobs"]:
        files = RunFiles(sweep_dir / job["run"])
        status = files.status()
        if status not in RESULT_STATUSES:
            continue
        summary = read_json(files.summary)
        row = {k: job[k] for k in ("experiment", "label", "unit", "component", "seed", "run")}
        for which in ("best", "final"):
            for key in ("step",) + METRICS:
                row[f"{which}_{key}"] = (summary.get(which) or {}).get(key)
        row["status"] = status
        rows.append(row)
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)
