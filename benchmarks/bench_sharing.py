"""Sharing the machine: a fine-tuning step's time alone and next to one other busy PyTorch job.

Run on purpose (not in CI), on an otherwise quiet machine:

    .venv/bin/python benchmarks/bench_sharing.py            # ~3 minutes
    .venv/bin/python benchmarks/bench_sharing.py --quick    # under a minute

The "victim" is a small fine-tuning loop (a 4-layer, 64-wide BERT classifier like the demo's shallow
synthetic encoder, batch 32 x 40 tokens, fused AdamW), run in a fresh process with the thread settings
of each variant; the "competitor" is a plain PyTorch job (the same loop with torch's defaults) started
beside it. For each variant the victim's median step time (over the steps after warm-up) is measured
alone and beside the competitor, alternating, ``--repeats`` times; the table gives the medians, the
ratio shared/alone (target <= ~2) and the victim's CPU seconds per step, which exposes threads that
burn CPU while waiting (spinning) instead of working.

Variants: ``xprobe`` (what ``xprobe`` does by default: import :mod:`xlingual_probe` before torch,
see ``xlingual_probe/training/runtime.py``), ``torch`` (torch's defaults: one OpenMP thread per core,
spinning waits), and any ``--variant NAME:VAR=VALUE,...`` (environment of the victim) to experiment.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OUR_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "XPROBE_THREADS")


def step_loop(steps: int | None, warmup: int) -> dict[str, float] | None:
    """Train the small classifier; with ``steps`` return the median wall and CPU seconds per step."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from xlingual_probe.training.optimizer import adamw

    torch.manual_seed(0)
    config = BertConfig(vocab_size=600, hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=256, max_position_embeddings=128)
    model = BertForSequenceClassification(config)
    optimizer = adamw([{"params": list(model.parameters())}], lr=1e-4, weight_decay=0.0)
    inputs = torch.randint(5, 600, (32, 40))
    labels = torch.randint(0, 2, (32,))

    def step() -> None:
        model(input_ids=inputs, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    if steps is None:
        while True:
            step()
    for _ in range(warmup):
        step()
    wall, cpu = [], []
    for _ in range(steps):
        w, c = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return {"wall": statistics.median(wall), "cpu": statistics.median(cpu), "threads": torch.get_num_threads()}


def run_victim(variant_env: dict[str, str], ours: bool, steps: int, warmup: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in OUR_VARIABLES} | variant_env
    cmd = [sys.executable, __file__, "--role", "victim" if ours else "plain-victim", "--steps", str(steps),
           "--warmup", str(warmup)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=["parent", "victim", "plain-victim", "competitor"], default="parent")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats (a check, not a measurement)")
    parser.add_argument("--variant", action="append", default=[], help="NAME:VAR=VALUE,... (victim environment)")
    args = parser.parse_args()
    if args.role == "competitor":
        step_loop(None, 0)
    if args.role in ("victim", "plain-victim"):
        if args.role == "victim":  # what the xprobe command does first
            import xlingual_probe  # noqa: F401
        print(json.dumps(step_loop(args.steps, args.warmup)))
        return
    if args.quick:
        args.steps, args.warmup, args.repeats = 8, 2, 1

    from benchmarks._common import header

    variants: dict[str, tuple[dict[str, str], bool]] = {"xprobe": ({}, True), "torch": ({}, False)}
    for spec in args.variant:
        name, _, assignments = spec.partition(":")
        variants[name] = (dict(a.split("=", 1) for a in assignments.split(",") if a), False)
    header("sharing the machine: victim step time alone and beside one busy PyTorch job",
           model="BERT 4 layers x 64, batch 32x40, fp32, fused AdamW", steps=args.steps, warmup=args.warmup,
           repeats=args.repeats, competitor="the same loop with torch defaults")
    results: dict[str, dict[str, list[dict[str, float]]]] = {name: {"alone": [], "shared": []} for name in variants}
    competitor_env = {k: v for k, v in os.environ.items() if k not in OUR_VARIABLES}
    for _ in range(args.repeats):
        for name, (env, ours) in variants.items():
            results[name]["alone"].append(run_victim(env, ours, args.steps, args.warmup))
        competitor = subprocess.Popen([sys.executable, __file__, "--role", "competitor"], env=competitor_env)
        try:
            time.sleep(3)  # the competitor is busy before the victim starts
            for name, (env, ours) in variants.items():
                results[name]["shared"].append(run_victim(env, ours, args.steps, args.warmup))
        finally:
            competitor.kill()
            competitor.wait()
    print(f"\n{'variant':<12} {'threads':>7} {'alone s/step':>13} {'shared s/step':>14} {'shared/alone':>13} "
          f"{'CPU s/step alone':>17} {'CPU s/step shared':>18}")
    for name, runs in results.items():
        alone = statistics.median(r["wall"] for r in runs["alone"])
        shared = statistics.median(r["wall"] for r in runs["shared"])
        cpu_alone = statistics.median(r["cpu"] for r in runs["alone"])
        cpu_shared = statistics.median(r["cpu"] for r in runs["shared"])
        print(f"{name:<12} {runs['alone'][0]['threads']:>7} {alone:>13.4f} {shared:>14.4f} {shared / alone:>13.2f} "
              f"{cpu_alone:>17.4f} {cpu_shared:>18.4f}")
    print("\ntarget: shared/alone <= ~2 for the xprobe default (one competing busy process)")


if __name__ == "__main__":
    main()
