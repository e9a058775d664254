"""``--executor processes``: N local worker processes, each pinned to one GPU or to its share of the cores.

Each worker is a fresh Python (the ``spawn`` start method: no CUDA or thread-pool state is inherited)
started with its environment already set, so the settings hold from before PyTorch is imported:

- with GPUs, ``CUDA_VISIBLE_DEVICES`` = one GPU per worker (round robin when there are more workers
  than GPUs), and ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` = cores / N;
- on CPU, ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` = the run's thread count, by default cores / N,
  which is also written into every run's config (``threads``): the thread count changes a CPU run's
  numbers in the last digits, so it is part of the run's identity. Oversubscribed cores are what
  makes parallel runs slow (two processes with 2 threads each on 2 cores ran 5-10× slower here).

The parent sends one job at a time to each idle worker over a pipe and waits on the pipes and the
processes together, so it always knows which run each worker holds: a worker that dies (killed, out
of memory) loses only its run, which is reported as ``interrupted`` and resumes from its checkpoint
on the next call, while a new worker takes its place for the remaining runs. Each run's output goes to
``logs/<label>-seed<k>-<key>.log`` in the sweep or comparison directory.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from xlingual_probe.experiments.executor import Executor, RunJob, execute_job, output_to, quiet_libraries
from xlingual_probe.experiments.progress import Progress
from xlingual_probe.utils.environ import environ_set
from xlingual_probe.utils.errors import UserError


def visible_gpus() -> list[str]:
    """The GPUs this process may use: the entries of ``CUDA_VISIBLE_DEVICES`` when set, else ``0 … n-1``."""
    import torch

    count = torch.cuda.device_count()  # NVML-based: no CUDA context in the parent
    listed = [g.strip() for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()]
    return listed[:count] if listed else [str(i) for i in range(count)]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a Slurm allocation), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _worker_main(conn: Connection, callbacks: Sequence[Any], logs_dir: str) -> None:
    """A worker: run each job received on ``conn`` (its output to ``logs_dir/<run>.log``) and send back
    ``(status, error)``; stop on ``None``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the workers
    quiet_libraries()
    try:
        while (job := conn.recv()) is not None:
            with output_to(Path(logs_dir) / job.log_name):
                result = execute_job(job, callbacks)
            conn.send(result)
    except (EOFError, BrokenPipeError):  # the parent is gone
        return


@dataclass
class _Worker:
    slot: int
    process: Any
    conn: Connection
    job: RunJob | None = None


class ProcessExecutor(Executor):
    """Run the jobs in ``workers`` local processes.

    Args:
        workers: number of processes (default: one per visible GPU, else 2).
        gpus: GPU ids to pin the workers to (default: :func:`visible_gpus`; ``[]`` = CPU only).
        **kwargs: :class:`~xlingual_probe.experiments.executor.Executor`'s options; ``threads``
            defaults to cores / ``workers`` on CPU (on GPU runs it stays unset: the GPU's numbers do not
            depend on it), and ``callbacks`` must be picklable.

    Raises:
        UserError: ``workers`` < 1.
    """

    name = "processes"

    def __init__(self, workers: int | None = None, *, gpus: Sequence[str] | None = None, **kwargs: Any):
        self.gpus = visible_gpus() if gpus is None else list(gpus)
        self.workers = workers if workers is not None else (len(self.gpus) or 2)
        if self.workers < 1:
            raise UserError("--workers must be at least 1")
        self.cpu_threads = max(1, usable_cores() // self.workers)
        if kwargs.get("threads") is None and not self.gpus:
            kwargs["threads"] = self.cpu_threads
        super().__init__(**kwargs)

    def describe(self) -> str:
        where = f"GPUs {','.join(self.gpus)}" if self.gpus else f"{self.threads} CPU thread(s) per run"
        return f"processes ({self.workers} workers, {where})"

    def worker_environment(self, slot: int) -> dict[str, str]:
        """The environment variables of worker ``slot`` (set before it imports PyTorch)."""
        threads = str(self.threads or self.cpu_threads)
        env = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "TOKENIZERS_PARALLELISM": "false"}
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        return env

    def _start(self, slot: int, logs_dir: Path) -> _Worker:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_worker_main, name=f"xprobe-worker-{slot}", daemon=True,
                                  args=(child, self.callbacks, str(logs_dir)))
        with environ_set(self.worker_environment(slot)):
            process.start()
        child.close()
        return _Worker(slot, process, parent)

    def execute(self, jobs: list[RunJob], progress: Progress, logs_dir: Path) -> None:
        logs_dir.mkdir(parents=True, exist_ok=True)
        queue = deque(jobs)
        workers = [self._start(slot, logs_dir) for slot in range(min(self.workers, len(jobs)))]
        try:
            while queue or any(w.job is not None for w in workers):
                for worker in workers:
                    if worker.job is None and queue:
                        worker.job = queue.popleft()
                        progress.started(worker.job)
                        try:
                            worker.conn.send(worker.job)
                        except (BrokenPipeError, ConnectionError):
                            pass  # it died meanwhile: reported below, like a death during the run
                busy = [w for w in workers if w.job is not None]
                ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy],
                             timeout=self.refresh_seconds)
                for worker in busy:
                    if worker.conn in ready or worker.conn.poll():
                        try:
                            status, error = worker.conn.recv()
                        except (EOFError, ConnectionError):  # it died while sending: no report
                            status, error = None, None
                        if status is not None:
                            progress.ended(self.read_outcome(worker.job, status, error))
                            worker.job = None
                            continue
                    if not worker.process.is_alive():
                        worker.process.join()
                        progress.ended(self.read_outcome(worker.job, None, _death(worker.process.exitcode)))
                        worker.conn.close()
                        workers.remove(worker)
                        if queue:  # a new worker in the same slot (same GPU) for the remaining runs
                            workers.append(self._start(worker.slot, logs_dir))
                progress.refresh()
        finally:
            _stop(workers)


def _death(exitcode: int | None) -> str:
    """``its worker died (SIGKILL)``: what a worker's exit code says.

    >>> _death(-9)
    'its worker process died (SIGKILL); run the same command again to resume it'
    """
    how = signal.Signals(-exitcode).name if exitcode is not None and exitcode < 0 else f"exit code {exitcode}"
    return f"its worker process died ({how}); run the same command again to resume it"


def _stop(workers: list[_Worker]) -> None:
    """Ask idle workers to stop; terminate busy ones (Ctrl-C: their runs resume from the checkpoint)."""
    for worker in workers:
        if worker.process.is_alive():
            if worker.job is None:
                try:
                    worker.conn.send(None)
                except (BrokenPipeError, ConnectionError):
                    pass
            else:
                worker.process.terminate()
    for worker in workers:
        worker.process.join(timeout=30)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()
