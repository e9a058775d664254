"""Crafted run directories with ``alignment.jsonl`` (known alignment, losses and scores) for the
forgetting, selection and figure tests — no model involved."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from xlingual_probe.runs import RunFiles
from xlingual_probe.utils.io import append_jsonl, atomic_write_json


def write_alignment_run(root: Path, *, retrieval: Callable[[int, int, str], float], steps: Sequence[int],
                        num_layers: int, targets: Sequence[str] = ("de", "sw"), losses: Sequence[float] = (),
                        scores: Mapping[str, float] | None = None, source: str = "en",
                        cka: Callable[[int, int], float] | None = None, seed: int = 1) -> Path:
    """A finished DF run whose ``alignment.jsonl`` holds ``retrieval(step, layer, lang)`` for every probe step.

    Args:
        root: the run directory.
        retrieval: the retrieval of ``lang`` at ``layer`` after ``step`` updates.
        steps: the probe steps (0 first).
        num_layers: layers of the (imaginary) model.
        targets: the target languages.
        losses: the training loss of every update (``steps.jsonl``).
        scores: final score per language (source included) for ``metrics.jsonl`` / ``summary.json``.
        cka: ``cka(step, layer)`` written to ``cka.jsonl`` (the CKA probe) when given.
        seed: the run's seed.
    """
    files = RunFiles(root)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_json(files.config, {"schema_version": 1, "seed": seed,
                                     "config": {"model": "crafted", "task": "crafted", "source_lang": source,
                                                "seed": seed, "method": "direct"},
                                     "training": {"num_layers": num_layers}})
    for step, loss in enumerate(losses, start=1):
        append_jsonl(files.steps, {"step": step, "loss": loss, "lr": 1e-3})
    for step in steps:
        for layer in range(num_layers):
            append_jsonl(files.alignment, {"step": step, "layer": layer, "lang": source, "n": 8,
                                           "retrieval_src2tgt": None, "retrieval_tgt2src": None, "retrieval": None,
                                           "cka_cross": None, "cka_to_pretrained": 1.0, "align_seconds": 0.1})
            for lang in targets:
                value = retrieval(step, layer, lang)
                append_jsonl(files.alignment, {"step": step, "layer": layer, "lang": lang, "n": 8,
                                               "retrieval_src2tgt": value, "retrieval_tgt2src": value,
                                               "retrieval": value, "cka_cross": value / 100,
                                               "cka_to_pretrained": 1.0, "align_seconds": 0.1})
            if cka is not None:
                append_jsonl(files.cka, {"step": step, "layer": layer, "cka": cka(step, layer), "pooling": "tokens",
                                         "debiased": False, "n": 100, "cka_seconds": 0.1})
    record = None
    if scores is not None:
        metrics = {source: scores[source], **{lang: scores[lang] for lang in targets}}
        target_mean = sum(metrics[lang] for lang in targets) / len(targets)
        record = {"step": steps[-1], "loss": 0.5, "metrics": metrics, "source": metrics[source],
                  "target_mean": target_mean, "overall": sum(metrics.values()) / len(metrics),
                  "gap": metrics[source] - target_mean, "details": {}, "eval_seconds": 0.1}
        append_jsonl(files.metrics, record)
    # written last: the run is complete (readers skip runs without it)
    atomic_write_json(files.summary, {"status": "finished", "best": record, "final": record, "select_by": "overall",
                                      "wall_seconds": 1.0, "train_seconds": 1.0, "eval_seconds": 0.1,
                                      "method": "direct", "seed": seed, "steps": steps[-1]})
    return root


def write_reinit_sweep(root: Path, drops: Mapping[int, float], baseline: float = 80.0,
                       seeds: Sequence[int] = (1, 2)) -> Path:
    """A finished sweep directory (``sweep.json`` + run summaries) whose reinit(ℓ) runs score ``baseline − drops[ℓ]``."""
    jobs = [("baseline", "baseline", "", None, baseline)] + [
        ("reinit", f"reinit-L{layer}", str(layer), "all", baseline - drop) for layer, drop in drops.items()]
    records = []
    for experiment, label, unit, component, overall in jobs:
        for seed in seeds:
            run = f"runs/{label}-seed{seed}"
            records.append({"experiment": experiment, "label": label, "unit": unit, "component": component,
                            "seed": seed, "key": label, "run": run, "freeze": [], "reinit": [], "lr_scale": {}})
            value = overall + (0.1 if seed % 2 else -0.1)
            record = {"step": 10, "overall": value, "source": value, "target_mean": value, "gap": 0.0, "metrics": {}}
            (root / run).mkdir(parents=True, exist_ok=True)
            (root / run / "summary.json").write_text(json.dumps({"best": record, "final": record}))
    (root / "sweep.json").write_text(json.dumps({"schema_version": 1, "options": {}, "train": {},
                                                 "num_layers": len(drops), "jobs": records}))
    return root
