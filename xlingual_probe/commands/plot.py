"""``xprobe plot RUN_DIR...``: quick figures of the gap over time, of CKA and of alignment per layer.

Reads only run directories (``metrics.jsonl``, ``cka.jsonl``, ``alignment.jsonl``); runs that differ only in
the seed are averaged with a ±1 std band (see :mod:`xlingual_probe.plots.curves`). Runs without
``summary.json`` (still training, killed) are skipped with a warning unless ``--allow-incomplete``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xlingual_probe.plots.curves import plot_cka_curves, plot_gap_curves
from xlingual_probe.runs import load_runs

EXAMPLES = """
Examples:

  xprobe plot runs/df --out figures/df

  xprobe plot runs/df runs/slowfast --out figures/compare --cka-pooling mean
"""


def plot_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories, or folders holding them.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for gap.png, cka.png and alignment.png.")] = Path("figures"),
    cka_pooling: Annotated[str | None, typer.Option(
        "--cka-pooling", help="Which CKA records to draw: tokens or mean (default: the first found).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Image format: png, pdf, svg.")] = "png",
    allow_incomplete: Annotated[bool, typer.Option(
        "--allow-incomplete", help="Also draw runs without summary.json (e.g. to watch runs as they train).")
    ] = False,
) -> None:
    """Plot the gap (source, target mean, loss) over updates and, if recorded, CKA and alignment per layer."""
    runs = load_runs(run_dirs, allow_incomplete=allow_incomplete)  # incomplete runs: skipped with a warning
    complete = list(runs.configs["run"])
    written = [plot_gap_curves(complete, out / f"gap.{fmt}", allow_incomplete=allow_incomplete)]
    if not runs.cka.empty:
        written.append(plot_cka_curves(complete, out / f"cka.{fmt}", pooling=cka_pooling,
                                       allow_incomplete=allow_incomplete))
    if not runs.alignment.empty:
        from xlingual_probe.plots.alignment import plot_alignment_curves

        written.append(plot_alignment_curves(complete, out / f"alignment.{fmt}"))
    for path in written:
        typer.echo(f"wrote {path}")


plot_command.__doc__ = (plot_command.__doc__ or "") + EXAMPLES
