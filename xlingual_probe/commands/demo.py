"""``xprobe demo``: the whole pipeline, offline, in minutes, on the synthetic world."""

from pathlib import Path
from typing import Annotated

import typer

from xlingual_probe.experiments.demo import DemoConfig, run_demo


def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (reused: finished runs are kept).")]
    = Path("demo_out"),
    task: Annotated[str, typer.Option(help="synthetic-nli, synthetic-ner or synthetic-qa.")] = "synthetic-nli",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Pre-train the synthetic world, probe DF (gap, layer sweep, CKA), select the weight sets, compare
    slow-and-fast with DF, and write figures and report.md."""
    report = run_demo(DemoConfig(out=str(out), task=task), log=typer.echo, show_progress=not quiet)
    typer.echo(f"report: {report}")
