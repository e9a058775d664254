"""How a run uses the machine: CPU threads, and TF32 matrix products on CUDA.

CPU threads: torch runs each operation on one OpenMP thread per core, and OpenMP's default lets a
thread that waits for the others at the end of an operation spin for a while before it sleeps. Alone
on the machine that saves a few microseconds per operation; next to another busy process (a second
run, a browser, another user's job) it is a disaster: the spinning threads burn the time slices the
threads they wait for need, so every one of the thousands of operations of an update waits for the
scheduler. A 2-thread fine-tuning of a small encoder on 2 cores went from ~0.03 s per update alone to
1.2–1.5 s next to one other PyTorch job. Waiting passively (``OMP_WAIT_POLICY=PASSIVE``: threads sleep
at once) removes the spinning; importing :mod:`xlingual_probe` before torch sets it unless the user set
it (``benchmarks/bench_sharing.py`` measures both settings alone and shared). A run with
``TrainConfig.threads`` set uses that many threads in each of its processes (``torch.set_num_threads``
for the run only, restored afterwards: an executor running several runs in one process, or several
runs side by side, gives each its share); without it torch's default applies (``OMP_NUM_THREADS``,
else the cores). A run records its thread count and wait policy in ``config.json`` (``device``).

Precision ``auto`` (the default) is bf16 mixed precision on a CUDA GPU that supports it and fp32
elsewhere. TF32 (``TrainConfig.tf32``) lets float32 matrix products on Ampere-or-later GPUs run on tensor cores
with a 10-bit mantissa: faster, and different numbers, hence a config field rather than a default.
It is switched on for the run only and restored afterwards (torch keeps it as process-wide state).

Accelerate keeps process-wide state too: every ``Accelerator`` of a process shares one
``AcceleratorState``, which refuses a second mixed precision ("AcceleratorState has already been
initialized and cannot be changed"). :func:`run_accelerator` gives each run a fresh one, so the runs of
one process (a notebook, an in-process sweep or comparison, the test suite) may mix fp32 and bf16.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState

__all__ = ["cpu_settings", "cpu_threads", "machine_settings", "resolve_precision", "run_accelerator", "tf32_matmuls"]


def resolve_precision(precision: str) -> str:
    """``fp32`` or ``bf16``: ``auto`` is bf16 on a CUDA GPU with bf16 support, fp32 elsewhere."""
    if precision != "auto":
        return precision
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"


def cpu_settings() -> dict[str, Any]:
    """The CPU thread settings in effect: threads, OpenMP wait policy (``None`` = OpenMP's default,
    spinning) and whether torch was imported before :mod:`xlingual_probe` (then the policy set by
    the package could not act)."""
    import xlingual_probe

    return {"cpu_threads": torch.get_num_threads(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "torch_imported_first": xlingual_probe.TORCH_IMPORTED_FIRST}


@contextlib.contextmanager
def tf32_matmuls(enabled: bool) -> Iterator[None]:
    """TF32 float32 matrix products on CUDA inside the block (when ``enabled``), as before after it."""
    if not enabled:
        yield
        return
    matmul = torch.backends.cuda.matmul
    # torch >= 2.9 has fp32_precision and refuses to read the legacy flag once the new API was used
    name, value = ("fp32_precision", "tf32") if hasattr(matmul, "fp32_precision") else ("allow_tf32", True)
    saved = getattr(matmul, name)
    setattr(matmul, name, value)
    try:
        yield
    finally:
        setattr(matmul, name, saved)


@contextlib.contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """``torch.set_num_threads(threads)`` inside the block (nothing when ``None``), as before after it."""
    if threads is None:
        yield
        return
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@contextlib.contextmanager
def machine_settings(config: Any) -> Iterator[dict[str, Any]]:
    """The run's machine settings inside the block; yields what to record in ``config.json``'s ``device``."""
    with tf32_matmuls(config.tf32), cpu_threads(config.threads):
        yield {"precision": resolve_precision(config.precision), "tf32": bool(config.tf32 and torch.cuda.is_available()),
               **cpu_settings()}



def run_accelerator(precision: str, **options: Any) -> Accelerator:
    """A new :class:`accelerate.Accelerator` for one run: bf16 mixed precision when ``precision`` is
    ``bf16``, none otherwise; ``options`` go to the constructor (trackers, project folder).

    The precision part of Accelerate's process-wide state (``AcceleratorState``) is cleared first:
    without that, a bf16 run after an fp32 run in one process raised ``ValueError`` (found on a GPU,
    where ``auto`` is bf16; reproduced on the CPU with an explicit bf16). The process group
    (``PartialState``) is kept, so the processes of a launched run stay one job.
    """
    AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(mixed_precision="bf16" if precision == "bf16" else "no", **options)
