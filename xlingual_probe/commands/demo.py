"""``xprobe demo``: the whole pipeline, offline, in minutes, on the synthetic world."""

import shlex
from pathlib import Path
from typing import Annotated

import typer

from xlingual_probe.experiments.demo import DemoConfig, run_demo
from xlingual_probe.training.provenance import command_line


def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (reused: finished runs are kept).")]
    = Path("demo_out"),
    task: Annotated[str, typer.Option(help="synthetic-nli, synthetic-ner or synthetic-qa.")] = "synthetic-nli",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Pre-train the synthetic world, probe DF (gap, layer sweep, CKA), select the weight sets, compare
    slow-and-fast with DF, and write figures, report.md and the HTML report of every paper figure and table."""
    report = run_demo(DemoConfig(out=str(out), task=task), log=typer.echo, show_progress=not quiet,
                      command=shlex.join(command_line()["argv"]))
    typer.echo(f"summary: {out / 'report.md'}")
    typer.echo(f"report: {report}")
