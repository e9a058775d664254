"""``xprobe run RECIPE.yaml``: re-make a paper figure or table from its recipe (``analyses/*.yaml``).

Builds the recipe's plan at ``--scale`` (``demo``: minutes on a laptop CPU; ``paper``: the paper's settings)
and calls :func:`~xlingual_probe.experiments.analyses.run_recipe`, which runs the steps (reusing finished
runs) and draws the recipe's figures and tables into ``OUT/figures``. ``--dry-run`` prints the plan with
its run counts and stops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import yaml

from xlingual_probe.commands.options import with_executor_options
from xlingual_probe.experiments.analyses import load_recipe, plan_recipe, run_recipe
from xlingual_probe.experiments.executors import make_executor
from xlingual_probe.utils.errors import UserError

EXAMPLES = """
Examples:

  xprobe run analyses/fig3-layers.yaml --scale demo

  xprobe run analyses/table2-methods.yaml --scale paper --set data_dir=../shared/data --out runs/table2

  xprobe run analyses/fig6-cka.yaml --scale paper --dry-run
"""


def parse_overrides(items: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` pairs, each value read as YAML (``lr=3e-5`` → 3e-05, ``langs=[en,de]`` → a list).

    Raises:
        UserError: an item without ``=``.
    """
    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set takes KEY=VALUE, not {item!r}")
        values[key.strip().replace("-", "_")] = yaml.safe_load(text) if text.strip() else None
    return values


@with_executor_options
def run_command(
    recipe: Annotated[Path, typer.Argument(help="A recipe file (analyses/*.yaml).")],
    scale: Annotated[str, typer.Option(help="demo (small, CPU), paper (the paper's settings) or another scale "
                                            "the recipe defines.")] = "demo",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder (default: runs/RECIPE-SCALE).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", help="KEY=VALUE: a training option for every run (e.g. model=PATH, data_dir=DIR); repeatable.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (steps, runs) and stop.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    *,
    executor_opts: dict[str, Any],
) -> None:
    """Run a recipe: its fine-tuning runs (finished ones reused), then its figures and tables."""
    loaded = load_recipe(recipe)
    out = out or Path("runs") / f"{loaded.name}-{scale}"
    overrides = parse_overrides(set_ or [])
    plan = plan_recipe(loaded, scale, out, overrides)
    typer.echo(f"{loaded.title} ({scale} scale): {sum(s.runs for s in plan)} fine-tuning runs")
    for step in plan:
        typer.echo(f"  {step.describe}")
    if dry_run:
        return
    executor = make_executor(**executor_opts, show_progress=not quiet, log=typer.echo)
    try:
        result = run_recipe(loaded, scale, out, overrides=overrides, executor=executor, log=typer.echo,
                            show_progress=not quiet)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: run the same command again to continue in {out} (finished runs are kept)", err=True)
        raise typer.Exit(130) from None
    for output in result.outputs:
        typer.echo(f"wrote {output.name}: {', '.join(str(p) for p in output.files)}")
    for name, reason in result.skipped:
        typer.echo(f"skipped {name}: {reason}")
    executor.raise_for_failures()


run_command.__doc__ = (run_command.__doc__ or "") + EXAMPLES
