"""``xprobe train METHOD``: fine-tune a model on a source language and evaluate every language.

Methods: ``direct`` (DF, plain fine-tuning). One run directory per seed (``--out`` itself for one
seed, ``--out/seed-N`` for several), then a table of mean ± std over the seeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from xlingual_probe.commands.options import resolve_train_options, with_train_options
from xlingual_probe.reporting import seed_summary_table
from xlingual_probe.training import TrainConfig, train
from xlingual_probe.utils.errors import UserError

METHODS = ("direct",)

EXAMPLES = """
Examples:

  xprobe train direct --model synthetic --task synthetic-nli --out runs/df

  xprobe train direct --model intfloat/multilingual-e5-small --task xnli --data-dir ../shared/data
      --train-size 2000 --eval-size 500 --max-steps 300 --batch-size 16 --lr 5e-5 --seed 1 --seed 2 --out runs/xnli
"""


def seed_run_dirs(out: Path, seeds: list[int]) -> list[Path]:
    """``out`` for one seed, ``out/seed-N`` for several."""
    return [out] if len(seeds) == 1 else [out / f"seed-{seed}" for seed in seeds]


def run_seeds(values: dict[str, Any], seeds: list[int], out: Path, resume: bool, overwrite: bool,
              **train_kwargs: Any) -> list[Path]:
    """Train one run per seed into :func:`seed_run_dirs` and print each run's result line."""
    dirs = seed_run_dirs(out, seeds)
    for seed, run_dir in zip(seeds, dirs):
        config = TrainConfig.from_dict({**values, "seed": seed, "out": str(run_dir)})
        summary = train(config, resume=resume, overwrite=overwrite, **train_kwargs)
        best = summary["best"]
        typer.echo(f"{run_dir}: best at update {best['step']}: source {best['source']:.2f}, "
                   f"target mean {best['target_mean'] or float('nan'):.2f}, overall {best['overall']:.2f}, "
                   f"gap {best['gap'] or float('nan'):.2f}  ({summary['wall_seconds']:.0f} s)")
    return dirs


@with_train_options
def train_command(
    method: Annotated[str, typer.Argument(help=f"Fine-tuning method: {', '.join(METHODS)}.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (one per seed below it if several).")],
    resume: Annotated[bool, typer.Option("--resume", help="Continue an unfinished run; reuse a finished one.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run directory.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    *,
    train_opts: dict[str, Any],
) -> None:
    """Fine-tune on the source language; evaluate every language every --eval-every updates."""
    if method not in METHODS:
        raise UserError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    values, seeds = resolve_train_options(train_opts, {"method": method})
    dirs = run_seeds(values, seeds, out, resume, overwrite, show_progress=not quiet)
    if len(dirs) > 1:
        typer.echo(seed_summary_table([str(d) for d in dirs]).to_string(index=False))


train_command.__doc__ = (train_command.__doc__ or "") + EXAMPLES
