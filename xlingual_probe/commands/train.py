"""``xprobe train METHOD``: fine-tune a model on a source language and evaluate every language.

Methods: ``direct`` (DF, plain fine-tuning), ``noisytune`` (NoisyTune, λ = ``--noise-lambda``),
``slow`` (FS: policies I + II), ``fast`` (FF: policies III + IV) and ``slowfast`` (all four, Guo et al.
2023). The policy methods take their weight sets from ``--sets``: ``paper`` (SPEC's preset), a
selection file written by ``xprobe select`` (or by hand), or ``auto`` (run the layer sweep and the
CKA probe first, reusing cached runs, then select). One run directory per seed (``--out`` itself for
one seed, ``--out/seed-N`` for several), then a table of mean ± std over the seeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from xlingual_probe.commands.options import resolve_train_options, with_train_options
from xlingual_probe.methods import (
    METHODS,
    method_values,
    needs_sets,
    resolve_sets,
    selection_record,
    split_method,
)
from xlingual_probe.reporting import format_score, seed_summary_table
from xlingual_probe.training import TrainConfig, train
from xlingual_probe.training.slowfast import SWAPS, phase_warning
from xlingual_probe.utils.errors import UserError

_POLICY = "Slow-and-fast options"

EXAMPLES = """
Examples:

  xprobe train direct --model synthetic --task synthetic-nli --out runs/df

  xprobe train slowfast --sets paper --model synthetic --task synthetic-nli --seed 1 --seed 2 --out runs/sf

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
                   f"target mean {format_score(best['target_mean'])}, overall {best['overall']:.2f}, "
                   f"gap {format_score(best['gap'])}  ({summary['wall_seconds']:.0f} s)")
        if (warning := phase_warning(summary)) is not None:
            typer.echo(warning, err=True)
    return dirs


@with_train_options
def train_command(
    method: Annotated[str, typer.Argument(help=f"Fine-tuning method: {', '.join(METHODS)}.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (one per seed below it if several).")],
    resume: Annotated[bool, typer.Option("--resume", help="Continue an unfinished run; reuse a finished one.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run directory.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    sets: Annotated[str, typer.Option(help="Weight sets: paper, auto, or a selection file.",
                                      rich_help_panel=_POLICY)] = "paper",
    c1: Annotated[Optional[float], typer.Option(help="Policy I multiplier [0.01].", rich_help_panel=_POLICY)] = None,
    c2: Annotated[Optional[float], typer.Option(help="Policy IV multiplier [10].", rich_help_panel=_POLICY)] = None,
    r: Annotated[Optional[float], typer.Option(help="Exponent of R(phi) [3].", rich_help_panel=_POLICY)] = None,
    window: Annotated[Optional[int], typer.Option(help="Updates per loss mean [100].", rich_help_panel=_POLICY)] = None,
    threshold: Annotated[Optional[float], typer.Option(help="Phase-1 loss drop per window [0.1].",
                                                       rich_help_panel=_POLICY)] = None,
    phase_mode: Annotated[Optional[str], typer.Option(help="per-step (can return to P1) or latch [per-step].",
                                                      rich_help_panel=_POLICY)] = None,
    policy_iv: Annotated[str, typer.Option(help="auto (from the selection), on or off.",
                                           rich_help_panel=_POLICY)] = "auto",
    swap: Annotated[Optional[str], typer.Option(help=f"Table 8 variant: {', '.join(SWAPS)}.",
                                                rich_help_panel=_POLICY)] = None,
    noise_lambda: Annotated[float, typer.Option(help="NoisyTune's lambda.", rich_help_panel=_POLICY)] = 0.15,
    *,
    train_opts: dict[str, Any],
) -> None:
    """Fine-tune on the source language; evaluate every language every --eval-every updates."""
    split_method(method)
    if swap:
        method = f"{method}:{swap}"
    values, seeds = resolve_train_options(train_opts)
    selection = None
    if needs_sets([method]):
        # beside the run directories, not inside them (a run directory must start empty)
        selection = resolve_sets(sets, values, seeds, out.parent / f"{out.name}-selection",
                                 show_progress=not quiet)
    policy = {"c1": c1, "c2": c2, "r": r, "window": window, "threshold": threshold, "phase_mode": phase_mode}
    if not needs_sets([method]) and any(v is not None for v in policy.values()):
        raise UserError(f"slow-and-fast options apply to slow, fast and slowfast, not to {method!r}")
    values.update(method_values(method, selection, noise_lambda=noise_lambda, policy=policy, policy_iv=policy_iv))
    dirs = run_seeds(values, seeds, out, resume, overwrite, show_progress=not quiet,
                     extra_config={"selection": selection_record(selection)} if selection else None)
    if len(dirs) > 1:
        typer.echo(seed_summary_table([str(d) for d in dirs]).to_string(index=False))


train_command.__doc__ = (train_command.__doc__ or "") + EXAMPLES
