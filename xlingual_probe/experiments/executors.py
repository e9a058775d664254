"""``--executor local|processes|ray|slurm``: build the executor the command line asks for.

=============  ===========================================================================================
``local``      one run after the other in this process (default).
``processes``  ``--workers N`` local processes, each pinned to a GPU or to cores / N CPU threads.
``ray``        one Ray task per run (``--gpus-per-run``, fractions share a GPU; ``--cpus-per-run``) on a
               local Ray instance or an existing cluster (``--address``); needs ``xlingual-probe[ray]``.
``slurm``      one Slurm job array through submitit (``--partition``, ``--time``, ``--gpus-per-run``,
               ``--cpus-per-run``, ``--mem-gb``, ``--workers`` = array tasks at once, ``--slurm-arg``);
               a pre-empted or timed-out run is requeued and resumes from its checkpoint; needs
               ``xlingual-probe[slurm]``.
=============  ===========================================================================================

Every executor reads and writes only run directories, so for Ray on a cluster and for Slurm the sweep
or comparison directory (and the data and model cache) must be on storage every node mounts at the
same path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from xlingual_probe.experiments.executor import Executor, SequentialExecutor
from xlingual_probe.utils.errors import UserError

EXECUTORS = ("local", "processes", "ray", "slurm")
_ONLY = {"workers": ("processes", "slurm"), "address": ("ray",), "gpus_per_run": ("ray", "slurm"),
         "cpus_per_run": ("ray", "slurm"), "partition": ("slurm",), "time": ("slurm",), "mem_gb": ("slurm",),
         "slurm_arg": ("slurm",)}
_DEFAULTS = {"gpus_per_run": 0.0, "cpus_per_run": 1}


def parse_slurm_time(text: str) -> int:
    """Minutes of a Slurm ``--time`` value: ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M`` or ``D-H:M:S``
    (seconds rounded up).

    >>> [parse_slurm_time(t) for t in ("90", "30:00", "4:00:00", "1-12", "2-00:30:01")]
    [90, 30, 240, 2160, 2911]

    Raises:
        UserError: not one of these forms, or not positive.
    """
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if match is None:
        raise UserError(f"--time takes minutes or [D-]HH:MM[:SS] as Slurm does, not {text!r}")
    days, *rest = match.groups()
    numbers = [int(x) for x in rest if x is not None]
    if days is not None:  # D-H, D-H:M, D-H:M:S
        hours, minutes, seconds = (numbers + [0, 0])[:3]
        minutes += 60 * (24 * int(days) + hours)
    elif len(numbers) == 3:  # H:M:S
        minutes, seconds = 60 * numbers[0] + numbers[1], numbers[2]
    else:  # M or M:S
        minutes, seconds = (numbers + [0])[:2]
    total = minutes + (seconds + 59) // 60
    if total <= 0:
        raise UserError("--time must be positive")
    return total


def _key_values(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--slurm-arg takes KEY=VALUE (an sbatch option without its dashes), not {item!r}")
        out[key.strip()] = value.strip()
    return out


def make_executor(executor: str = "local", *, workers: int | None = None, threads_per_run: int | None = None,
                  retry_failed: bool = False, address: str | None = None, gpus_per_run: float = 0.0,
                  cpus_per_run: int = 1, partition: str | None = None, time: str | None = None,
                  mem_gb: float | None = None, slurm_arg: list[str] | None = None, show_progress: bool = True,
                  log: Callable[[str], None] | None = None) -> Executor:
    """The executor of the command-line options (see the module docstring and the README's "Scale").

    Raises:
        UserError: an unknown executor, an option of another executor, or a bad value.
    """
    if executor not in EXECUTORS:
        raise UserError(f"unknown --executor {executor!r}; choose one of: {', '.join(EXECUTORS)}")
    given = {"workers": workers, "address": address, "gpus_per_run": gpus_per_run, "cpus_per_run": cpus_per_run,
             "partition": partition, "time": time, "mem_gb": mem_gb, "slurm_arg": slurm_arg}
    for name, value in given.items():
        if value not in (None, [], _DEFAULTS.get(name)) and executor not in _ONLY[name]:
            raise UserError(f"--{name.replace('_', '-')} applies to --executor {' or '.join(_ONLY[name])}, "
                            f"not {executor}")
    if gpus_per_run < 0 or cpus_per_run < 1:
        raise UserError("--gpus-per-run must be >= 0 and --cpus-per-run >= 1")
    common: dict[str, Any] = {"retry_failed": retry_failed, "show_progress": show_progress, "log": log,
                              "threads": threads_per_run}
    if executor == "local":
        return SequentialExecutor(**common)
    if executor == "processes":
        from xlingual_probe.experiments.processes import ProcessExecutor

        return ProcessExecutor(workers, **common)
    if executor == "ray":
        from xlingual_probe.experiments.ray_executor import RayExecutor

        return RayExecutor(address=address, gpus_per_run=gpus_per_run, cpus_per_run=cpus_per_run, **common)
    from xlingual_probe.experiments.slurm_executor import SlurmExecutor

    if gpus_per_run != int(gpus_per_run):
        raise UserError("--gpus-per-run must be a whole number with --executor slurm (Slurm allocates whole GPUs)")
    return SlurmExecutor(partition=partition, time_min=parse_slurm_time(time or "60"), gpus_per_run=int(gpus_per_run),
                         cpus_per_run=cpus_per_run, mem_gb=mem_gb, max_parallel=workers,
                         slurm_args=_key_values(slurm_arg), **common)
