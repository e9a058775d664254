"""``xprobe demo``: the whole pipeline, small, offline, on the synthetic world.

1. Build and pre-train the synthetic world (cached after the first time).
2. *When*: direct fine-tuning (DF) with the gap evaluated over time and the CKA probe attached.
3. *Where*: the layer sweep (re-initialise / freeze each layer, feed-forward vs attention group
   experiments, ×10 learning rates) and the selection of S_I, S_II, V_I, V_II from it and from CKA.
4. *How much*: slow-and-fast against DF with the selected sets, over seeds, with the paired test.
5. Figures and ``report.md`` in the output folder, then the HTML report of every paper figure and table
   the demo's runs support (``report/report.html``, self-contained; :mod:`xlingual_probe.plots.report`).

Every step reuses finished runs, so an interrupted demo continues where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xlingual_probe.experiments.auto_selection import auto_selection
from xlingual_probe.experiments.compare import CompareConfig, compare_methods
from xlingual_probe.experiments.executor import Executor, SequentialExecutor
from xlingual_probe.plots.curves import plot_cka_curves, plot_gap_curves
from xlingual_probe.plots.report import write_report
from xlingual_probe.synthetic import resolve_synthetic_model
from xlingual_probe.utils.io import atomic_write_text


@dataclass
class DemoConfig:
    """Settings of the demo (defaults sized to finish in minutes on 2 CPU cores).

    Attributes:
        out: output folder.
        model: the synthetic world's model name (``synthetic:<preset>``); the 4-layer ``shallow`` world
            keeps the sweep (15 runs) and the whole demo within minutes.
        task: ``synthetic-nli``, ``synthetic-ner`` or ``synthetic-qa``.
        sweep_seeds: seeds of the layer sweep.
        compare_seeds: seeds of the DF vs slow-and-fast comparison.
        train: TrainConfig values of every run (updates, batch, learning rate, ...).
        policy: slow-and-fast hyper-parameters; the window is shortened to fit the short runs.
    """

    out: str
    model: str = "synthetic:shallow"
    task: str = "synthetic-nli"
    sweep_seeds: list[int] = field(default_factory=lambda: [1])
    compare_seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    train: dict[str, Any] = field(default_factory=lambda: {
        "max_steps": 300, "eval_every": 50, "batch_size": 32, "lr": 1e-3, "train_size": 3000, "eval_size": 300,
        "save_best": False, "save_every": 0})
    policy: dict[str, Any] = field(default_factory=lambda: {"window": 50})


def run_demo(config: DemoConfig, log: Callable[[str], None] = print, show_progress: bool = True,
             executor: Executor | None = None, command: str | None = None) -> Path:
    """Run every step of the demo, write ``report.md`` and the HTML report; returns the HTML report's path.

    Args:
        config: the demo's settings.
        log: where progress lines go.
        show_progress: progress bars.
        executor: how the runs are carried out (default: one after the other in this process).
        command: the command line, printed at the top of the HTML report.

    Raises:
        RunsFailed: a run of the sweep did not finish (the selection needs all of them).
    """
    executor = executor or SequentialExecutor(show_progress=show_progress, log=log)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    log("1/4 synthetic world: building and pre-training the encoder (cached after the first run)")
    resolve_synthetic_model(config.model)  # every later step resolves the name to this cached folder
    timings["world"] = time.perf_counter() - start

    values = {"model": config.model, "task": config.task, **config.train}
    log("2/4 layer sweep + DF runs with the gap over time and CKA; selection of the weight sets")
    t = time.perf_counter()
    selection = auto_selection(values, config.sweep_seeds, out / "selection", executor=executor,
                               show_progress=show_progress)
    timings["sweep_and_selection"] = time.perf_counter() - t

    log("3/4 slow-and-fast vs DF with the selected sets")
    t = time.perf_counter()
    comparison = compare_methods(CompareConfig(train=values, out=str(out / "compare"), seeds=config.compare_seeds,
                                               methods=["direct", "slowfast"],
                                               sets=str(out / "selection" / "selection.json"),
                                               policy=config.policy), executor=executor,
                                 show_progress=show_progress, log=log)
    timings["comparison"] = time.perf_counter() - t

    log("4/4 figures and report")
    figures = out / "figures"
    cka_runs = sorted(str(p.parent) for p in (out / "selection").rglob("cka.jsonl"))
    paths = {
        "gap": plot_gap_curves([str(out / "compare" / m) for m in ("direct", "slowfast")], figures / "gap.png",
                               title=f"{config.task}: gap over updates"),
        "cka": plot_cka_curves(cka_runs, figures / "cka.png", title="CKA with the pre-trained model (DF)"),
        "layers": out / "selection" / "sweep" / "layers.png",  # written by the sweep
    }
    report = out / "report.md"
    # PNG only: the page embeds it; `xprobe figures` writes the PDF / SVG versions when they are wanted
    html = write_report([out], out / "report", title="xlingual-probe demo: every paper figure and table the demo "
                        "supports", command=command, formats=("png",))
    timings["total"] = time.perf_counter() - start
    atomic_write_text(report, demo_report(config, selection, comparison.paths, paths, timings, out))
    log(f"figures and tables the demo's runs cannot show: {len(html.result.skipped)} (listed in the report)")
    return html.html


def slowfast_equals_df_note(selection: dict[str, Any]) -> str:
    """A warning when the selected sets change no learning rate, so slow-and-fast is DF by construction.

    Only policies I/II (on S_I, S_II ⊆ S_I) and IV (on V_II, when on) set a multiplier other than 1
    (policy III keeps V_I at 1; SPEC.md, Eq. 1–3). Returns ``""`` when some policy can act.
    """
    sets = selection["sets"]
    if sets.get("S_I") or (selection["policy_iv"] and sets.get("V_II")):
        return ""
    return ("With S_I empty (policies I and II act on nothing) and policy IV off or without V_II, every "
            "learning-rate multiplier of slow-and-fast is 1: it equals DF by construction here, not by a "
            "measured tie.")


def demo_report(config: DemoConfig, selection: dict[str, Any], comparison: dict[str, Path],
                figures: dict[str, Path], timings: dict[str, float], out: Path) -> str:
    """The demo's ``report.md``: what was run, the three answers, figures and timings."""
    rel = lambda p: Path(p).relative_to(out).as_posix()
    sweep_md = (out / "selection" / "sweep" / "summary.md").read_text(encoding="utf-8")
    sets = ", ".join(f"{k} = {v or '(empty)'}" for k, v in selection["sets"].items())
    lines = [
        "# xlingual-probe demo report", "",
        (f"Model `{config.model}` (the synthetic world: source `en`, targets `n1`…`n5` from near to far), "
        f"task `{config.task}`; every run: {config.train}."), "",
        "## When does the gap open?", "",
        f"![gap over updates]({rel(figures['gap'])})", "",
        f"![CKA per layer]({rel(figures['cka'])})", "",
        "## Where is the cross-lingual knowledge?", "",
        f"![layer sweep]({rel(figures['layers'])})", "", sweep_md, "",
        (f"Selected weight sets: {sets}; policy IV {'on' if selection['policy_iv'] else 'off'}. "
        f"Details and evidence: [selection.md]({rel(out / 'selection' / 'selection.md')})."), "",
        "## How much does protecting it help?", "",
        *([note, ""] if (note := slowfast_equals_df_note(selection)) else []),
        (comparison["md"]).read_text(encoding="utf-8") if "md" in comparison else "", "",
        ("Every paper figure and table these runs support, with the command and configuration behind each "
         "number: [report/report.html](report/report.html) (self-contained) and [report/report.md](report/report.md)."),
        "",
        "## Timings (this machine)", "",
        *[f"- {name}: {seconds:.0f} s" for name, seconds in timings.items()], "",
    ]
    return "\n".join(lines)
