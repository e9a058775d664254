"""``xprobe compare``: several fine-tuning methods × seeds on the same data and budget (Table 2/4).

Builds a :class:`~xlingual_probe.experiments.compare.CompareConfig` from the options and calls
:func:`~xlingual_probe.experiments.compare.compare_methods`. Every training option of ``xprobe train`` applies to
every run (``--few-shot M`` included); the defaults differ in two places: seeds 1-4 (the paper's
four seeds) and ``--no-save-best``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from xlingual_probe.commands.options import (
    policy_hyper,
    resolve_train_options,
    with_executor_options,
    with_policy_options,
    with_train_options,
)
from xlingual_probe.experiments.compare import CompareConfig, compare_methods
from xlingual_probe.experiments.executors import make_executor
from xlingual_probe.experiments.methods import METHODS

COMPARE_DEFAULTS = {"seed": [1, 2, 3, 4], "save_best": False}

EXAMPLES = """
Examples:

  xprobe compare --model synthetic --task synthetic-nli --max-steps 600 --methods direct,noisytune,slowfast
      --sets paper --out compare/syn

  xprobe compare --model xlm-roberta-base --task xnli --data-dir ../shared/data --train-size 20000
      --max-steps 3000 --methods direct,slow,fast,slowfast,slowfast:swap-S --sets sweeps/xnli/selection.json
      --few-shot 10 --out compare/xnli

  xprobe compare --model xlm-roberta-base --task xnli --data-dir /shared/data --max-steps 3000 --sets auto
      --executor ray --address auto --gpus-per-run 0.5 --out /shared/compare/xnli

Re-running the same command reuses finished runs (OUT/<method>/seed-<k>) and resumes unfinished ones
(failed ones only with --retry-failed); OUT/status.txt shows the runs' progress.
"""


@with_train_options
@with_policy_options
@with_executor_options
def compare_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Comparison directory.")],
    methods: Annotated[str, typer.Option(help=f"Comma-separated: {', '.join(METHODS)}, slowfast:<swap> "
                                              "(DF is always run).")] = "direct,noisytune,slowfast",
    which: Annotated[str, typer.Option(help="Scores to compare: 'selected' (the checkpoint chosen by --select-by, "
                                            "on the reporting halves), 'final', 'selected-test' or 'final-test'.")
                     ] = "selected",
    alpha: Annotated[float, typer.Option(help="Significance level of the paired t-test vs DF.")] = 0.05,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    allow_incomplete: Annotated[bool, typer.Option(
        "--allow-incomplete", help="Compare even if some runs have no result (left out; their pairs are lost).")
    ] = False,
    *,
    train_opts: dict[str, Any],
    policy_opts: dict[str, Any],
    executor_opts: dict[str, Any],
) -> None:
    """Fine-tune several methods × seeds with the same budget; table of mean ± std and a paired test vs DF."""
    values, seeds = resolve_train_options(train_opts, COMPARE_DEFAULTS)
    executor = make_executor(**executor_opts, show_progress=not quiet, log=typer.echo)
    config = CompareConfig(train=values, out=str(out), seeds=seeds, methods=[methods], sets=policy_opts["sets"],
                           which=which, alpha=alpha, noise_lambda=policy_opts["noise_lambda"],
                           policy=policy_hyper(policy_opts), policy_iv=policy_opts["policy_iv"],
                           allow_incomplete=allow_incomplete)
    try:
        result = compare_methods(config, executor=executor, show_progress=not quiet, log=typer.echo)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: run the same command again to finish the comparison in {out} "
                   "(finished runs are kept)", err=True)
        raise typer.Exit(130) from None
    typer.echo(result.paths["md"].read_text(encoding="utf-8"))
    typer.echo(f"wrote {', '.join(str(p) for p in result.paths.values())}")
    executor.raise_for_failures()


compare_command.__doc__ = (compare_command.__doc__ or "") + EXAMPLES
