"""``--sets auto``: run the layer sweep and the CKA DF runs, then select the weight sets.

:func:`auto_selection` produces what :func:`~xlingual_probe.selection.select_from_sweep` reads: the
layer sweep (reinit, freeze, group-freeze, lr-x10 by default) and the DF runs with the CKA probe. The
sweep's own baseline (DF) runs carry the probe, so the CKA costs no extra fine-tuning; a baseline
that already finished without the probe gets a separate CKA run in ``OUT/cka/seed-<k>``. Everything
is resumable: a second call reuses every finished run. The selection needs every run: when some have
no result, :func:`auto_selection` stops with :class:`~xlingual_probe.experiments.executor.RunsFailed`
after running all the others.

The selection's rule is ``options.rule`` (the paired rule by default: it needs 2+ seeds, and with one
it leaves every set empty). An empty set is a valid outcome: the selected sets and the policies that
act on nothing are logged, and the policy methods run anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from xlingual_probe.experiments.executor import Executor, RunJob, RunsFailed, SequentialExecutor
from xlingual_probe.experiments.sweep import SweepConfig, missing_runs, plan_sweep, run_sweep
from xlingual_probe.models.units import count_layers, parse_layers
from xlingual_probe.probes.cka_probe import CKAProbeConfig
from xlingual_probe.runs import BASELINE, FINISHED, RunFiles
from xlingual_probe.selection import SelectionOptions, inactive_policies, paper_selection, select_from_sweep
from xlingual_probe.training.identity import keyed_run_dir, run_identity

AUTO_EXPERIMENTS = ("reinit", "freeze", "group-freeze", "lr-x10")


def auto_selection(train_values: dict[str, Any], seeds: list[int], out_dir: str | Path, *,
                   options: SelectionOptions | None = None, num_layers: int | None = None,
                   experiments: Sequence[str] = AUTO_EXPERIMENTS, cka_seeds: list[int] | None = None,
                   cka_config: CKAProbeConfig | None = None, executor: Executor | None = None,
                   show_progress: bool = False, log: Callable[[str], None] | None = None) -> dict[str, Any]:
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
        cka_config: the CKA probe's options (default options).
        executor: how the runs are carried out (default: one after the other in this process).
        show_progress: progress bars.
        log: where the selected sets and the idle policies are reported (default: ``tqdm.write``).

    Returns:
        The selection (also written to ``out_dir``).
    """
    out_dir = Path(out_dir)
    if num_layers is None:
        num_layers = count_layers(train_values["model"], bool(train_values.get("trust_remote_code")))
    preset = paper_selection(num_layers)
    # the group experiments run on the preset's sets scaled to this depth (bottom4 / top2 for 12 layers)
    bottom = len(parse_layers(preset["sets"]["S_II"].split(":")[0], num_layers))
    top = len(parse_layers(preset["sets"]["V_I"], num_layers))
    executor = executor or SequentialExecutor(show_progress=show_progress)
    values = {k: v for k, v in executor.run_values(train_values).items()
              if k not in ("out", "seed", "slowfast", "noise_lambda")}
    values["method"] = "direct"
    sweep = SweepConfig(train=values, out=str(out_dir / "sweep"), seeds=list(seeds), experiments=list(experiments),
                        bottom_set=f"bottom{bottom}", top_set=f"top{top}")
    probe = (cka_config or CKAProbeConfig()).to_dict()
    in_sweep, separate = [], []  # seeds whose CKA rides on the sweep's baseline run / needs its own DF run
    cka_runs = []
    for job in plan_sweep(sweep, num_layers):
        if job.experiment != BASELINE or job.seed not in (cka_seeds or seeds):
            continue
        files = RunFiles(job.run_dir)
        if files.status() == FINISHED and not files.cka.is_file():  # a baseline that finished without the probe
            # the CKA run of an earlier sweep (other data or code) is never reused: a new key, not an error
            run_dir, _ = keyed_run_dir(out_dir / "cka" / f"seed-{job.seed}", run_identity(job.config))
            separate.append(RunJob(job.config.replace(out=str(run_dir)), label="cka", cka_probe=probe))
            cka_runs.append(separate[-1].config.out)
        else:
            in_sweep.append(job.seed)
            cka_runs.append(job.config.out)
    outcomes = executor.run(separate, status_dir=out_dir / "cka")
    run_sweep(sweep, executor=executor, num_layers=num_layers, show_progress=show_progress, cka_probe=probe,
              cka_seeds=in_sweep)
    incomplete = [o.describe() for o in outcomes if not o.complete] + missing_runs(sweep.out)
    if incomplete:
        raise RunsFailed(f"--sets auto selects from the whole sweep, but {len(incomplete)} of its runs did not "
                         "finish (run the same command again to resume them, --retry-failed to rerun failed "
                         "ones): " + "; ".join(incomplete))
    selection = select_from_sweep(sweep.out, cka_runs, options=options, out_dir=out_dir, num_layers=num_layers)
    log = log or tqdm.write
    sets = ", ".join(f"{name} = {unit or '(empty)'}" for name, unit in selection["sets"].items())
    log(f"--sets auto ({selection['rule']} rule, {out_dir / 'selection.md'}): {sets}; "
        f"policy IV {'on' if selection['policy_iv'] else 'off'}")
    idle = inactive_policies(selection)
    if idle:
        log(f"note: {idle}")
    return selection
