"""Runs as units of work, and executors that carry them out.

Every command that fine-tunes (``train``, ``probe layers``, ``probe cka``, ``compare``, ``--sets auto``,
the demo) turns its work into :class:`RunJob` s — one fine-tuning run each, with its full
:class:`~xlingual_probe.training.TrainConfig`, its run directory and the probes it carries — and
hands them to an executor, which returns one ``summary.json`` content per job, in job order.
:meth:`RunJob.run` is the only place where the toolkit calls :func:`~xlingual_probe.training.train`.

A job started with ``resume=True`` (the default) is idempotent: a finished run is read back, an
unfinished one continues from its last checkpoint, and a run that never started starts. So an
executor never has to know what happened before, and any executor can be restarted after Ctrl-C, a
crash or a pre-emption by running the same jobs again.

:class:`SequentialExecutor` runs the jobs one after the other in this process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tqdm.auto import tqdm

from xlingual_probe.reporting import format_score
from xlingual_probe.runs import RunFiles
from xlingual_probe.training.config import TrainConfig


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
    """

    config: TrainConfig
    label: str = ""
    extra_config: dict[str, Any] | None = None
    cka_probe: dict[str, Any] | None = None
    alignment_probe: dict[str, Any] | None = None
    resume: bool = True
    overwrite: bool = False

    @property
    def run_dir(self) -> Path:
        return Path(self.config.out)

    @property
    def seed(self) -> int:
        return self.config.seed

    def is_finished(self) -> bool:
        return RunFiles(self.run_dir).is_finished()

    def run(self, show_progress: bool = False, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
        """Train (or resume, or read back) the run; returns its ``summary.json`` content.

        Args:
            show_progress: the run's progress bar.
            callbacks: more training callbacks (observers in this process), after the job's own probes.
        """
        # imported here: the training stack (accelerate, transformers) is only needed to execute runs
        from xlingual_probe.training import train

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


class Executor(Protocol):
    """Runs jobs; ``run`` returns the summary of each job (``summary.json``), in job order."""

    def run(self, jobs: Sequence[RunJob]) -> list[dict[str, Any]]:
        ...


def format_result_line(summary: dict[str, Any], which: str = "final") -> str:
    """``overall 71.20, gap 9.80`` of a run summary's ``final`` (or ``best``) evaluation; a diverged
    run says so (with its last evaluation, if any).

    >>> format_result_line({"final": {"overall": 71.2, "gap": 9.8}})
    'overall 71.20, gap 9.80'
    >>> format_result_line({"status": "diverged", "diverged_at": 7, "final": None})
    'DIVERGED at update 7 (no evaluation before)'
    """
    record = summary.get(which)
    scores = "no evaluation before" if record is None else \
        f"overall {record['overall']:.2f}, gap {format_score(record.get('gap'))}"
    if summary.get("status") == "diverged":
        return f"DIVERGED at update {summary['diverged_at']} ({scores})"
    return scores


class SequentialExecutor:
    """Run the jobs one by one in this process, reusing finished runs and resuming unfinished ones.

    Args:
        show_progress: show a bar over the jobs and each run's own progress bar.
        log: where the one-line report of each job goes (default: ``tqdm.write``).
        callbacks: training callbacks added to every run (observers living in this process, e.g. a test's).

    >>> SequentialExecutor(show_progress=False).run([])
    []
    """

    def __init__(self, show_progress: bool = True, log: Callable[[str], None] | None = None,
                 callbacks: Sequence[Any] = ()):
        self.show_progress = show_progress
        self.log = log or tqdm.write
        self.callbacks = list(callbacks)

    def run(self, jobs: Sequence[RunJob]) -> list[dict[str, Any]]:
        from xlingual_probe.training.slowfast import phase_warning

        summaries: list[dict[str, Any]] = []
        bar = tqdm(total=len(jobs), desc="runs", unit="run", disable=not self.show_progress or len(jobs) < 2,
                   position=0)
        try:
            for index, job in enumerate(jobs, start=1):
                bar.set_postfix_str(f"{job.label} seed {job.seed}")
                reused = job.resume and job.is_finished()
                summary = job.run(show_progress=self.show_progress, callbacks=self.callbacks)
                summaries.append(summary)
                status = "reused" if reused else "done"
                self.log(f"[{index}/{len(jobs)}] {job.label} seed {job.seed}: {status}, "
                         f"{format_result_line(summary)}")
                if (warning := phase_warning(summary)) is not None:
                    self.log(warning)
                bar.update(1)
        finally:
            bar.close()
        return summaries
