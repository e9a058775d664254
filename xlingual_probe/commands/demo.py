"""``xprobe demo``: the whole pipeline, offline, in minutes, on the synthetic world."""

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from xlingual_probe.commands.options import with_executor_options
from xlingual_probe.experiments.demo import DemoConfig, run_demo
from xlingual_probe.experiments.executors import make_executor
from xlingual_probe.training.provenance import command_line


@with_executor_options
def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (reused: finished runs are kept).")]
    = Path("demo_out"),
    task: Annotated[str, typer.Option(help="synthetic-nli, synthetic-ner or synthetic-qa.")] = "synthetic-nli",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    *,
    executor_opts: dict[str, Any],
) -> None:
    """Pre-train the synthetic world, probe DF (gap, layer sweep, CKA), select the weight sets, compare
    slow-and-fast with DF, and write figures, report.md and the HTML report of every paper figure and table."""
    executor = make_executor(**executor_opts, show_progress=not quiet, log=typer.echo)
    report = run_demo(DemoConfig(out=str(out), task=task), log=typer.echo, show_progress=not quiet,
                      executor=executor, command=shlex.join(command_line()["argv"]))
    typer.echo(f"summary: {out / 'report.md'}")
    typer.echo(f"report: {report}")
    executor.raise_for_failures()
