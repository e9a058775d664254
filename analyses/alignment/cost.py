"""The alignment probe's cost, from run directories: next to the gap evaluation it accompanies, and as a share
of training time. Timing numbers are only meaningful from a quiet machine (one job at a time).

    python analyses/alignment/cost.py RUN_DIR...

Per run: the probe's seconds per probe step after update 0 (``align_seconds``; update 0 also samples,
tokenises and computes the starting representations, shown apart), the gap evaluation's seconds per
evaluation (``eval_seconds`` of ``metrics.jsonl``), their ratio (target: at most 0.1 at the defaults), the
CKA probe's seconds per probe when it ran, and the share of the run's training time the alignment probe took
(``train_seconds`` of ``summary.json`` counts the probes' time, evaluations excluded).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from xlingual_probe.runs import RunFiles
from xlingual_probe.utils.io import read_json, read_jsonl


def cost_row(run: Path) -> dict[str, object]:
    files = RunFiles(run)
    per_step = {r["step"]: r["align_seconds"] for r in read_jsonl(files.alignment)}
    later = [s for step, s in per_step.items() if step > 0]
    evals = [r["eval_seconds"] for r in read_jsonl(files.metrics)] if files.metrics.is_file() else []
    cka = {r["step"]: r["cka_seconds"] for r in read_jsonl(files.cka)} if files.cka.is_file() else {}
    train = read_json(files.summary).get("train_seconds") if files.is_finished() else None
    probe = sum(later) / len(later) if later else None
    evaluation = sum(evals) / len(evals) if evals else None
    return {"run": str(run), "probe steps": len(later), "update-0 probe s": per_step.get(0),
            "probe s / step": probe, "gap eval s / eval": evaluation,
            "probe / eval": probe / evaluation if probe and evaluation else None,
            "CKA probe s / step": sum(cka.values()) / len(cka) if cka else None,
            "share of training time": sum(per_step.values()) / train if train else None}


if __name__ == "__main__":
    runs = [Path(p) for p in sys.argv[1:]]
    if not runs:
        sys.exit("usage: python analyses/alignment/cost.py RUN_DIR...")
    print(pd.DataFrame([cost_row(run) for run in runs]).round(4).to_string(index=False))
