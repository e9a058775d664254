"""``--executor ray``: one Ray task per run, on a local Ray instance or an existing cluster.

Each pending run becomes a task (``ray.remote`` with ``num_cpus`` = ``--cpus-per-run`` and ``num_gpus`` =
``--gpus-per-run``, where a fraction lets small models share a GPU); Ray schedules them on the
cluster's free resources and sets each task's ``CUDA_VISIBLE_DEVICES`` and ``OMP_NUM_THREADS``. The
tasks write their own run directories, so the results land in the same sweep directory as with any
other executor; on a cluster that directory (and ``--data-dir``, the model cache, ``$XPROBE_CACHE``)
must be on storage every node mounts at the same path, and each node needs this package installed.
The task changes into the submitting process's working directory, so relative paths work there too.

Only Ray Core is used (tasks, one small actor that records which runs started, ``ray.wait``), not Ray
Train or Tune: the run directories are the state, so a run is resumed, reused or skipped exactly as
with the other executors. Ray retries a task whose worker process or node died (``max_retries``, 3
by default), and the retry resumes from the run's checkpoint; a run that raised is recorded as
``error`` by the task itself and is not retried. Each task's output goes to
``logs/<label>-seed<k>-<key>.log`` in the sweep or comparison directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xlingual_probe.experiments.executor import (
    Executor,
    RunJob,
    error_line,
    execute_job,
    output_to,
    quiet_libraries,
)
from xlingual_probe.experiments.progress import Progress
from xlingual_probe.utils.errors import UserError


def import_ray():
    """The ``ray`` module, or a :class:`UserError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install 'xlingual-probe[ray]'") from None
    return ray


class _StartedRuns:
    """A Ray actor: the keys of the runs whose task has started (for the progress view)."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def started(self, key: str) -> None:
        self.keys.append(key)

    def since(self, index: int) -> list[str]:
        return self.keys[index:]


def _run_task(job: RunJob, callbacks: Sequence[Any], board: Any, log_path: str) -> tuple[str, str | None]:
    """The body of a Ray task: one run."""
    board.started.remote(str(job.run_dir))
    quiet_libraries()
    with output_to(Path(log_path)):
        return execute_job(job, callbacks)


class RayExecutor(Executor):
    """Run the jobs as Ray tasks.

    Args:
        address: an existing cluster (``auto``, ``ray://head:10001``, ...); ``None`` = connect to the Ray
            instance this process already initialised, else start a local one.
        gpus_per_run: GPUs per task (fractions share a GPU).
        cpus_per_run: CPU cores per task; on CPU-only runs also the run's ``threads`` (unless given).
        **kwargs: :class:`~xlingual_probe.experiments.executor.Executor`'s options (``callbacks`` must
            be picklable).
    """

    name = "ray"

    def __init__(self, *, address: str | None = None, gpus_per_run: float = 0.0, cpus_per_run: int = 1,
                 **kwargs: Any):
        if kwargs.get("threads") is None and not gpus_per_run:
            kwargs["threads"] = cpus_per_run
        super().__init__(**kwargs)
        self.address = address
        self.gpus_per_run = gpus_per_run
        self.cpus_per_run = cpus_per_run

    def describe(self) -> str:
        where = self.address or "local instance"
        return f"ray ({where}; {self.cpus_per_run} CPU, {self.gpus_per_run:g} GPU per run)"

    def connect(self):
        """Ray, initialised: the cluster at ``address``, else the running instance, else a new local one."""
        ray = import_ray()
        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False)
        return ray

    def execute(self, jobs: list[RunJob], progress: Progress, logs_dir: Path) -> None:
        ray = self.connect()
        board = ray.remote(num_cpus=0)(_StartedRuns).remote()
        task = ray.remote(_run_task).options(num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run)
        refs = {task.remote(job, self.callbacks, board, str(logs_dir / job.log_name)): job for job in jobs}
        by_dir = {str(job.run_dir): job for job in jobs}
        seen = 0
        try:
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=self.refresh_seconds)
                started = ray.get(board.since.remote(seen))
                seen += len(started)
                for run_dir in started:
                    if progress.outcome(by_dir[run_dir]) is None:
                        progress.started(by_dir[run_dir])
                for ref in ready:
                    job = refs.pop(ref)
                    try:
                        status, error = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # the task's worker or node died, retries used up
                        status, error = None, error_line(exc)
                    progress.ended(self.read_outcome(job, status, error))
                progress.refresh()
        finally:
            for ref in refs:  # Ctrl-C: stop what still runs (its run resumes from its checkpoint)
                ray.cancel(ref, force=True)
            ray.kill(board)
