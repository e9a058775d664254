"""``xprobe probe alignment``: cross-lingual alignment per layer, during fine-tuning or of a model as it is.

With training (any method of ``xprobe train``), the alignment probe
(:mod:`xlingual_probe.probes.alignment_probe`) measures each layer's translation retrieval and CKA
on a fixed parallel sample of the task's evaluation sets before the first update, every
``--align-every`` updates and at the end; the CKA probe rides along at the same cadence (``--no-cka`` to drop it) so
``xprobe select --from alignment`` can decide policy IV from the same runs. At the end it prints
which layers lost alignment, how fast in each phase, and how the loss relates to each language's
final score, and writes ``alignment.png`` and ``gap.png`` in ``--out``.

With ``--no-train`` it maps a model or checkpoint's alignment by layer in one pass
(:func:`~xlingual_probe.experiments.alignment_map.map_alignment`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from xlingual_probe.commands.options import (
    policy_hyper,
    resolve_train_options,
    with_executor_options,
    with_policy_options,
    with_train_options,
)
from xlingual_probe.experiments.alignment_map import alignment_sample, map_alignment
from xlingual_probe.experiments.executors import make_executor
from xlingual_probe.experiments.methods import method_values, needs_sets, resolve_sets, selection_record
from xlingual_probe.experiments.seeds import run_seeds
from xlingual_probe.forgetting import (
    alignment_frame,
    layer_losses,
    phase_losses,
    score_correlations,
    summarise_over_runs,
)
from xlingual_probe.probes.alignment_probe import AlignmentProbeConfig
from xlingual_probe.probes.cka_probe import CKAProbeConfig
from xlingual_probe.reporting import format_mean_std
from xlingual_probe.training import TrainConfig
from xlingual_probe.utils.errors import UserError

EXAMPLES = """
Examples:

  xprobe probe alignment --model synthetic --task synthetic-nli --max-steps 400 --lr 5e-4 --eval-every 100
      --seed 1 --seed 2 --seed 3 --out runs/align

  xprobe probe alignment --no-train --model intfloat/multilingual-e5-small --task xnli --data-dir ../shared/data
      --out runs/e5-map

  xprobe probe alignment --method slowfast --sets paper --model synthetic --task synthetic-nli --out runs/sf-align
"""

_PANEL = "Alignment probe"


def _fmt(frame: pd.DataFrame, column: str, digits: int = 1) -> pd.Series:
    std = frame[f"{column}_std"] if f"{column}_std" in frame else pd.Series(float("nan"), index=frame.index)
    return pd.Series([format_mean_std(m, s, digits) for m, s in zip(frame[column], std)], index=frame.index)


def forgetting_table(run_dirs: list[Path], measure: str = "retrieval") -> pd.DataFrame:
    """Per layer: the measure (mean over the languages that have it) before and at the end, the loss, and its
    rate in each phase (mean ± std over the runs). For ``cka_to_pretrained`` the loss is 1 − CKA to the start."""
    frame = alignment_frame(run_dirs)
    per_run = layer_losses(frame, measure).merge(phase_losses(frame, measure), on=["run", "layer"])
    table = summarise_over_runs(per_run, "layer", ["before", "end", "lost", "rate_p1", "rate_p2"])
    digits = 1 if measure.startswith("retrieval") else 3
    return pd.DataFrame({"layer": table["layer"], f"{measure} before": _fmt(table, "before", digits),
                         "at end": _fmt(table, "end", digits), "lost": _fmt(table, "lost", digits),
                         "lost /100 upd. phase 1": _fmt(table, "rate_p1", digits + 1),
                         "phase 2": _fmt(table, "rate_p2", digits + 1)})


def correlation_table(run_dirs: list[Path], measure: str = "retrieval") -> pd.DataFrame:
    """Per layer: Spearman's ρ across languages of the end loss with final score and gap (mean ± std over seeds)."""
    rho = score_correlations(alignment_frame(run_dirs), measure)
    if rho.empty:
        return rho
    rho = rho.assign(layer=rho["layer"].astype(str))
    table = summarise_over_runs(rho, "layer", ["rho_score", "rho_gap"])
    return pd.DataFrame({"layer": table["layer"], "ρ(lost, final score)": _fmt(table, "rho_score", 2),
                         "ρ(lost, final gap)": _fmt(table, "rho_gap", 2), "seeds": table["seeds"]})


def map_table(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A no-train map: per layer, retrieval (both directions) and CKA across languages, means over targets;
    and the retrieval of every target language by layer."""
    frame = alignment_frame([run_dir])
    targets = frame[frame["retrieval"].notna()].astype({"retrieval": float, "cka_cross": float})
    columns = ["retrieval", "retrieval_src2tgt", "retrieval_tgt2src", "cka_cross"]
    means = targets.groupby("layer")[columns].mean().reset_index()
    means = means.assign(**{c: means[c].map(lambda v: f"{v:.1f}") for c in columns[:3]},
                         cka_cross=means["cka_cross"].map(lambda v: f"{v:.3f}"))
    wide = targets.pivot(index="lang", columns="layer", values="retrieval").round(1)
    return means, wide.reindex(list(dict.fromkeys(targets["lang"])))


@with_train_options
@with_policy_options
@with_executor_options
def probe_alignment_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (one per seed below it if several).")],
    method: Annotated[str, typer.Option(help="Fine-tuning method (as `xprobe train`).")] = "direct",
    no_train: Annotated[bool, typer.Option("--no-train", help="Map the model's alignment as it is; no training.",
                                           rich_help_panel=_PANEL)] = False,
    align_every: Annotated[int | None, typer.Option(
        "--align-every", help="Probe every N updates [= --eval-every].", rich_help_panel=_PANEL)] = None,
    align_size: Annotated[int, typer.Option(
        "--align-size", help="Parallel sentences per target language at most.", rich_help_panel=_PANEL)] = 256,
    align_field: Annotated[str | None, typer.Option(
        "--align-field", help="Text field to embed: premise, hypothesis, question, context, ... [the task's first].",
        rich_help_panel=_PANEL)] = None,
    align_retrieval: Annotated[str, typer.Option(
        "--align-retrieval", help="cosine (nearest neighbour) or margin (Artetxe & Schwenk 2019, k = 4).",
        rich_help_panel=_PANEL)] = "cosine",
    parallel: Annotated[bool, typer.Option(
        "--parallel", help="Declare that row i of every language's evaluation set is the same sentence translated.",
        rich_help_panel=_PANEL)] = False,
    cka: Annotated[bool, typer.Option(
        "--cka/--no-cka", help="Also run the CKA probe, at the same cadence (policy IV of the selection).",
        rich_help_panel=_PANEL)] = True,
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Write alignment.png and gap.png in --out.")] = True,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an unfinished run; reuse a finished one.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run directory.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    *,
    train_opts: dict[str, Any],
    policy_opts: dict[str, Any],
    executor_opts: dict[str, Any],
) -> None:
    """Measure each layer's cross-lingual alignment on parallel sentences, while fine-tuning or (--no-train) once."""
    probe = AlignmentProbeConfig(every=align_every, size=align_size, field=align_field, retrieval=align_retrieval,
                                 parallel=parallel)
    values, seeds = resolve_train_options(train_opts)
    if no_train:
        if len(seeds) > 1:
            raise UserError("--no-train measures one model: give at most one --seed")
        run_dir = map_alignment(TrainConfig.from_dict({**values, "seed": seeds[0], "out": str(out)}), probe,
                                overwrite=overwrite)
        means, wide = map_table(run_dir)
        typer.echo("Alignment by layer (means over the target languages):")
        typer.echo(means.to_string(index=False))
        typer.echo("\nRetrieval (%) of each target language by layer:")
        typer.echo(wide.to_string())
        typer.echo(f"wrote {run_dir / 'alignment.jsonl'}")
        return
    # a task whose sets are not parallel fails here, before any run directory is written
    sample = alignment_sample(TrainConfig.from_dict({**values, "seed": seeds[0], "out": str(out)}), probe)
    typer.echo(f"alignment sample: {sample.field} of {len(sample.targets)} target language(s), "
               f"{min(len(k) for k in sample.pairs.values())}-{max(len(k) for k in sample.pairs.values())} "
               f"sentences each ({sample.parallel}-parallel)")
    executor = make_executor(**executor_opts, show_progress=not quiet, log=typer.echo)
    selection = None
    if needs_sets([method]):
        selection = resolve_sets(policy_opts["sets"], values, seeds, out.parent / f"{out.name}-selection",
                                 executor=executor, show_progress=not quiet)
    values.update(method_values(method, selection, noise_lambda=policy_opts["noise_lambda"],
                                policy=policy_hyper(policy_opts), policy_iv=policy_opts["policy_iv"]))
    outcomes = run_seeds(values, seeds, out, resume=resume, overwrite=overwrite, executor=executor,
                         extra_config={"selection": selection_record(selection)} if selection else None,
                         cka_probe=CKAProbeConfig(every=align_every).to_dict() if cka else None,
                         alignment_probe=probe.to_dict())
    dirs = [o.job.run_dir for o in outcomes if o.complete]
    if not dirs:
        executor.raise_for_failures()
    typer.echo("Alignment lost per layer (retrieval, mean over targets; mean ± std over seeds):")
    typer.echo(forgetting_table(dirs).to_string(index=False))
    correlations = correlation_table(dirs)
    if not correlations.empty:
        typer.echo("\nAcross target languages, per seed (then mean ± std over seeds):")
        typer.echo(correlations.to_string(index=False))
    if plot:
        from xlingual_probe.plots.alignment import plot_alignment_curves
        from xlingual_probe.plots.curves import plot_gap_curves

        for path in (plot_alignment_curves(dirs, out / "alignment.png"), plot_gap_curves(dirs, out / "gap.png")):
            typer.echo(f"wrote {path}")
    executor.raise_for_failures()


probe_alignment_command.__doc__ = (probe_alignment_command.__doc__ or "") + EXAMPLES
