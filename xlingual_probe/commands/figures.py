"""``xprobe figures DIR... --out OUT``: every paper figure and table the given runs support.

Builds nothing but files: each figure as PNG + PDF + SVG, each table as CSV + Markdown + LaTeX, and
``index.md`` showing them all (see :mod:`xlingual_probe.plots.artefacts` for what each needs); then says
which artefacts it skipped and why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from xlingual_probe.plots._scores import ScoreSource
from xlingual_probe.plots.artefacts import ARTEFACTS, build_artefacts, write_index
from xlingual_probe.plots.style import FORMATS
from xlingual_probe.utils.errors import UserError

EXAMPLES = """
Examples:

  xprobe figures runs/ sweeps/xnli cmp/xnli --out paper-figures

  xprobe figures demo_out --out figures/demo --formats png --only fig1-gap-methods,table2-methods --score final
"""


def figures_command(
    dirs: Annotated[list[Path], typer.Argument(help="Run, sweep or comparison directories, or folders holding them.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the figure and table files.")],
    only: Annotated[Optional[str], typer.Option(help="Comma-separated artefact names (default: all): "
                                                     + ", ".join(ARTEFACTS) + ".")] = None,
    score: Annotated[str, typer.Option(help="Score of the tables: best, final, test:best or test:final.")] = "best",
    alpha: Annotated[float, typer.Option(help="Level of the Holm-corrected tests (bold, marked layers).")] = 0.05,
    formats: Annotated[str, typer.Option(help="Figure formats, comma-separated: png, pdf, svg.")] = "png,pdf,svg",
) -> None:
    """Draw every paper figure and table the runs support (PNG/PDF/SVG, CSV/Markdown/LaTeX, index.md); list the rest."""
    names = [n.strip() for n in only.split(",") if n.strip()] if only else None
    kinds = tuple(f.strip() for f in formats.split(",") if f.strip())
    unknown = sorted(set(kinds) - set(FORMATS))
    if unknown or not kinds:
        raise UserError(f"--formats takes {', '.join(FORMATS)} (comma-separated), not {formats!r}")
    result = build_artefacts(dirs, out, only=names, score=ScoreSource.parse(score), alpha=alpha, formats=kinds)
    write_index(result, out)
    for output in result.outputs:
        typer.echo(f"wrote {output.name}: {', '.join(p.name for p in output.files)}")
    for name, reason in result.skipped:
        typer.echo(f"skipped {name} ({ARTEFACTS[name].paper}): {reason}")
    typer.echo(f"{len(result.outputs)} written to {out}, {len(result.skipped)} skipped")


figures_command.__doc__ = (figures_command.__doc__ or "") + EXAMPLES
