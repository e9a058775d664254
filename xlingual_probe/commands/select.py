"""``xprobe select``: choose the slow-and-fast weight sets from a layer sweep (and CKA runs).

Reads the sweep of ``xprobe probe layers`` (its runs, or its ``results.csv``), applies SPEC's rules
(:mod:`xlingual_probe.selection`) and writes ``selection.json`` (read by ``--sets FILE``) and a
readable ``selection.md`` with the evidence behind every decision. ``--from alignment`` selects from DF
runs with the alignment probe instead (:mod:`xlingual_probe.commands.select_alignment`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from xlingual_probe.selection import SelectionOptions, select_from_sweep
from xlingual_probe.utils.errors import UserError

EXAMPLES = """
Examples:

  xprobe probe layers --model synthetic --task synthetic-nli --max-steps 400 --experiments
      reinit,freeze,group-freeze,lr-x10 --out sweeps/syn
  xprobe probe cka --model synthetic --task synthetic-nli --max-steps 400 --seed 1 --seed 2 --out runs/syn-cka
  xprobe select sweeps/syn --cka runs/syn-cka
  xprobe compare --model synthetic --task synthetic-nli --max-steps 400 --sets sweeps/syn/selection.json ...

  xprobe probe alignment --model synthetic --task synthetic-nli --max-steps 400 --seed 1 --seed 2 --seed 3
      --out runs/syn-align
  xprobe select --from alignment runs/syn-align --out runs/syn-align
"""


def select_command(
    sources: Annotated[list[Path], typer.Argument(
        help="Sweep directory of `xprobe probe layers`; with --from alignment: DF runs of `xprobe probe alignment`, "
             "one per seed.", metavar="SWEEP_DIR | RUN...")],
    cka: Annotated[Optional[list[Path]], typer.Option(
        "--cka", help="DF run(s) with cka.jsonl (`xprobe probe cka`); repeat to pool seeds. "
                      "Without: policy IV on (paper default).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Where to write selection.json/.md "
                                                                     "[SWEEP_DIR].")] = None,
    metric: Annotated[str, typer.Option(help="Overall performance of the 'final' or 'best' evaluation.")] = "final",
    margin_sigmas: Annotated[float, typer.Option(help="δ ≥ this many pooled standard deviations.")] = 2.0,
    min_margin: Annotated[float, typer.Option(help="δ ≥ this many points (δ = this with one seed).")] = 0.5,
    cka_alpha: Annotated[float, typer.Option(help="Policy IV on if the CKA slope < 0 with p below this.")] = 0.05,
    window: Annotated[int, typer.Option(help="Phase window used to find phase 2 of the CKA run.")] = 100,
    threshold: Annotated[float, typer.Option(help="Phase threshold used to find phase 2.")] = 0.1,
    num_layers: Annotated[Optional[int], typer.Option(help="Layer count, for a results.csv without "
                                                            "sweep.json [inferred].")] = None,
    allow_incomplete: Annotated[bool, typer.Option(
        "--allow-incomplete", help="Select even if some runs of the sweep are unfinished (left out, noted).")
    ] = False,
    from_: Annotated[str, typer.Option("--from", help="What to select from: sweep, or alignment (one DF run per "
                                                      "seed of `xprobe probe alignment`; --cka-alpha, --window "
                                                      "and --threshold apply).")] = "sweep",
) -> None:
    """Choose S_I, S_II, V_I, V_II and policy IV from a layer sweep (or from DF runs with the alignment probe);
    write selection.json and selection.md."""
    if from_ == "alignment":
        from xlingual_probe.commands.select_alignment import select_alignment

        return select_alignment(sources, out, alpha=cka_alpha, window=window, threshold=threshold)
    if from_ != "sweep" or len(sources) != 1:
        raise UserError("--from must be sweep (one sweep directory) or alignment (DF runs)")
    sweep_dir = sources[0]
    options = SelectionOptions(metric=metric, margin_sigmas=margin_sigmas, min_margin=min_margin,
                               cka_alpha=cka_alpha, window=window, threshold=threshold)
    target = out or sweep_dir
    selection = select_from_sweep(sweep_dir, cka or [], options=options, out_dir=target, num_layers=num_layers,
                                  allow_incomplete=allow_incomplete)
    for name, unit in selection["sets"].items():
        typer.echo(f"{name:5s} {unit or '(empty)'}")
    typer.echo(f"policy IV {'on' if selection['policy_iv'] else 'off'}; δ = {selection['margins']['delta']:.3f}")
    for note in selection["notes"]:
        typer.echo(f"note: {note}")
    typer.echo(f"wrote {target / 'selection.json'} and {target / 'selection.md'}")


select_command.__doc__ = (select_command.__doc__ or "") + EXAMPLES
