"""One configuration over several seeds: ``xprobe train`` and ``xprobe probe cka`` (one run directory per seed).

>>> [str(p) for p in seed_run_dirs(Path("runs/df"), [1, 2])]
['runs/df/seed-1', 'runs/df/seed-2']
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from xlingual_probe.experiments.executor import Executor, RunJob, RunOutcome, SequentialExecutor
from xlingual_probe.training.config import TrainConfig, check_seeds


def seed_run_dirs(out: Path, seeds: list[int]) -> list[Path]:
    """``out`` for one seed, ``out/seed-N`` for several."""
    return [out] if len(seeds) == 1 else [out / f"seed-{seed}" for seed in seeds]


def seed_jobs(values: dict[str, Any], seeds: list[int], out: Path, *, resume: bool = False, overwrite: bool = False,
              extra_config: dict[str, Any] | None = None, cka_probe: dict[str, Any] | None = None,
              alignment_probe: dict[str, Any] | None = None) -> list[RunJob]:
    """One job per seed into :func:`seed_run_dirs`, all with the TrainConfig ``values`` (``seed``/``out`` set here).

    Raises:
        UserError: no or repeated seeds, or invalid training options.
    """
    check_seeds(seeds)
    return [RunJob(TrainConfig.from_dict({**values, "seed": seed, "out": str(run_dir)}),
                   label=str(values.get("method", "direct")), extra_config=extra_config, cka_probe=cka_probe,
                   alignment_probe=alignment_probe, resume=resume, overwrite=overwrite)
            for seed, run_dir in zip(seeds, seed_run_dirs(out, seeds))]


def run_seeds(values: dict[str, Any], seeds: list[int], out: Path, *, resume: bool = False, overwrite: bool = False,
              extra_config: dict[str, Any] | None = None, cka_probe: dict[str, Any] | None = None,
              alignment_probe: dict[str, Any] | None = None, executor: Executor | None = None,
              show_progress: bool = True, log: Callable[[str], None] | None = None) -> list[RunOutcome]:
    """Train one run per seed (see :func:`seed_jobs`) with ``executor``; returns each seed's outcome.

    With several seeds the executor's ``status.txt`` goes to ``out``; a failed seed does not stop the
    others (the failures stay in ``executor.failures``).
    """
    executor = executor or SequentialExecutor(show_progress=show_progress, log=log)
    jobs = seed_jobs(executor.run_values(values), seeds, out, resume=resume, overwrite=overwrite,
                     extra_config=extra_config, cka_probe=cka_probe, alignment_probe=alignment_probe)
    return executor.run(jobs, status_dir=out if len(seeds) > 1 else None)
