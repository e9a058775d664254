"""Selection end to end: from a finished sweep (``xprobe select``) or from scratch (``--sets auto``).

:func:`select_from_sweep` reads a sweep directory and optional CKA runs and writes the selection.
:func:`auto_selection` first produces them: the layer sweep (reinit, freeze, group-freeze, lr-x10
by default) and the DF runs with the CKA probe. The DF runs of the chosen seeds are trained with the
probe *in the sweep's own baseline run directories* before the sweep runs, so the sweep reuses them
(same config, same key) and the CKA costs no extra fine-tuning; a baseline that already finished
without the probe gets a separate CKA run in ``OUT/cka/seed-<k>``. Everything is resumable: a
second call reuses every finished run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xlingual_probe.models.units import count_layers, parse_layers
from xlingual_probe.probes.experiments import BASELINE
from xlingual_probe.probes.sweep import SweepConfig, plan_sweep, run_sweep, write_sweep_plan
from xlingual_probe.runs import RunFiles
from xlingual_probe.selection._cka import policy_iv_from_cka
from xlingual_probe.selection._io import load_sweep_results, paper_selection, write_selection
from xlingual_probe.selection._rules import SelectionOptions, select_weight_sets
from xlingual_probe.utils.errors import UserError

AUTO_EXPERIMENTS = ("reinit", "freeze", "group-freeze", "lr-x10")


def _infer_num_layers(results) -> int:
    units = results.loc[results["experiment"].isin(["reinit", "freeze"]), "unit"].astype(str)
    layers = [int(u) for u in units if u.isdigit()]
    if not layers:
        raise UserError("cannot tell the number of layers: no sweep.json and no per-layer runs; pass --num-layers")
    return max(layers) + 1


def select_from_sweep(sweep_dir: str | Path, cka_runs: Sequence[str | Path] = (), *,
                      options: SelectionOptions | None = None, out_dir: str | Path | None = None,
                      num_layers: int | None = None) -> dict[str, Any]:
    """Select the weight sets from a sweep directory (and CKA runs) and write ``selection.json`` / ``.md``.

    Args:
        sweep_dir: a sweep directory (``sweep.json`` + runs, or just a ``results.csv``).
        cka_runs: DF runs with ``cka.jsonl`` (or folders of them); none = policy IV on (paper default).
        options: margins, metric and the CKA test.
        out_dir: where to write (default: ``sweep_dir``).
        num_layers: the layer count when the sweep has no ``sweep.json`` (default: inferred from the
            per-layer runs, with a note).

    Returns:
        The selection.
    """
    options = options or SelectionOptions()
    results, sweep_layers = load_sweep_results(sweep_dir)
    inferred = num_layers is None and sweep_layers is None
    layers = num_layers or sweep_layers or _infer_num_layers(results)
    # the sets come first: policy IV reads the CKA of the chosen V_I
    selection = select_weight_sets(results, layers, options)
    if inferred:
        selection["notes"].insert(0, f"the layer count ({layers}) was inferred from the per-layer runs")
    if cka_runs:
        v1 = parse_layers(selection["sets"]["V_I"], layers) if selection["sets"]["V_I"] else []
        selection = select_weight_sets(results, layers, options, cka=policy_iv_from_cka(cka_runs, v1, options))
        if inferred:
            selection["notes"].insert(0, f"the layer count ({layers}) was inferred from the per-layer runs")
    selection["sweep"] = str(sweep_dir)
    write_selection(selection, out_dir or sweep_dir)
    return selection


def auto_selection(train_values: dict[str, Any], seeds: list[int], out_dir: str | Path, *,
                   options: SelectionOptions | None = None, num_layers: int | None = None,
                   experiments: Sequence[str] = AUTO_EXPERIMENTS, cka_seeds: list[int] | None = None,
                   cka_config: Any = None, show_progress: bool = False) -> dict[str, Any]:
    """Run the layer sweep and the CKA DF runs, then select (``--sets auto``).

    Args:
        train_values: the TrainConfig values shared by every run (``out``/``seed``/``method`` are set here).
        seeds: the sweep's seeds.
        out_dir: ``OUT/sweep`` (the sweep), ``OUT/cka`` (separate CKA runs, if needed),
            ``OUT/selection.json`` and ``OUT/selection.md``.
        options: the selection options.
        num_layers: the model's layer count (default: read from its config).
        experiments: the sweep's experiment families.
        cka_seeds: seeds of the CKA runs (default: all ``seeds``).
        cka_config: a :class:`~xlingual_probe.probes.cka_probe.CKAProbeConfig` (default options).
        show_progress: progress bars.

    Returns:
        The selection (also written to ``out_dir``).
    """
    from xlingual_probe.probes.cka_probe import CKAProbe, CKAProbeConfig
    from xlingual_probe.training import train

    out_dir = Path(out_dir)
    if num_layers is None:
        num_layers = count_layers(train_values["model"], bool(train_values.get("trust_remote_code")))
    preset = paper_selection(num_layers)
    # the group experiments run on the preset's sets scaled to this depth (bottom4 / top2 for 12 layers)
    bottom = len(parse_layers(preset["sets"]["S_II"].split(":")[0], num_layers))
    top = len(parse_layers(preset["sets"]["V_I"], num_layers))
    values = {k: v for k, v in train_values.items() if k not in ("out", "seed", "slowfast", "noise_lambda")}
    values["method"] = "direct"
    sweep = SweepConfig(train=values, out=str(out_dir / "sweep"), seeds=list(seeds), experiments=list(experiments),
                        bottom_set=f"bottom{bottom}", top_set=f"top{top}")
    cka_config = cka_config or CKAProbeConfig()
    probe = CKAProbe(cka_config)
    cka_runs = []
    jobs = plan_sweep(sweep, num_layers)
    write_sweep_plan(sweep, jobs, num_layers)
    for job in jobs:
        if job.experiment != BASELINE or job.seed not in (cka_seeds or seeds):
            continue
        files = RunFiles(job.run_dir)
        if files.is_finished() and not files.cka.is_file():
            config = job.config.replace(out=str(out_dir / "cka" / f"seed-{job.seed}"))
            extra = {"cka_probe": cka_config.to_dict()}
        else:
            config, extra = job.config, {"sweep": job.describe(), "cka_probe": cka_config.to_dict()}
        train(config, callbacks=[probe], resume=True, show_progress=show_progress, extra_config=extra)
        cka_runs.append(config.out)
    run_sweep(sweep, num_layers=num_layers, show_progress=show_progress)
    return select_from_sweep(sweep.out, cka_runs, options=options, out_dir=out_dir, num_layers=num_layers)
