"""Executors: how the runs of a sweep are carried out.

A sweep is a list of independent fine-tuning jobs, each writing its own run directory keyed by its
configuration (see :func:`xlingual_probe.probes.sweep.plan_sweep`). An executor takes the jobs and
returns one ``summary.json`` content per job, in order. Because every job is started with
``train(..., resume=True)``, an executor never has to know what happened before: a finished run is
read back, an unfinished one continues from its last checkpoint, and a run that never started
starts. That makes any executor restartable after Ctrl-C or a crash — run the same jobs again.

:class:`SequentialExecutor` runs the jobs one after the other in this process. Parallel processes or
a cluster can be added behind the same :class:`Executor` protocol (jobs are plain, picklable data).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from tqdm.auto import tqdm

from xlingual_probe.reporting import format_score
from xlingual_probe.runs import RunFiles

if TYPE_CHECKING:
    from xlingual_probe.probes.sweep import SweepJob


class Executor(Protocol):
    """Runs sweep jobs; ``run`` returns the summary of each job (``summary.json``), in job order."""

    def run(self, jobs: Sequence[SweepJob]) -> list[dict[str, Any]]:
        ...


def format_result_line(summary: dict[str, Any], which: str = "final") -> str:
    """``overall 71.20, gap 9.80`` of a run summary's ``final`` (or ``best``) evaluation.

    >>> format_result_line({"final": {"overall": 71.2, "gap": 9.8}})
    'overall 71.20, gap 9.80'
    """
    record = summary[which]
    return f"overall {record['overall']:.2f}, gap {format_score(record.get('gap'))}"


class SequentialExecutor:
    """Run the jobs one by one in this process, reusing finished runs and resuming unfinished ones.

    Args:
        show_progress: show a bar over the jobs and each run's own progress bar.
        callbacks: training callbacks passed to every run that trains (e.g. a probe).
        log: where the one-line report of each job goes (default: ``tqdm.write``).

    >>> SequentialExecutor(show_progress=False).run([])
    []
    """

    def __init__(self, show_progress: bool = True, callbacks: Sequence[Any] = (),
                 log: Callable[[str], None] | None = None):
        self.show_progress = show_progress
        self.callbacks = list(callbacks)
        self.log = log or tqdm.write

    def run(self, jobs: Sequence[SweepJob]) -> list[dict[str, Any]]:
        # imported here: the training stack (accelerate, transformers) is only needed to execute runs
        from xlingual_probe.training import train

        summaries: list[dict[str, Any]] = []
        bar = tqdm(total=len(jobs), desc="sweep", unit="run", disable=not self.show_progress, position=0)
        try:
            for index, job in enumerate(jobs, start=1):
                bar.set_postfix_str(f"{job.label} seed {job.seed}")
                reused = RunFiles(job.config.out).is_finished()
                summary = train(job.config, callbacks=self.callbacks, resume=True,
                                show_progress=self.show_progress, extra_config={"sweep": job.describe()})
                summaries.append(summary)
                status = "reused" if reused else "done"
                self.log(f"[{index}/{len(jobs)}] {job.label} seed {job.seed}: {status}, "
                         f"{format_result_line(summary)}")
                bar.update(1)
        finally:
            bar.close()
        return summaries
