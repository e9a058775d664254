"""``--executor slurm``: the pending runs as one Slurm job array, through submitit.

One array task per run (``submitit.AutoExecutor.submit_array``), each with ``--cpus-per-run`` cores,
``--gpus-per-run`` GPUs, ``--mem-gb``, on ``--partition`` for at most ``--time``; ``--workers`` caps
how many tasks run at once (``%N`` of the array), ``--slurm-arg KEY=VALUE`` passes any other sbatch
option (``account=...``, ``qos=...``, ``constraint=...``). submitit's files and each task's output
go to ``logs/<job id>/`` in the sweep or comparison directory.

Pre-emption and time limits: Slurm signals a task before it is pre-empted or reaches its limit;
submitit then calls the task's ``checkpoint`` (:meth:`SubmititRun.checkpoint`), which resubmits the
same run with ``resume=True``, and requeues the task (up to ``max_num_timeout`` time-outs, 20 here).
The requeued task continues from the run's own last checkpoint (``--save-every``; the updates since
then are redone, and the run's numbers are those of an uninterrupted run). Without the signal (a
node crash, ``scancel``), the run is reported as interrupted and resumes on the next call of the
same command. submitit's local executor (``cluster="local"``) runs the same code without Slurm,
which is how the tests check it.

The command waits for the array and shows its progress; Ctrl-C cancels the tasks still queued or
running (their runs resume later from their checkpoints).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from xlingual_probe.experiments.executor import Executor, RunJob, error_line, execute_job, quiet_libraries
from xlingual_probe.experiments.progress import PENDING, Progress
from xlingual_probe.utils.errors import UserError

MAX_TIMEOUTS = 20  # requeues after a time-out before submitit gives a run up (pre-emptions do not count)


def import_submitit():
    """The ``submitit`` module, or a :class:`UserError` saying how to install it."""
    try:
        import submitit
    except ImportError:
        raise UserError("--executor slurm needs submitit: pip install 'xlingual-probe[slurm]'") from None
    return submitit


class SubmititRun:
    """One run as a submitit callable; its ``checkpoint`` makes a pre-empted or timed-out task resume."""

    def __init__(self, job: RunJob, callbacks: list[Any]):
        self.job = job
        self.callbacks = callbacks

    def __call__(self) -> tuple[str, str | None]:
        quiet_libraries()
        return execute_job(self.job, self.callbacks)

    def checkpoint(self) -> Any:
        """The resubmission of a task that Slurm is about to stop: the same run, continued from its
        last checkpoint (never started over: ``resume=True``, ``overwrite=False``)."""
        submitit = import_submitit()
        return submitit.helpers.DelayedSubmission(
            SubmititRun(replace(self.job, resume=True, overwrite=False), self.callbacks))


class SlurmExecutor(Executor):
    """Run the jobs as one Slurm job array.

    Args:
        partition: Slurm partition (``None`` = the cluster's default).
        time_min: time limit of each task in minutes (a run that reaches it is requeued and resumes).
        gpus_per_run: GPUs per task.
        cpus_per_run: CPU cores per task; on CPU-only runs also the run's ``threads`` (unless given).
        mem_gb: memory per task (``None`` = the partition's default).
        max_parallel: tasks running at once (``None`` = no cap).
        slurm_args: more sbatch parameters (``{"account": "abc"}``).
        cluster: submitit's cluster: ``slurm``, or ``local`` (no Slurm: for tests).
        **kwargs: :class:`~xlingual_probe.experiments.executor.Executor`'s options (``callbacks`` must
            be picklable).
    """

    name = "slurm"

    def __init__(self, *, partition: str | None = None, time_min: int = 60, gpus_per_run: int = 0,
                 cpus_per_run: int = 1, mem_gb: float | None = None, max_parallel: int | None = None,
                 slurm_args: dict[str, str] | None = None, cluster: str = "slurm", **kwargs: Any):
        if kwargs.get("threads") is None and not gpus_per_run:
            kwargs["threads"] = cpus_per_run
        super().__init__(**kwargs)
        if max_parallel is not None and max_parallel < 1:
            raise UserError("--workers must be at least 1")
        self.partition, self.time_min, self.mem_gb = partition, time_min, mem_gb
        self.gpus_per_run, self.cpus_per_run = gpus_per_run, cpus_per_run
        self.max_parallel, self.slurm_args, self.cluster = max_parallel, dict(slurm_args or {}), cluster

    def describe(self) -> str:
        where = f"partition {self.partition}" if self.partition else "default partition"
        return (f"slurm ({self.cluster}; {where}; {self.time_min} min, {self.cpus_per_run} CPU, "
                f"{self.gpus_per_run} GPU per run)")

    def submitit_executor(self, logs_dir: Path) -> Any:
        """The configured ``submitit.AutoExecutor`` (files under ``logs_dir/<job id>``).

        Raises:
            UserError: submitit is not installed, or ``cluster="slurm"`` where Slurm is not.
        """
        submitit = import_submitit()
        try:
            executor = submitit.AutoExecutor(folder=logs_dir / "%j", cluster=self.cluster,
                                             slurm_max_num_timeout=MAX_TIMEOUTS, local_max_num_timeout=MAX_TIMEOUTS)
        except RuntimeError as exc:  # no srun here
            raise UserError(f"--executor slurm: {exc} (run the command on a Slurm login node)") from None
        parameters: dict[str, Any] = {
            "name": "xprobe", "timeout_min": self.time_min, "nodes": 1, "tasks_per_node": 1,
            "cpus_per_task": self.cpus_per_run, "gpus_per_node": self.gpus_per_run or None, "mem_gb": self.mem_gb,
            "slurm_partition": self.partition, "slurm_array_parallelism": self.max_parallel,
            "slurm_additional_parameters": self.slurm_args or None}
        executor.update_parameters(**{k: v for k, v in parameters.items() if v is not None})
        return executor

    def execute(self, jobs: list[RunJob], progress: Progress, logs_dir: Path) -> None:
        executor = self.submitit_executor(logs_dir)
        submitted = dict(zip(executor.submit_array([SubmititRun(job, self.callbacks) for job in jobs]), jobs))
        progress.log(f"submitted {len(jobs)} runs as job array {next(iter(submitted)).job_id.split('_')[0]} "
                     f"(logs in {logs_dir})")
        try:
            while submitted:
                for task, job in list(submitted.items()):
                    if task.done():
                        try:
                            status, error = task.result()
                        except Exception as exc:  # noqa: BLE001 - the task died (killed, time-outs used up)
                            status, error = None, error_line(exc)
                        progress.ended(self.read_outcome(job, status, error))
                        del submitted[task]
                    elif progress.state[job.run_dir] == PENDING and task.state == "RUNNING":
                        progress.started(job)
                progress.refresh()
                if submitted:
                    time.sleep(min(self.refresh_seconds, 5.0))
        finally:
            for task in submitted:  # Ctrl-C: cancel what is still queued or running
                task.cancel(check=False)
