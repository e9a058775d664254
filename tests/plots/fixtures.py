"""Fixture builders: run, sweep, comparison and selection directories with hand-chosen numbers (no training).

They write the files of :mod:`xlingual_probe.runs` (and ``sweep.json`` / ``compare.json`` / ``selection.json``)
as the toolkit does, so the figures and tables read them like real runs. Every score is chosen by the test
that calls them, so the expected table values are computed by hand in the test.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from xlingual_probe.utils.io import append_jsonl, atomic_write_json

EVAL_STEPS = (100, 200, 300)
UPDATES = 300


def loss_at(step: int, seed: int = 1) -> float:
    """A falling loss: fast, then flat (phase 2 starts where a 100-update mean falls by ≤ 0.1)."""
    return 0.3 + 2.0 * math.exp(-step / 40.0) + 0.001 * seed


def record(step: int, scores: dict[str, float], source_lang: str = "en", loss: float | None = None) -> dict[str, Any]:
    """A ``metrics.jsonl`` / ``summary.json`` evaluation record from per-language scores."""
    targets = [v for k, v in scores.items() if k != source_lang]
    target_mean = sum(targets) / len(targets)
    return {"step": step, "loss": loss, "metrics": dict(scores), "source": scores[source_lang],
            "target_mean": target_mean, "overall": sum(scores.values()) / len(scores),
            "gap": scores[source_lang] - target_mean, "details": {}, "eval_seconds": 0.1}


def write_run(root: Path, *, final: dict[str, float], task: str = "xnli", method: str = "direct", seed: int = 1,
              few_shot: int = 0, slowfast: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
              cka_layers: int = 0, policy_steps: bool = False, sweep: dict[str, Any] | None = None,
              argv: list[str] | None = None, start: dict[str, float] | None = None,
              summary: dict[str, Any] | None = None, finished: bool = True) -> Path:
    """One run directory.

    The per-language scores move linearly from ``start`` (default: final − 10 for targets, − 5 for the
    source) at update 100 to ``final`` at update 300; ``best`` = ``final`` = the update-300 evaluation unless
    ``summary`` overrides keys. ``policy_steps`` logs phase / φ / K like a slow-and-fast run (c1 = 0.01 in
    phase 1 on S_I, R(φ) on S_II and c2 = 10 on V_II in phase 2).
    """
    root.mkdir(parents=True, exist_ok=True)
    cfg = {"model": "fixture-model", "task": task, "out": str(root), "seed": seed, "method": method,
           "few_shot": few_shot, "source_lang": "en", "eval_every": 100, "select_by": "overall", "lr": 2e-5,
           "freeze": [], "reinit": [], "lr_scale": {}, "slowfast": slowfast, **(config or {})}
    info = {"schema_version": 1, "numerics_version": 1, "config": cfg, "seed": seed,
            "data": {"metric": "accuracy", "languages": list(final)}}
    if argv is not None:
        info["command"] = {"argv": argv, "cwd": "/work"}
    if sweep is not None:
        info["sweep"] = sweep
    atomic_write_json(root / "config.json", info)
    start = start or {k: v - (5.0 if k == "en" else 10.0) for k, v in final.items()}
    records = []
    for step in EVAL_STEPS:
        frac = (step - EVAL_STEPS[0]) / (EVAL_STEPS[-1] - EVAL_STEPS[0])
        scores = {k: start[k] + frac * (final[k] - start[k]) for k in final}
        mean_loss = sum(loss_at(s, seed) for s in range(step - 99, step + 1)) / 100
        records.append(record(step, scores, loss=mean_loss))
        append_jsonl(root / "metrics.jsonl", records[-1])
    for step in range(1, UPDATES + 1):
        line: dict[str, Any] = {"step": step, "loss": loss_at(step, seed), "lr": 2e-5}
        if policy_steps:
            phase = 1 if step < 200 else 2
            line.update({"phase": phase, "phi": None if step < 200 else 0.9,
                         "K": {"S_I": 0.01 if phase == 1 else 1.0, "S_II": 0.01 if phase == 1 else 0.271,
                               "V_I": 1.0, "V_II": 1.0 if phase == 1 else 10.0}})
        append_jsonl(root / "steps.jsonl", line)
    for step in EVAL_STEPS if cka_layers else ():
        for layer in range(cka_layers):
            append_jsonl(root / "cka.jsonl", {"step": step, "layer": layer, "cka": cka_value(step, layer, seed),
                                              "pooling": "tokens", "debiased": False, "n": 64})
    if finished:
        atomic_write_json(root / "summary.json", {"best": records[-1], "final": records[-1], "select_by": "overall",
                                                  "method": method, "seed": seed, "steps": UPDATES,
                                                  "wall_seconds": 1.0, **(summary or {})})
    return root


def cka_value(step: int, layer: int, seed: int) -> float:
    return 1.0 - step * (layer + 1) / 2000.0 - 0.01 * seed


def write_comparison(root: Path, finals: dict[str, dict[int, dict[str, float]]], *, task: str = "xnli",
                     few_shot: int = 0, policy: dict[str, float] | None = None, cka_layers: int = 0,
                     argv: list[str] | None = None) -> Path:
    """A comparison directory: ``finals[method][seed]`` = the per-language final scores of that run.

    Policy methods (``slow``, ``fast``, ``slowfast[:swap]``) get a ``slowfast`` config (c1, c2, r from
    ``policy``, default 0.01, 10, 3) and log K / phase.
    """
    policy = {"c1": 0.01, "c2": 10.0, "r": 3.0, **(policy or {})}
    runs = {}
    for method, per_seed in finals.items():
        base, _, swap = method.partition(":")
        settings = None
        if base in ("slow", "fast", "slowfast"):
            settings = {**policy, "window": 100, "threshold": 0.1, "phase_mode": "per-step",
                        "policies": ["I", "II", "III", "IV"], "swap": swap or None,
                        "sets": {"S_I": "0-9", "S_II": "0-3:ffn", "V_I": "10-11", "V_II": "10-11:attention"}}
        folder = method.replace(":", "-")
        runs[method] = []
        for seed, final in per_seed.items():
            run = write_run(root / folder / f"seed-{seed}", final=final, task=task, method=method, seed=seed,
                            few_shot=few_shot, slowfast=settings, policy_steps=settings is not None,
                            cka_layers=cka_layers if base == "direct" else 0,
                            argv=argv or ["xprobe", "compare", "--task", task, "--out", str(root)])
            runs[method].append(str(run))
    atomic_write_json(root / "compare.json", {"schema_version": 1, "options": {"which": "best", "alpha": 0.05,
                                                                               "policy": policy},
                                              "train": {"task": task, "few_shot": few_shot}, "runs": runs})
    return root


def write_sweep(root: Path, jobs: list[tuple[str, str, str, str, dict[int, dict[str, float]]]], *,
                task: str = "xnli", selection: dict[str, Any] | None = None) -> Path:
    """A sweep directory: ``jobs`` = (experiment, label, unit, component, {seed: final per-language scores})."""
    planned = []
    for experiment, label, unit, component, per_seed in jobs:
        for seed, final in per_seed.items():
            run = f"runs/{label}-seed{seed}-fixture"
            job = {"experiment": experiment, "label": label, "unit": unit, "component": component, "seed": seed,
                   "key": "fixture", "freeze": [], "reinit": [], "lr_scale": {}}
            change = {} if experiment == "baseline" else {"freeze": [f"{label}"]}
            write_run(root / run, final=final, task=task, seed=seed, config=change, sweep=job,
                      argv=["xprobe", "probe", "layers", "--task", task, "--out", str(root)])
            planned.append({**job, "run": run})
    atomic_write_json(root / "sweep.json", {"schema_version": 1, "options": {"seeds": sorted({j["seed"] for j in planned})},
                                            "train": {"task": task, "model": "fixture-model"}, "num_layers": 4,
                                            "jobs": planned})
    if selection is not None:
        atomic_write_json(root / "selection.json", {"sweep": str(root), **selection})
    return root


def scores(en: float, de: float, sw: float) -> dict[str, float]:
    return {"en": en, "de": de, "sw": sw}
