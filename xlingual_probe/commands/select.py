"""``xprobe select``: choose the slow-and-fast weight sets from a layer sweep (and CKA runs).

Reads the sweep of ``xprobe probe layers`` (its runs, or its ``results.csv``), applies SPEC's rule
(:mod:`xlingual_probe.selection`: ``--rule paired``, the default, or ``--rule delta``) and writes
``selection.json`` (read by ``--sets FILE``) and a readable ``selection.md`` with the evidence behind
every decision. ``--from alignment`` selects from DF runs with the alignment probe instead
(:mod:`xlingual_probe.commands.select_alignment`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from xlingual_probe.selection import SelectionOptions, select_from_sweep
from xlingual_probe.utils.errors import UserError

EXAMPLES = """
Examples:

  xprobe probe layers --model synthetic --task synthetic-nli --max-steps 400 --seed 1 --seed 2 --seed 3
      --experiments reinit,freeze,group-freeze,lr-x10 --out sweeps/syn
  xprobe probe cka --model synthetic --task synthetic-nli --max-steps 400 --seed 1 --seed 2 --seed 3
      --out runs/syn-cka
  xprobe select sweeps/syn --cka runs/syn-cka
  xprobe select sweeps/syn --rule delta --margin-sigmas 2      (the former margin rule)
  xprobe compare --model synthetic --task synthetic-nli --max-steps 400 --sets sweeps/syn/selection.json ...

  xprobe probe alignment --model synthetic --task synthetic-nli --max-steps 400 --seed 1 --seed 2 --seed 3
      --out runs/syn-align
  xprobe select --from alignment runs/syn-align --out runs/syn-align
"""

DELTA_ONLY = ("margin_sigmas", "min_margin", "cka_alpha")
PAIRED_ONLY = ("alpha", "min_effect", "harmless_margin", "min_cka_effect")


def _rule_options(rule: str, given: dict[str, Optional[float]]) -> dict[str, float]:
    """The rule's options that were given; UserError for an option of the other rule."""
    other = DELTA_ONLY if rule == "paired" else PAIRED_ONLY
    wrong = [name for name in other if given[name] is not None]
    if wrong:
        flags = ", ".join("--" + name.replace("_", "-") for name in wrong)
        raise UserError(f"{flags} belong(s) to --rule {'delta' if rule == 'paired' else 'paired'}, not --rule {rule}")
    return {name: value for name, value in given.items() if value is not None}


def select_command(
    sources: Annotated[list[Path], typer.Argument(
        help="Sweep directory of `xprobe probe layers`; with --from alignment: DF runs of `xprobe probe alignment`, "
             "one per seed.", metavar="SWEEP_DIR | RUN...")],
    cka: Annotated[Optional[list[Path]], typer.Option(
        "--cka", help="DF run(s) with cka.jsonl (`xprobe probe cka`), one per seed; repeat, or give their folder. "
                      "Without: policy IV off (paired rule) / on (delta rule, the paper's default).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Where to write selection.json/.md "
                                                                     "[SWEEP_DIR].")] = None,
    rule: Annotated[str, typer.Option(help="'paired': per-seed differences to DF, tests per family with Holm "
                                           "(SPEC); 'delta': the former margin δ = max(2σ, 0.5).")] = "paired",
    metric: Annotated[str, typer.Option(help="Overall performance of the 'final' or 'best' evaluation.")] = "final",
    alpha: Annotated[Optional[float], typer.Option(
        help="Paired: family-wise error rate of each family's tests, level of V_I's bounds and of the CKA test "
             "[0.05].")] = None,
    min_effect: Annotated[Optional[float], typer.Option(
        help="Paired: S_I / S_II need a mean drop / gain of at least this many points [0.5].")] = None,
    harmless_margin: Annotated[Optional[float], typer.Option(
        help="Paired: V_I needs the upper confidence bound of the re-init drop below this many points [1.0].")] = None,
    min_cka_effect: Annotated[Optional[float], typer.Option(
        help="Paired: policy IV needs the V_I CKA to fall by at least this over phase 2 [0.02].")] = None,
    margin_sigmas: Annotated[Optional[float], typer.Option(
        help="Delta: δ ≥ this many pooled standard deviations [2].")] = None,
    min_margin: Annotated[Optional[float], typer.Option(
        help="Delta: δ ≥ this many points (δ = this with one seed) [0.5].")] = None,
    cka_alpha: Annotated[Optional[float], typer.Option(
        help="Delta: policy IV on if the pooled CKA slope < 0 with p below this [0.05].")] = None,
    window: Annotated[int, typer.Option(help="Phase window used to find phase 2 of the CKA runs.")] = 100,
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
    """Choose S_I, S_II, V_I, V_II and policy IV from a sweep or alignment runs; write selection.json/.md."""
    if from_ == "alignment":
        from xlingual_probe.commands.select_alignment import select_alignment

        level = cka_alpha if cka_alpha is not None else alpha if alpha is not None else 0.05
        return select_alignment(sources, out, alpha=level, window=window, threshold=threshold)
    if from_ != "sweep" or len(sources) != 1:
        raise UserError("--from must be sweep (one sweep directory) or alignment (DF runs)")
    sweep_dir = sources[0]
    given = {"alpha": alpha, "min_effect": min_effect, "harmless_margin": harmless_margin,
             "min_cka_effect": min_cka_effect, "margin_sigmas": margin_sigmas, "min_margin": min_margin,
             "cka_alpha": cka_alpha}
    options = SelectionOptions(rule=rule, metric=metric, window=window, threshold=threshold,
                               **_rule_options(rule, given))
    target = out or sweep_dir
    selection = select_from_sweep(sweep_dir, cka or [], options=options, out_dir=target, num_layers=num_layers,
                                  allow_incomplete=allow_incomplete)
    for name, unit in selection["sets"].items():
        typer.echo(f"{name:5s} {unit or '(empty)'}")
    margins = selection["margins"]
    if options.rule == "delta":
        typer.echo(f"policy IV {'on' if selection['policy_iv'] else 'off'}; rule delta, δ = {margins['delta']:.3f}")
    else:
        typer.echo(f"policy IV {'on' if selection['policy_iv'] else 'off'}; rule paired, α = {options.alpha:g} "
                   f"(Holm per family), min effect {options.min_effect:g}, harmless margin "
                   f"{options.harmless_margin:g} points")
    for note in selection["notes"]:
        typer.echo(f"note: {note}")
    typer.echo(f"wrote {target / 'selection.json'} and {target / 'selection.md'}")


select_command.__doc__ = (select_command.__doc__ or "") + EXAMPLES
