"""``xprobe report DIR... --out OUT``: one self-contained HTML page plus Markdown of every figure and table
the runs support, the selection with its evidence, and the command and config behind every number
(:mod:`xlingual_probe.plots.report`).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from xlingual_probe.plots._scores import ScoreSource
from xlingual_probe.plots.artefacts import ARTEFACTS
from xlingual_probe.plots.report import write_report
from xlingual_probe.training.provenance import command_line

EXAMPLES = """
Examples:

  xprobe report demo_out --out demo_out/report

  xprobe report sweeps/xnli cmp/xnli runs/xnli-cka --out report-xnli --score test:best
"""


def report_command(
    dirs: Annotated[list[Path], typer.Argument(help="Run, sweep or comparison directories, or folders holding them.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder (report.html, report.md, figures/).")],
    score: Annotated[str, typer.Option(help="Score of the tables: best, final, test:best or test:final.")] = "best",
    alpha: Annotated[float, typer.Option(help="Level of the Holm-corrected tests (bold, marked layers).")] = 0.05,
    title: Annotated[str, typer.Option(help="Title of the page.")] = "xlingual-probe report",
) -> None:
    """Write report.html (self-contained: images embedded, no network) and report.md with every figure and table."""
    paths = write_report(dirs, out, score=ScoreSource.parse(score), alpha=alpha, title=title,
                         command=shlex.join(command_line()["argv"]))
    for name, reason in paths.result.skipped:
        typer.echo(f"skipped {name} ({ARTEFACTS[name].paper}): {reason}")
    typer.echo(f"wrote {paths.markdown} and {paths.figures}/")
    typer.echo(f"report: {paths.html}")


report_command.__doc__ = (report_command.__doc__ or "") + EXAMPLES
