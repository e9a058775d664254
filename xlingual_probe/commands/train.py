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

from xlingual_probe.commands.options import (
    policy_hyper,
    resolve_train_options,
    with_executor_options,
    with_policy_options,
    with_train_options,
)
from xlingual_probe.experiments.executors import make_executor
from xlingual_probe.experiments.methods import (
    METHODS,
    method_values,
    needs_sets,
    resolve_sets,
    selection_record,
    split_method,
)
from xlingual_probe.experiments.seeds import run_seeds
from xlingual_probe.reporting import format_score, protocol_caption, seed_summary_table
from xlingual_probe.runs import DIVERGED
from xlingual_probe.training.policies import SWAPS
from xlingual_probe.utils.errors import UserError

EXAMPLES = """
Examples:

  xprobe train direct --model synthetic --task synthetic-nli --out runs/df

  xprobe train slowfast --sets paper --model synthetic --task synthetic-nli --seed 1 --seed 2 --out runs/sf

  xprobe train direct --model intfloat/multilingual-e5-small --task xnli --data-dir ../shared/data
      --train-size 2000 --eval-size 500 --test-size 500 --max-steps 300 --batch-size 16 --lr 5e-5 --seed 1 --seed 2
      --out runs/xnli
"""


def selected_line(run_dir: Path, summary: dict[str, Any]) -> str:
    """``RUN: selected update N (select-by …), reporting half: source …, target mean …, overall …, gap …;
    test overall …  (T s)``: the selected checkpoint on data it was not chosen on; a diverged run's reason."""
    if summary.get("status") == DIVERGED:
        return f"{run_dir}: diverged: {summary['reason']}"
    best = summary["best"]
    test = (f"; test overall {best['test']['overall']:.2f}" if best.get("test")
            else f"; {summary['protocol']['test']['scored']}")
    return (f"{run_dir}: selected update {best['step']} (select-by {summary['select_by']}), reporting half: "
            f"source {best['source']:.2f}, target mean {format_score(best['target_mean'])}, "
            f"overall {best['overall']:.2f}, gap {format_score(best['gap'])}{test}  ({summary['wall_seconds']:.0f} s)")


@with_train_options
@with_policy_options
@with_executor_options
def train_command(
    method: Annotated[str, typer.Argument(help=f"Fine-tuning method: {', '.join(METHODS)}.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (one per seed below it if several).")],
    resume: Annotated[bool, typer.Option("--resume", help="Continue an unfinished run; reuse a finished one.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run directory.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    swap: Annotated[Optional[str], typer.Option(help=f"Table 8 variant: {', '.join(SWAPS)}.",
                                                rich_help_panel="Slow-and-fast options")] = None,
    *,
    train_opts: dict[str, Any],
    policy_opts: dict[str, Any],
    executor_opts: dict[str, Any],
) -> None:
    """Fine-tune on the source language; evaluate every language every --eval-every updates."""
    split_method(method)
    if swap:
        method = f"{method}:{swap}"
    values, seeds = resolve_train_options(train_opts)
    executor = make_executor(**executor_opts, show_progress=not quiet, log=typer.echo)
    selection = None
    hyper = policy_hyper(policy_opts)
    if needs_sets([method]):
        # beside the run directories, not inside them (a run directory must start empty)
        selection = resolve_sets(policy_opts["sets"], values, seeds, out.parent / f"{out.name}-selection",
                                 executor=executor, show_progress=not quiet)
    elif hyper:
        raise UserError(f"slow-and-fast options apply to slow, fast and slowfast, not to {method!r}")
    values.update(method_values(method, selection, noise_lambda=policy_opts["noise_lambda"], policy=hyper,
                                policy_iv=policy_opts["policy_iv"]))
    outcomes = run_seeds(values, seeds, out, resume=resume, overwrite=overwrite, executor=executor,
                         extra_config={"selection": selection_record(selection)} if selection else None)
    complete = [o for o in outcomes if o.complete]
    for outcome in complete:
        typer.echo(selected_line(outcome.job.run_dir, outcome.summary))
    if len(complete) > 1:
        typer.echo(protocol_caption(complete[0].summary["select_by"], "selected", values.get("source_lang", "en")))
        typer.echo(seed_summary_table([str(o.job.run_dir) for o in complete]).to_string(index=False))
    executor.raise_for_failures()
    if any(o.status == DIVERGED for o in complete):
        raise typer.Exit(1)  # recorded in summary.json, but a script must not take it for success


train_command.__doc__ = (train_command.__doc__ or "") + EXAMPLES
