"""Checks the loop makes before and during training: how it was launched, and non-finite losses.

Launch:
    ``torchrun --nproc_per_node 2`` (or ``accelerate launch --num_processes 2``) starts two
    processes and tells each of them so through ``WORLD_SIZE`` / ``RANK`` / ``LOCAL_RANK``. When
    Accelerate does not make them one job (e.g. ``accelerate launch --multi_gpu`` on a machine
    without GPUs), each process believes it is the only one: both write the same run directory,
    and ``steps.jsonl`` holds two interleaved copies of every update. :func:`check_launch` turns
    that into one error line before anything is written.

Non-finite losses:
    A NaN or infinite training loss means the update would poison the weights (and the
    slow-and-fast policy's loss windows). :class:`NonFiniteGuard` decides what happens: by default
    the run stops as *diverged* (a recorded outcome: ``summary.json`` with ``status: diverged``,
    the update and the reason, the last good checkpoint kept); with ``skip_nonfinite = N`` up to N
    such updates are skipped instead (no optimizer step, gradients dropped, logged in
    ``steps.jsonl``; the learning-rate schedule still advances and the policy never sees them) and
    the N+1-th stops the run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from xlingual_probe.utils.errors import UserError

_LAUNCHER_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


def check_launch(num_processes: int, environ: Mapping[str, str] | None = None) -> None:
    """Refuse a launch whose processes did not join one job.

    Args:
        num_processes: the processes Accelerate sees in the job (``accelerator.num_processes``).
        environ: the environment (default ``os.environ``).

    Raises:
        UserError: the launcher says ``WORLD_SIZE`` > 1 but Accelerate sees another number of processes.

    >>> check_launch(2, {"WORLD_SIZE": "2", "RANK": "1"})
    >>> check_launch(1, {"WORLD_SIZE": "2", "RANK": "1"})
    Traceback (most recent call last):
    ...
    xlingual_probe.utils.errors.UserError: the launcher started 2 processes (WORLD_SIZE=2, RANK=1) but they did not join one job (each sees 1): every one of them would write the same run directory. Run one process (plain `xprobe ...`), or launch several where they can form one job (GPUs: `accelerate launch --multi_gpu`; CPU: `accelerate launch --cpu --num_processes N` after `accelerate config`)
    """
    environ = os.environ if environ is None else environ
    try:
        world = int(environ.get("WORLD_SIZE") or 1)
    except ValueError:
        raise UserError(f"WORLD_SIZE={environ.get('WORLD_SIZE')!r} is not a number of processes") from None
    if world > 1 and num_processes != world:
        shown = ", ".join(f"{k}={environ[k]}" for k in _LAUNCHER_VARIABLES if environ.get(k))
        raise UserError(f"the launcher started {world} processes ({shown}) but they did not join one job (each "
                        f"sees {num_processes}): every one of them would write the same run directory. Run one "
                        "process (plain `xprobe ...`), or launch several where they can form one job (GPUs: "
                        "`accelerate launch --multi_gpu`; CPU: `accelerate launch --cpu --num_processes N` after "
                        "`accelerate config`)")


def check_batch_split(batch_size: int, processes: int, accumulation_steps: int = 1) -> None:
    """Refuse a batch that does not split evenly over processes × gradient-accumulation steps.

    >>> check_batch_split(32, 2, 4)
    >>> check_batch_split(30, 4)
    Traceback (most recent call last):
    ...
    xlingual_probe.utils.errors.UserError: --batch-size 30 must be divisible by processes × accumulation steps (4 × 1 = 4): every process must see the same number of examples per step; use e.g. --batch-size 32
    """
    parts = processes * accumulation_steps
    if batch_size % parts:
        suggestion = math.ceil(batch_size / parts) * parts
        raise UserError(f"--batch-size {batch_size} must be divisible by processes × accumulation steps "
                        f"({processes} × {accumulation_steps} = {parts}): every process must see the same "
                        f"number of examples per step; use e.g. --batch-size {suggestion}")


class Diverged(Exception):
    """The training loss was not finite (and no skip was left); ``step`` is the update."""

    def __init__(self, step: int, loss: float, skipped: int):
        self.step, self.loss, self.skipped = step, loss, skipped
        extra = f" after skipping {skipped} such update(s)" if skipped else ""
        super().__init__(f"training loss became {loss} at update {step}{extra}; lower --lr, check the data, "
                         "or pass --skip-nonfinite N to skip up to N such updates")


class NonFiniteGuard:
    """Counts skipped non-finite updates and decides when a run has diverged.

    Args:
        budget: how many updates with a non-finite loss may be skipped (``TrainConfig.skip_nonfinite``).
        skipped: updates skipped so far (restored from a checkpoint when resuming).

    >>> guard = NonFiniteGuard(budget=1)
    >>> guard.skip_or_raise(7, float("nan"))
    {'step': 7, 'loss': None, 'skipped': 'non-finite loss (nan); 1 of at most 1 skipped'}
    >>> guard.skip_or_raise(9, float("inf"))
    Traceback (most recent call last):
    ...
    xlingual_probe.training.guards.Diverged: training loss became inf at update 9 after skipping 1 such update(s); lower --lr, check the data, or pass --skip-nonfinite N to skip up to N such updates
    """

    def __init__(self, budget: int = 0, skipped: int = 0):
        self.budget, self.skipped = budget, skipped

    def skip_or_raise(self, step: int, loss: float) -> dict[str, object]:
        """The ``steps.jsonl`` record of a skipped update, or :class:`Diverged` when no skip is left."""
        if self.skipped >= self.budget:
            raise Diverged(step, loss, self.skipped)
        self.skipped += 1
        return {"step": step, "loss": None,
                "skipped": f"non-finite loss ({loss}); {self.skipped} of at most {self.budget} skipped"}
