"""Runs as units of work, and the executors that carry them out.

Every command that fine-tunes (``train``, ``probe layers``, ``probe cka``, ``compare``, ``--sets auto``,
the demo) turns its work into :class:`RunJob` s — one fine-tuning run each, with its full
:class:`~xlingual_probe.training.TrainConfig`, its run directory and the probes it carries: plain,
picklable data — and hands them to an :class:`Executor`. :meth:`RunJob.run` is the only place where
the toolkit calls :func:`~xlingual_probe.training.train`.

A run is keyed by its identity (:func:`run_key`: :mod:`xlingual_probe.training.identity`) and has ended
when its ``summary.json`` exists, with a ``status`` (:data:`~xlingual_probe.runs.RESULT_STATUSES`):
``finished`` or ``diverged`` (the loop stopped on a non-finite loss) are results; ``error`` (the run
raised; written here, with the last error line, by :func:`execute_job`) is a failure. Every executor
does the same three things (:meth:`Executor.run`):

1. sort the jobs: a run with an ``error`` record is skipped unless ``retry_failed``; every run
   directory gets the loop's checks (:func:`~xlingual_probe.training.loop.check_run_dir`: a folder
   holding a run of another identity, or a non-empty one without ``resume``, stops the command before
   anything runs); a complete run (finished or diverged: re-running it would give the same numbers)
   is read back, and every other run is *pending*;
2. map the pending runs to its workers (this process, local processes, Ray tasks, Slurm array tasks);
   each worker calls :func:`execute_job`, which trains, resumes an unfinished run from its last
   checkpoint, and turns an exception into an ``error`` summary, so one failed run never stops the
   others;
3. read every run's outcome back from its run directory (:class:`RunOutcome`), show the progress
   (:class:`~xlingual_probe.experiments.progress.Progress`: ``status.txt`` in the sweep or comparison
   directory), and remember the failures (:attr:`Executor.failures`), which the command reports at
   the end (:meth:`Executor.raise_for_failures`: non-zero exit).

Since all the state is in the run directories, any crash, Ctrl-C or pre-emption is resumed by running
the same command again: finished runs are reused, unfinished ones continue from their checkpoint.

:class:`SequentialExecutor` (``--executor local``) runs the jobs one after the other in this process;
the others are :class:`~xlingual_probe.experiments.processes.ProcessExecutor`,
:class:`~xlingual_probe.experiments.ray_executor.RayExecutor` and
:class:`~xlingual_probe.experiments.slurm_executor.SlurmExecutor`.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from xlingual_probe.experiments.progress import Progress
from xlingual_probe.models.units import resolve_model_name
from xlingual_probe.runs import ERROR, FINISHED, NUMERICS_VERSION, RESULT_STATUSES, RunFiles
from xlingual_probe.training import train
from xlingual_probe.training.config import TrainConfig
from xlingual_probe.training.identity import identity_key, run_identity
from xlingual_probe.training.loop import check_run_dir
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import atomic_write_json, read_json

# an outcome that is not a run status on disk: the worker died (killed, out of memory, node lost)
INTERRUPTED = "interrupted"


def run_key(config: TrainConfig) -> str:
    """8 hex digits identifying a run: :func:`~xlingual_probe.training.identity.identity_key` of its
    :func:`~xlingual_probe.training.identity.run_identity` (config without ``out``, numerics version,
    data fingerprint). Sweep run directories are named by it, error records carry it, and the
    executors key their progress by it.

    Raises:
        UserError: the run's data cannot be loaded (the fingerprint reads it).
    """
    return identity_key(run_identity(config))


@dataclass
class RunJob:
    """One fine-tuning run: the unit of work of every executor (plain, picklable data).

    Attributes:
        config: the run's configuration (``config.out`` is its run directory).
        label: what the run is, for progress lines (``reinit-L3``, ``slowfast``, ``direct``).
        extra_config: more keys for the run's ``config.json`` (a sweep job's identity, the weight sets).
        cka_probe: options of the CKA probe (:class:`~xlingual_probe.probes.cka_probe.CKAProbeConfig`
            as a dict) when the run carries it; recorded as ``cka_probe`` in ``config.json``.
        alignment_probe: options of the alignment probe
            (:class:`~xlingual_probe.probes.alignment_probe.AlignmentProbeConfig` as a dict) when the
            run carries it; recorded as ``alignment_probe`` in ``config.json``.
        resume: continue an unfinished run and reuse a finished one (else a non-empty run directory
            is refused).
        overwrite: delete the run directory first.
        workdir: the directory relative paths of the config are relative to (the submitting
            process's); a worker elsewhere (a Ray or Slurm node on shared storage) changes into it.
    """

    config: TrainConfig
    label: str = ""
    extra_config: dict[str, Any] | None = None
    cka_probe: dict[str, Any] | None = None
    alignment_probe: dict[str, Any] | None = None
    resume: bool = True
    overwrite: bool = False
    workdir: str = field(default_factory=os.getcwd)

    @property
    def run_dir(self) -> Path:
        return Path(self.config.out)

    @property
    def seed(self) -> int:
        return self.config.seed

    @cached_property
    def key(self) -> str:
        return run_key(self.config)

    def describe(self) -> str:
        """``reinit-L3 seed 1 [0a1b2c3d]``: how progress lines and reports name the run."""
        return f"{self.label} seed {self.seed} [{self.key}]"

    @property
    def log_name(self) -> str:
        """``reinit-L3-seed1-0a1b2c3d.log``: the file of the run's output in an executor's ``logs/``."""
        return f"{self.label.replace(':', '-')}-seed{self.seed}-{self.key}.log"

    def run(self, show_progress: bool = False, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
        """Train (or resume, or read back) the run; returns its ``summary.json`` content.

        Args:
            show_progress: the run's progress bar.
            callbacks: more training callbacks (observers in this process), after the job's own probes.

        Raises:
            UserError: the run directory holds another run (other config or numerics version) or is
                not empty without ``resume``/``overwrite``; a bad option.
        """
        callbacks, extra = list(callbacks), dict(self.extra_config or {})
        if self.cka_probe is not None:
            from xlingual_probe.probes.cka_probe import CKAProbe, CKAProbeConfig

            probe_config = CKAProbeConfig(**self.cka_probe)
            callbacks.insert(0, CKAProbe(probe_config))
            extra["cka_probe"] = probe_config.to_dict()
        if self.alignment_probe is not None:
            from xlingual_probe.probes.alignment_probe import AlignmentProbe, AlignmentProbeConfig

            align_config = AlignmentProbeConfig(**self.alignment_probe)
            callbacks.insert(0, AlignmentProbe(align_config))
            extra["alignment_probe"] = align_config.to_dict()
        return train(self.config, callbacks=callbacks, resume=self.resume, overwrite=self.overwrite,
                     show_progress=show_progress, extra_config=extra or None)

    def recorded_failure(self) -> dict[str, Any] | None:
        """The run's ``error`` summary, or ``None`` (no summary, a result, or an error record made for
        another identity, which does not count)."""
        files = RunFiles(self.run_dir)
        if files.status() != ERROR:
            return None
        summary = read_json(files.summary)
        return summary if summary.get("key") == self.key else None

    def record_error(self, exc: BaseException) -> None:
        """Write an ``error`` summary (the last error line, the traceback, the run key), unless the run
        directory already holds a summary, or a ``config.json`` of another config (never another
        run's record)."""
        files = RunFiles(self.run_dir)
        if files.is_finished():
            return
        if files.config.is_file() and read_json(files.config).get("config") != self.config.to_dict():
            return
        try:
            key = self.key
        except Exception:  # noqa: BLE001 - the run failed loading its data: it has no identity to record
            key = None
        atomic_write_json(files.summary, {
            "status": ERROR, "error": error_line(exc), "key": key, "numerics_version": NUMERICS_VERSION,
            "method": self.config.method, "seed": self.seed,
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))})

    def forget_failure(self) -> None:
        """Remove the run's failure record so that it runs again (resumed from its checkpoint if any)."""
        RunFiles(self.run_dir).summary.unlink(missing_ok=True)
        self.resume = True  # what is left in the directory is this run's own partial state


def error_line(exc: BaseException) -> str:
    """``RuntimeError: CUDA out of memory ...``: the last line of the exception's message.

    >>> error_line(ValueError("bad shape\\nin layer 3"))
    'ValueError: in layer 3'
    """
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}".rstrip(": ")

def execute_job(job: RunJob, callbacks: Sequence[Any] = (), show_progress: bool = False) -> tuple[str, str | None]:
    """What a worker does with one job: run it; returns ``(status, error line)``.

    An exception becomes an ``error`` summary in the run directory (so it is not retried unless asked),
    except a :class:`UserError` (bad input, another run in the folder): it is returned as ``error``
    but not recorded, since fixing the input and re-running should simply work. ``KeyboardInterrupt``
    and ``SystemExit`` (Ctrl-C, a Slurm pre-emption) propagate: the run stays resumable.
    """
    if os.path.isdir(job.workdir) and Path.cwd() != Path(job.workdir):  # a worker on another node or folder
        os.chdir(job.workdir)
    try:
        summary = job.run(show_progress=show_progress, callbacks=callbacks)
    except UserError as exc:
        return ERROR, f"UserError: {exc}"
    except Exception as exc:  # noqa: BLE001 - any failure of one run must not stop the others
        job.record_error(exc)
        return ERROR, error_line(exc)
    return summary.get("status", FINISHED), summary.get("error")


def quiet_libraries() -> None:
    """No progress bars or info messages from datasets and transformers: the command line's setting, and
    every worker's (whose output goes to a log file)."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


@contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2, so C libraries' output too) to
    the end of ``path`` for a while: a worker's log of one run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for descriptor in (fd, *saved):
            os.close(descriptor)


@dataclass
class RunOutcome:
    """What became of one job after :meth:`Executor.run`.

    Attributes:
        job: the job.
        status: ``finished``, ``diverged``, ``error`` (recorded in ``summary.json``, or a user error,
            which is not), or ``interrupted`` (the worker died; the run resumes on the next call).
        summary: the ``summary.json`` content, when the run has one.
        error: the last error line of a failed run.
        reused: the run had ended before this call (read back, or a failure not retried).
    """

    job: RunJob
    status: str
    summary: dict[str, Any] | None = None
    error: str | None = None
    reused: bool = False

    @property
    def complete(self) -> bool:
        """The run has a result (finished or diverged, :data:`~xlingual_probe.runs.RESULT_STATUSES`)."""
        return self.status in RESULT_STATUSES

    def describe(self) -> str:
        """``reinit-L3 seed 1 [0a1b2c3d] (runs/...): error: RuntimeError: ...`` for failure reports."""
        text = f"{self.job.describe()} ({self.job.run_dir}): {self.status}"
        return f"{text}: {self.error}" if self.error else text


class RunsFailed(UserError):
    """Some runs have no result (an error, or interrupted); raised by :meth:`Executor.raise_for_failures`
    after the tables of the complete runs are written. The message names every failed run and what to do."""


class Executor:
    """Runs jobs: reuses complete runs, maps the pending ones to workers, collects the outcomes.

    Subclasses implement :meth:`execute` (and set :attr:`name`); everything else is shared.

    Args:
        retry_failed: run again the runs whose summary says ``error`` (a diverged run is a result: the
            same run would diverge again; ``overwrite`` starts it anew).
        show_progress: a progress bar over the runs (and, in this process, each run's own bar).
        log: where the one-line report of each run goes (default: ``tqdm.write``).
        callbacks: training callbacks added to every run (picklable for executors with other processes).
        threads: CPU threads per run to write into the runs' configs (:meth:`run_values`), or ``None``.
        refresh_seconds: how often a waiting executor rewrites ``status.txt``.
    """

    name = "base"
    # whether a run may spawn its own processes (``--num-processes``): only in the submitting process,
    # not in a daemonic worker process, and not on Ray/Slurm resources sized for one process
    multi_process_runs = False

    def __init__(self, *, retry_failed: bool = False, show_progress: bool = True,
                 log: Callable[[str], None] | None = None, callbacks: Sequence[Any] = (),
                 threads: int | None = None, refresh_seconds: float = 5.0):
        if threads is not None and threads < 1:
            raise UserError("--threads-per-run must be positive")
        self.retry_failed = retry_failed
        self.show_progress = show_progress
        self.log = log or tqdm.write
        self.callbacks = list(callbacks)
        self.threads = threads
        self.refresh_seconds = refresh_seconds
        self.failures: dict[Path, RunOutcome] = {}

    def describe(self) -> str:
        """One line for ``status.txt``: the executor and its resources."""
        return self.name

    def run_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """TrainConfig values with this executor's CPU threads per run, unless the values set their own.

        The thread count is part of a run's config (and identity), so it is fixed before the runs are
        planned and keyed.
        """
        self.check_processes(int(values.get("num_processes") or 1))
        if values.get("threads") is not None or self.threads is None:
            return dict(values)
        return {**values, "threads": self.threads}

    def check_processes(self, num_processes: int) -> None:
        """Refuse runs on several processes (``--num-processes``) where the executor cannot start them.

        Raises:
            UserError: ``num_processes`` > 1 under an executor other than ``local``.
        """
        if num_processes > 1 and not self.multi_process_runs:
            raise UserError(f"--num-processes {num_processes} runs each run on {num_processes} processes of this "
                            f"machine, which --executor {self.name} cannot start: use --executor local (the runs "
                            "one after the other, each on all processes), or --num-processes 1 to run several "
                            "runs at once")

    def run(self, jobs: Sequence[RunJob], *, status_dir: str | Path | None = None) -> list[RunOutcome]:
        """Run the jobs (each run directory once); returns one outcome per job, in job order.

        Args:
            jobs: the runs.
            status_dir: the sweep / comparison directory: ``status.txt`` and executor logs (``logs/``)
                go there; ``None`` = no status file (logs beside the first run directory).

        Raises:
            UserError: a run directory holds another run, or is not empty and its job may not resume
                it, or a run on several processes under an executor that cannot start them (nothing
                has run then).
            KeyboardInterrupt: Ctrl-C (the workers are stopped; re-running resumes).
        """
        if not jobs:
            return []
        for job in jobs:
            self.check_processes(job.config.num_processes)
        first: dict[Path, RunJob] = {}  # one job per run directory: its first one
        for job in jobs:
            first.setdefault(job.run_dir, job)
        unique = list(first.values())
        status_dir = Path(status_dir) if status_dir is not None else None
        progress = Progress(unique, status_dir / "status.txt" if status_dir else None, executor=self.describe(),
                            show=self.show_progress, log=self.log)
        outcomes: dict[Path, RunOutcome] = {}
        pending = []
        try:
            for job in unique:
                done = self._reuse(job)
                if done is None:
                    pending.append(job)
                else:
                    outcomes[job.run_dir] = done
                    progress.ended(done)
            progress.write()
            for model in dict.fromkeys(job.config.model for job in pending):
                resolve_model_name(model)  # a synthetic world is built once, here, not by every worker at once
            if pending:
                self.execute(pending, progress, logs_dir=status_dir / "logs" if status_dir else
                             pending[0].run_dir.with_name(pending[0].run_dir.name + "-logs"))
            for job in pending:  # a run whose worker never reported back was interrupted
                outcomes[job.run_dir] = progress.outcome(job) or self.read_outcome(job, None, None)
        finally:
            progress.close()
        for outcome in outcomes.values():
            if outcome.complete:
                self.failures.pop(outcome.job.run_dir, None)
            else:
                self.failures[outcome.job.run_dir] = outcome
        return [outcomes[job.run_dir] for job in jobs]

    def _reuse(self, job: RunJob) -> RunOutcome | None:
        """The outcome of a run that ended before (read back, or a failure not retried), else ``None``
        (pending; a failure to retry has its record removed).

        Raises:
            UserError: the run directory holds another run, or is not empty and the job may not
                resume it (checked here, before anything runs: bad input stops the command).
        """
        if job.overwrite:
            return None
        files = RunFiles(job.run_dir)
        failure = job.recorded_failure()
        if failure is not None and not self.retry_failed:
            return RunOutcome(job, failure["status"], failure, failure.get("error"), reused=True)
        if failure is not None or (files.status() == ERROR and not files.config.is_file()):
            job.forget_failure()  # to retry, or an error record of other options in an otherwise empty folder
        if check_run_dir(job.config, job.resume) != "done":
            return None
        summary = read_json(files.summary)
        return RunOutcome(job, summary.get("status", FINISHED), summary, summary.get("error"), reused=True)

    @staticmethod
    def read_outcome(job: RunJob, status: str | None, error: str | None) -> RunOutcome:
        """The outcome of a run from what its worker reported (``status``, ``error``; status ``None`` = it
        never reported back, ``error`` then says why) and its run directory (the summary)."""
        files = RunFiles(job.run_dir)
        summary = read_json(files.summary) if files.is_finished() else None
        on_disk = None if summary is None else summary.get("status", FINISHED)
        if status is None and on_disk is None:
            return RunOutcome(job, INTERRUPTED, error=error or "its worker stopped before the run ended; run "
                                                               "the same command again to resume it")
        if status is None or status == on_disk:
            return RunOutcome(job, on_disk, summary, summary.get("error"))
        return RunOutcome(job, status, error=error)  # e.g. a user error: nothing was recorded

    def execute(self, jobs: list[RunJob], progress: Progress, logs_dir: Path) -> None:
        """Run the pending ``jobs`` (each through :func:`execute_job`), reporting to ``progress``
        (:meth:`~Progress.started`, :meth:`~Progress.ended`)."""
        raise NotImplementedError

    def raise_for_failures(self) -> None:
        """Raise :class:`RunsFailed` naming every run that failed in this executor's calls, if any.

        Commands call it last, after writing the tables of the complete runs.
        """
        if not self.failures:
            return
        failed = list(self.failures.values())
        retry = " (recorded earlier: add --retry-failed to run it again)" if any(
            o.reused and o.status == ERROR for o in failed) else ""
        if len(failed) == 1:
            raise RunsFailed(f"run {failed[0].describe()}{retry}")
        lines = "\n  ".join(o.describe() for o in failed)
        raise RunsFailed(f"{len(failed)} runs did not finish; run the same command again to resume the "
                         f"interrupted ones{retry.replace('it again', 'the failed ones again')}:\n  {lines}")


class SequentialExecutor(Executor):
    """``--executor local``: the jobs one by one in this process.

    Keyword arguments are :class:`Executor`'s; its ``callbacks`` may be any object (they stay in this
    process), e.g. a test's observers.

    >>> SequentialExecutor(show_progress=False).run([])
    []
    """

    name = "local"
    multi_process_runs = True

    def execute(self, jobs: list[RunJob], progress: Progress, logs_dir: Path) -> None:
        for job in jobs:
            progress.started(job)
            status, error = execute_job(job, self.callbacks, show_progress=self.show_progress)
            progress.ended(self.read_outcome(job, status, error))
