"""``xprobe probe cka``: fine-tune like ``xprobe train direct`` and record per-layer CKA to the start.

Every ``--cka-every`` updates (default: ``--eval-every``) the CKA probe compares the hidden states of
each layer of the working model with those of a frozen copy of the model as fine-tuning started, on
the current training batch, and appends them to ``cka.jsonl`` (see
:mod:`xlingual_probe.probes.cka_probe`). At the end it prints the last probe step's CKA per layer
(mean ± std over seeds), the probe's time overhead, and writes ``cka.png`` and ``gap.png`` in
``--out``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from xlingual_probe.commands.options import resolve_train_options, with_executor_options, with_train_options
from xlingual_probe.experiments.executors import make_executor
from xlingual_probe.experiments.seeds import run_seeds
from xlingual_probe.plots.curves import plot_cka_curves, plot_gap_curves
from xlingual_probe.probes.cka_probe import CKAProbeConfig, cka_overhead, last_cka
from xlingual_probe.reporting import format_values

EXAMPLES = """
Examples:

  xprobe probe cka --model synthetic --task synthetic-nli --eval-every 50 --out runs/cka

  xprobe probe cka --model xlm-roberta-base --task xnli --data-dir ../shared/data --max-steps 2000
      --eval-every 100 --cka-pooling mean --cka-dtype bf16 --seed 1 --seed 2 --out runs/xnli-cka
"""

_PANEL = "CKA probe"


def last_cka_table(run_dirs: list[Path], digits: int = 4) -> pd.DataFrame:
    """One row per layer: the last probe step's CKA (mean ± std over the runs when several)."""
    rows = [{"run": str(run), "layer": layer, "cka": value}
            for run in run_dirs for layer, value in last_cka(run).items()]
    if not rows:
        return pd.DataFrame(columns=["layer", "cka"])
    frame = pd.DataFrame(rows).astype({"cka": float})
    if len(run_dirs) == 1:
        return frame[["layer", "cka"]].assign(cka=frame["cka"].map(lambda v: f"{v:.{digits}f}"))
    return pd.DataFrame([{"layer": layer, "cka": format_values(group["cka"], digits)}
                         for layer, group in frame.groupby("layer")])


@with_train_options
@with_executor_options
def probe_cka_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (one per seed below it if several).")],
    cka_every: Annotated[int | None, typer.Option(
        "--cka-every", help="Probe every N updates [= --eval-every].", rich_help_panel=_PANEL)] = None,
    cka_pooling: Annotated[str, typer.Option(
        "--cka-pooling", help="tokens (every token under the mask) or mean (mean-pooled sentences).",
        rich_help_panel=_PANEL)] = "tokens",
    cka_debiased: Annotated[bool | None, typer.Option(
        "--cka-debiased/--no-cka-debiased", help="Unbiased HSIC estimator [on for --cka-pooling mean "
        "(few rows against the width), off for tokens].", rich_help_panel=_PANEL, show_default=False)] = None,
    cka_device: Annotated[str | None, typer.Option(
        "--cka-device", help="Device of the frozen copy, e.g. cpu or cuda:1 (default: the training device).",
        rich_help_panel=_PANEL)] = None,
    cka_dtype: Annotated[str, typer.Option(
        "--cka-dtype", help="Weights of the frozen copy: fp32 or bf16 (half the memory).",
        rich_help_panel=_PANEL)] = "fp32",
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Write cka.png and gap.png in --out.")] = True,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an unfinished run; reuse a finished one.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run directory.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    *,
    train_opts: dict[str, Any],
    executor_opts: dict[str, Any],
) -> None:
    """Fine-tune on the source language (DF) and record each layer's CKA to the pre-trained model."""
    probe_config = CKAProbeConfig(every=cka_every, pooling=cka_pooling, debiased=cka_debiased,
                                  device=cka_device, dtype=cka_dtype)
    values, seeds = resolve_train_options(train_opts, {"method": "direct"})
    executor = make_executor(**executor_opts, show_progress=not quiet, log=typer.echo)
    outcomes = run_seeds(values, seeds, out, resume=resume, overwrite=overwrite, executor=executor,
                         cka_probe=probe_config.to_dict())
    dirs = [o.job.run_dir for o in outcomes if o.complete]
    report_cka(dirs, out, plot)
    executor.raise_for_failures()


def report_cka(dirs: list[Path], out: Path, plot: bool) -> None:
    """Print the last probe step's CKA per layer and the probe's overhead; write cka.png and gap.png."""
    table = last_cka_table(dirs)
    if table.empty:
        typer.echo("no CKA was recorded: no run finished, or the runs are shorter than --cka-every")
        return
    typer.echo("CKA to the pre-trained model at the last probe step:")
    typer.echo(table.to_string(index=False))
    for run in dirs:
        overhead = cka_overhead(run)
        if overhead["probe_steps"]:
            share = f" = {100 * overhead['fraction']:.1f}% of training time" if overhead["fraction"] else ""
            typer.echo(f"{run}: CKA probe {overhead['cka_seconds']:.1f} s over {overhead['probe_steps']} probes "
                       f"({overhead['seconds_per_probe']:.2f} s each){share}")
    if plot:
        for path in (plot_cka_curves(dirs, out / "cka.png"), plot_gap_curves(dirs, out / "gap.png")):
            typer.echo(f"wrote {path}")


probe_cka_command.__doc__ = (probe_cka_command.__doc__ or "") + EXAMPLES
