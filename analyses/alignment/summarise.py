"""Tables and figures of analyses/alignment from the run directories of run.sh.

    python analyses/alignment/summarise.py [OUT] [RESULTS] [SWEEP]

Defaults: OUT runs/alignment, RESULTS analyses/alignment/results, SWEEP the synthetic world's 111-run layer
sweep kept with its analysis (analyses/synthetic-nli/results/results.csv: its reinit and DF runs, seeds 1-3,
are the runs run.sh's syn-reinit stages make, same config and run ids); pass OUT/syn-reinit to use those.
Reads only run and sweep directories; writes ``RESULTS/summary.md`` and the figures, and prints the summary.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

from xlingual_probe.commands.probe_alignment import correlation_table, forgetting_table, map_table
from xlingual_probe.forgetting import alignment_vs_reinit, sweep_results
from xlingual_probe.plots.alignment import plot_alignment_curves, plot_alignment_vs_reinit
from xlingual_probe.reporting import markdown_table, seed_summary_table
from xlingual_probe.runs import BASELINE, load_runs
from xlingual_probe.utils.io import read_json


def runs_in(folder: Path) -> list[Path]:
    return sorted(p.parent for p in folder.rglob("alignment.jsonl") if "checkpoints" not in p.parts)


def updates(run_dirs: list[Path]) -> int:
    return int(sum(load_runs(run_dirs).summaries["final_step"]))


def main(out: Path, results: Path, sweep: Path) -> None:
    results.mkdir(parents=True, exist_ok=True)
    lines = ["# Alignment probe: measured tables", ""]
    if (out / "e5-map").is_dir():
        means, wide = map_table(out / "e5-map")
        lines += ["## Pre-trained multilingual-e5-small, XNLI dev, 256 premises per language", "",
                  markdown_table(means), "", markdown_table(wide.reset_index()), ""]
    for name in ("syn-df", "syn-sf", "e5-df", "e5-sf"):
        dirs = runs_in(out / name)
        if not dirs:
            continue
        lines += [f"## {name}: alignment lost per layer (retrieval, mean over targets; mean ± std over seeds)", "",
                  markdown_table(forgetting_table(dirs)), ""]
        for measure, what in (("cka_cross", "debiased CKA source vs target, mean over targets"),
                              ("cka_to_pretrained", "CKA to the start, mean over all languages; lost = 1 − CKA")):
            lines += [f"### {name}: {measure} ({what})", "", markdown_table(forgetting_table(dirs, measure)), ""]
        correlations = correlation_table(dirs)
        if not correlations.empty:
            lines += [f"### {name}: Spearman across target languages, per seed", "", markdown_table(correlations), ""]
        if all((d / "summary.json").is_file() for d in dirs):
            lines += [f"### {name}: scores (final)", "", markdown_table(seed_summary_table([str(d) for d in dirs],
                                                                                            "final")), ""]
        plot_alignment_curves(dirs, results / f"{name}-alignment.png", title=f"Alignment per layer: {name}")
    df_dirs = runs_in(out / "syn-df")
    if (sweep.is_file() or (sweep / "sweep.json").is_file()) and df_dirs:
        table, rho, p = alignment_vs_reinit(df_dirs, sweep)
        present = spearmanr(table["before"], table["drop"])
        lines += [f"## Synthetic world: alignment lost (DF, {len(df_dirs)} seeds) vs re-initialisation drop ({sweep})",
                  "", markdown_table(table.round(3)), "",
                  (f"Spearman ρ(alignment lost, re-init drop) over {len(table)} layers = {rho:.3f} (p = {p:.3g}); "
                  f"ρ(alignment before fine-tuning, re-init drop) = {present.statistic:.3f} "
                  f"(p = {present.pvalue:.3g})"), ""]
        plot_alignment_vs_reinit(df_dirs, sweep, results / "syn-lost-vs-reinit.png")
        jobs = sweep_results(sweep)
        reinit_runs = int(jobs["experiment"].isin([BASELINE, "reinit"]).sum())
        steps = read_json(df_dirs[0] / "config.json")["training"]["total_steps"]
        compute = (f"Compute: selection from alignment {len(df_dirs)} runs × {steps} updates = "
                   f"{updates(df_dirs)} updates; the sweep's DF and single-layer re-init runs {reinit_runs} × "
                   f"{steps} = {reinit_runs * steps} updates; the whole sweep {len(jobs)} runs × {steps} = "
                   f"{len(jobs) * steps} updates.")
        lines += [compute, ""]
    for label, folder in (("from alignment", "syn-select-alignment"), ("from the re-init sweep", "syn-select-sweep")):
        path = out / folder / "selection.json"
        if path.is_file():
            selection = read_json(path)
            sets = pd.DataFrame([{"set": k, "unit": v or "(empty)"} for k, v in selection["sets"].items()])
            lines += [f"## Selection {label}", "", markdown_table(sets), "",
                      f"policy IV {'on' if selection['policy_iv'] else 'off'}", ""]
            lines += [f"- {note}" for note in selection["notes"]] + [""]
    text = "\n".join(lines)
    (results / "summary.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/alignment"),
         Path(sys.argv[2]) if len(sys.argv) > 2 else Path("analyses/alignment/results"),
         Path(sys.argv[3]) if len(sys.argv) > 3 else Path("analyses/synthetic-nli/results/results.csv"))
