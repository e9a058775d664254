"""``xprobe select --from alignment RUN...``: the weight sets from DF runs with the alignment probe.

Applies SPEC's "Selection from alignment" (:mod:`xlingual_probe.selection._alignment`) to one DF
run per seed of ``xprobe probe alignment`` and writes ``selection.json`` / ``selection.md`` (with
the per-layer evidence table) into ``--out`` (default: the first run's parent folder).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer

from xlingual_probe.selection import AlignmentSelectionOptions, select_from_alignment


def select_alignment(runs: Sequence[Path], out: Path | None, *, alpha: float = 0.05, window: int = 100,
                     threshold: float = 0.1, measure: str = "retrieval") -> None:
    """Select from the alignment runs, write the selection and print the sets and notes."""
    options = AlignmentSelectionOptions(measure=measure, alpha=alpha, window=window, threshold=threshold)
    target = out or (runs[0] if len(runs) == 1 else runs[0].parent)
    selection = select_from_alignment(runs, options, out_dir=target)
    for name, unit in selection["sets"].items():
        typer.echo(f"{name:5s} {unit or '(empty)'}")
    typer.echo(f"policy IV {'on' if selection['policy_iv'] else 'off'}; median alignment "
               f"{selection['options']['median']:.2f} ({measure})")
    for note in selection["notes"]:
        typer.echo(f"note: {note}")
    typer.echo(f"wrote {target / 'selection.json'} and {target / 'selection.md'}")
