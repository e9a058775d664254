"""``xprobe compare``: several fine-tuning methods × seeds on the same data and budget (Table 2/4).

Builds a :class:`~xlingual_probe.compare.CompareConfig` from the options and calls
:func:`~xlingual_probe.compare.compare_methods`. Every training option of ``xprobe train`` applies to
every run (``--few-shot M`` included); the defaults differ in two places: seeds 1-4 (the paper's
four seeds) and ``--no-save-best``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from xlingual_probe.commands.options import resolve_train_options, with_train_options
from xlingual_probe.compare import CompareConfig, compare_methods
from xlingual_probe.methods import METHODS

COMPARE_DEFAULTS = {"seed": [1, 2, 3, 4], "save_best": False}
_PANEL = "Slow-and-fast policy"

EXAMPLES = """
Examples:

  xprobe compare --model synthetic --task synthetic-nli --max-steps 600 --methods direct,noisytune,slowfast
      --sets paper --out compare/syn

  xprobe compare --model xlm-roberta-base --task xnli --data-dir ../shared/data --train-size 20000
      --max-steps 3000 --methods direct,slow,fast,slowfast,slowfast:swap-S --sets sweeps/xnli/selection.json
      --few-shot 10 --out compare/xnli

Re-running the same command reuses finished runs (OUT/<method>/seed-<k>) and resumes unfinished ones.
"""


@with_train_options
def compare_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Comparison directory.")],
    methods: Annotated[str, typer.Option(help=f"Comma-separated: {', '.join(METHODS)}, slowfast:<swap> "
                                              "(DF is always run).")] = "direct,noisytune,slowfast",
    sets: Annotated[str, typer.Option(help="Weight sets of the policy methods: paper, auto (run a layer sweep "
                                           "+ CKA and select) or a selection file.")] = "paper",
    which: Annotated[str, typer.Option(help="Score the 'best' (paper) or the 'final' evaluation.")] = "best",
    alpha: Annotated[float, typer.Option(help="Significance level of the paired t-test vs DF.")] = 0.05,
    noise_lambda: Annotated[float, typer.Option(help="NoisyTune's λ.")] = 0.15,
    c1: Annotated[Optional[float], typer.Option(help="K of S_I in phase 1 [0.01].", rich_help_panel=_PANEL)] = None,
    c2: Annotated[Optional[float], typer.Option(help="K of V_II in phase 2 [10].", rich_help_panel=_PANEL)] = None,
    r: Annotated[Optional[float], typer.Option(help="Exponent of R(φ) [3].", rich_help_panel=_PANEL)] = None,
    window: Annotated[Optional[int], typer.Option(help="Updates per loss mean [100].", rich_help_panel=_PANEL)] = None,
    threshold: Annotated[Optional[float], typer.Option(help="Phase-1 loss drop [0.1].", rich_help_panel=_PANEL)
                         ] = None,
    phase_mode: Annotated[Optional[str], typer.Option(help="per-step or latch [per-step].",
                                                      rich_help_panel=_PANEL)] = None,
    policy_iv: Annotated[str, typer.Option(help="auto (from the selection), on or off.", rich_help_panel=_PANEL)
                         ] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    *,
    train_opts: dict[str, Any],
) -> None:
    """Fine-tune several methods × seeds with the same budget; table of mean ± std and a paired test vs DF."""
    values, seeds = resolve_train_options(train_opts, COMPARE_DEFAULTS)
    policy = {k: v for k, v in {"c1": c1, "c2": c2, "r": r, "window": window, "threshold": threshold,
                                "phase_mode": phase_mode}.items() if v is not None}
    config = CompareConfig(train=values, out=str(out), seeds=seeds, methods=[methods], sets=sets, which=which,
                           alpha=alpha, noise_lambda=noise_lambda, policy=policy,
                           policy_iv=policy_iv)
    try:
        result = compare_methods(config, show_progress=not quiet, log=typer.echo)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: run the same command again to finish the comparison in {out} "
                   "(finished runs are kept)", err=True)
        raise typer.Exit(130) from None
    typer.echo(result.paths["md"].read_text(encoding="utf-8"))
    typer.echo(f"wrote {', '.join(str(p) for p in result.paths.values())}")


compare_command.__doc__ = (compare_command.__doc__ or "") + EXAMPLES
