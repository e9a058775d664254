"""``xprobe probe layers``: the layer sweep — which layers does cross-lingual transfer depend on?

Builds a :class:`~xlingual_probe.experiments.sweep.SweepConfig` from the options and calls
:func:`~xlingual_probe.experiments.sweep.run_sweep`. Every training option of ``xprobe train`` applies to
every run; the sweep's defaults differ in two places: seeds 1-4 (the paper's four seeds) and
``--no-save-best`` (a sweep needs numbers, not weights).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from xlingual_probe.commands.options import resolve_train_options, with_executor_options, with_train_options
from xlingual_probe.experiments.catalogue import EXPERIMENTS
from xlingual_probe.experiments.executors import make_executor
from xlingual_probe.experiments.sweep import SweepConfig, run_sweep
from xlingual_probe.utils.errors import UserError

SWEEP_DEFAULTS = {"seed": [1, 2, 3, 4], "save_best": False}

EXAMPLES = """
Examples:

  xprobe probe layers --model synthetic --task synthetic-nli --max-steps 200 --out sweeps/synthetic

  xprobe probe layers --model xlm-roberta-base --task xnli --data-dir ../shared/data --train-size 5000
      --eval-size 1000 --max-steps 2000 --lr 2e-5 --experiments reinit,freeze --include-embeddings
      --seed 1 --seed 2 --out sweeps/xnli-layers

  xprobe probe layers --model synthetic --task synthetic-nli --max-steps 400 --executor processes --workers 2
      --out sweeps/synthetic

  xprobe probe layers --model xlm-roberta-base --task xnli --data-dir /shared/data --max-steps 2000
      --executor slurm --partition gpu --gpus-per-run 1 --cpus-per-run 8 --time 2:00:00 --out /shared/sweeps/xnli

Re-running the same command after Ctrl-C, a crash or a pre-emption finishes the sweep: finished runs are
reused, unfinished ones continue from their last checkpoint (failed ones only with --retry-failed).
"""


def _int_list(text: str, option: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"{option} takes comma-separated integers, e.g. 1,2,3 (got {text!r})") from None


@with_train_options
@with_executor_options
def probe_layers_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Sweep directory (runs/, results.csv, summary.md).")],
    experiments: Annotated[str, typer.Option(
        help=f"Comma-separated experiments, or 'all': {', '.join(EXPERIMENTS)}.")] = "all",
    layers: Annotated[str, typer.Option(help="Layers of the per-layer reinit/freeze runs (e.g. all, 0-5, top4).")
                      ] = "all",
    include_embeddings: Annotated[bool, typer.Option(
        "--include-embeddings/--no-include-embeddings",
        help="Also re-initialise / freeze the embeddings as one more unit.")] = False,
    bottom_set: Annotated[str, typer.Option(help="Layer set of group-freeze / group-reinit.")] = "bottom4",
    top_set: Annotated[str, typer.Option(help="Layer set of the lr-x10 experiments.")] = "top2",
    last_k: Annotated[str, typer.Option(help="k of 'fine-tune only the last k layers' (embeddings frozen).")
                      ] = "1,2,3",
    lr_factor: Annotated[float, typer.Option(help="Learning-rate multiplier of the lr-x10 experiments.")] = 10.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    *,
    train_opts: dict[str, Any],
    executor_opts: dict[str, Any],
) -> None:
    """Fine-tune once per layer change and seed (reinit / freeze each layer, group experiments), next to DF."""
    values, seeds = resolve_train_options(train_opts, SWEEP_DEFAULTS)
    executor = make_executor(**executor_opts, show_progress=not quiet, log=typer.echo)
    config = SweepConfig(train=values, out=str(out), seeds=seeds, experiments=[experiments], layers=layers,
                         include_embeddings=include_embeddings, bottom_set=bottom_set, top_set=top_set,
                         last_k=_int_list(last_k, "--last-k"), lr_factor=lr_factor)
    try:
        run_sweep(config, executor=executor, show_progress=not quiet)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: run the same command again to finish the sweep in {out} "
                   "(finished runs are kept)", err=True)
        raise typer.Exit(130) from None
    typer.echo((out / "summary.md").read_text(encoding="utf-8"))
    files = ", ".join(name for name in ("results.csv", "summary.csv", "summary.md", "layers.png", "sweep.json")
                      if (out / name).exists())
    typer.echo(f"Sweep directory: {out}  ({files}; one run directory per experiment and seed in runs/)")
    executor.raise_for_failures()


probe_layers_command.__doc__ = (probe_layers_command.__doc__ or "") + EXAMPLES
