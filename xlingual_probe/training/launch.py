"""One run on N local processes (``--num-processes N``), without an external launcher.

``accelerate launch --num_processes N -m xlingual_probe train ...`` starts N copies of the whole
command; ``--num-processes N`` instead starts N worker processes for each run from inside the
command (so a sweep or a comparison stays one process that runs its runs one after the other, each
on N processes). Each worker is a fresh ``spawn``-ed interpreter with the environment a launcher
gives (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), from which
Accelerate builds its process group: NCCL on GPUs (process r on GPU r), gloo on CPU. A
:class:`~xlingual_probe.utils.errors.UserError` in any worker ends the run with that worker's
``error:`` line; any other failure ends it with the worker's traceback.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from xlingual_probe.utils.environ import environ_set
from xlingual_probe.utils.errors import UserError

__all__ = ["in_distributed_launch", "run_on_processes"]


def in_distributed_launch() -> bool:
    """Whether this process is one of several started by a launcher (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any], errors: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank))
    try:
        fn(*args, **kwargs)
    except UserError as exc:
        Path(errors, f"rank-{rank}").write_text(str(exc), encoding="utf-8")
        raise SystemExit(1) from None
    except BaseException:  # noqa: BLE001  (reported to the parent, then the worker exits)
        Path(errors, f"rank-{rank}").write_text(traceback.format_exc(), encoding="utf-8")
        raise SystemExit(1) from None


def _device_environment(num_processes: int) -> dict[str, str]:
    """One GPU per process, or CPU processes (gloo over the loopback interface) without GPUs.

    Raises:
        UserError: fewer GPUs than processes.
    """
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus:
        if gpus < num_processes:
            raise UserError(f"--num-processes {num_processes}: only {gpus} GPU(s) here (one process per GPU)")
        return {}
    env = {"ACCELERATE_USE_CPU": "true"}
    if sys.platform.startswith("linux") and not os.environ.get("GLOO_SOCKET_IFNAME"):
        env["GLOO_SOCKET_IFNAME"] = "lo"  # gloo's hostname-based choice of interface is unreliable
    return env


@contextlib.contextmanager
def _launch_environment(num_processes: int) -> Iterator[None]:
    """The variables a launcher sets, for the workers to inherit; each worker gets its share of the
    CPU cores as OpenMP threads unless ``OMP_NUM_THREADS`` is set (as ``torchrun`` does: N workers
    with all cores each would oversubscribe the CPU)."""
    env = {"WORLD_SIZE": str(num_processes), "LOCAL_WORLD_SIZE": str(num_processes), "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(_free_port()),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // num_processes)),
           **_device_environment(num_processes)}
    with environ_set(env):
        yield


def _failure(errors: Path) -> str | None:
    """The most telling worker report: a user error (one line) before a traceback, which may only be
    another worker's reaction to the first one's exit."""
    reports = [path.read_text(encoding="utf-8").strip() for path in sorted(errors.glob("rank-*"))]
    reports.sort(key=lambda text: "\n" in text)
    return reports[0] if reports else None


def run_on_processes(fn: Callable[..., Any], num_processes: int, *args: Any, **kwargs: Any) -> None:
    """Call ``fn(*args, **kwargs)`` in ``num_processes`` spawned worker processes that form one
    process group, and wait for all of them. ``fn``, ``args`` and ``kwargs`` must be picklable.

    Raises:
        UserError: a worker raised one (its message), or a worker failed otherwise (its traceback).
    """
    from torch.multiprocessing import start_processes

    with tempfile.TemporaryDirectory(prefix="xprobe-workers-") as errors, _launch_environment(num_processes):
        try:
            start_processes(_worker, args=(fn, args, kwargs, errors), nprocs=num_processes, start_method="spawn")
        except Exception:  # the workers wrote what went wrong
            message = _failure(Path(errors))
            if message is None:
                raise
            raise UserError(message if "\n" not in message else f"a worker process failed:\n{message}") from None
