"""Error rates and power of the selection rules (``paired``, the default, vs ``delta``), by simulation.

Run on purpose (not in CI), under the shared lock; one replicate of ``s1``/``v1`` runs both rules
on one simulated sweep. The table in ``benchmarks/README.md`` was measured with

    flock /tmp/xprobe-heavy.lock .venv/bin/python benchmarks/selection_power.py --part s1 --reps 80
    flock /tmp/xprobe-heavy.lock .venv/bin/python benchmarks/selection_power.py --part v1 --reps 100
    flock /tmp/xprobe-heavy.lock .venv/bin/python benchmarks/selection_power.py --part cka --reps 500
    flock /tmp/xprobe-heavy.lock .venv/bin/python benchmarks/selection_power.py --part sweep

and at full precision (Monte-Carlo SE 0.007 at p = 0.05) with ``--reps 1000`` for ``s1`` (one call
per seed count, ``--seeds 2`` etc.), ``--reps 500`` for ``v1`` and ``--reps 2000`` for ``cka``.

Every table is seeded (``--seed``, default 0) and printed as Markdown; ``benchmarks/README.md`` holds
the measured one. Parts:

``sweep``  the review's measurements on the project's own sweep (``analyses/synthetic-nli``): the
           pooled σ and δ of the delta rule with and without the diverged ×10-lr run, the DF runs'
           own σ, and both rules' sets.
``s1``     S_I decisions on simulated 12-layer sweeps (:class:`xlingual_probe.selection.SimulatedSweep`:
           σ = 1 point per run, same-seed correlation ρ = 0.65, the default experiment families) at
           2, 3 and 4 seeds. FWER: the probability that S_I holds a layer whose re-initialisation has
           no effect, under the global null (no layer matters) — for the paired rule with its default
           minimum effect (0.5 points) and for its test alone (Holm-adjusted p < α, no minimum effect).
           Power: layers 0–3 drop by Δ = 1, 2, 3 σ, the others not; the mean fraction of layers 0–3
           put in S_I (and the FWER over layers 4–11). "+div other": one run of ``lr-x10-top2``
           (another family, as on the real sweep) is 20 points low; "+div same": one run of
           ``reinit-L6`` (the same family; layer 6 is then left out of the counts).
``v1``     V_I on the paper's pattern: layers 0–9 drop by 2 σ (harmful: more than the 1-point harmless
           margin), layers 10–11 have no effect. "V_I ⊇ 10-11": both harmless top layers are in V_I
           (V_I's power); "= 10-11": exactly; "harmful in V_I": V_I holds one of layers 0–9.
``cka``    policy IV on a flat CKA series (AR(1) noise, stationary sd 0.01, coefficient φ per probe
           interval, 3 seeds): the rate of "on" (false) of the delta rule's pooled fit and of the paired
           rule's per-seed slopes; and with a true fall of 0.05 over phase 2 (power).

Monte-Carlo standard error of a rate p over R replicates: sqrt(p(1 − p)/R) (0.007 at p = 0.05, R = 1000).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from xlingual_probe.models.units import parse_layers
from xlingual_probe.selection import (
    SelectionOptions,
    SimulatedSweep,
    cka_pooled_fit_test,
    cka_slope_test,
    select_weight_sets,
    simulate_sweep_results,
)

LAYERS = 12
SEEDS = (2, 3, 4)
PAIRED, DELTA = SelectionOptions(rule="paired"), SelectionOptions(rule="delta")
DIVERGED = {"none": (), "+div other": (("lr-x10-top2", 1, -20.0),), "+div same": (("reinit-L6", 1, -20.0),)}
SWEEP = Path(__file__).resolve().parent.parent / "analyses/synthetic-nli/results/results.csv"


def _layers(selection: dict, name: str) -> set[int]:
    unit = selection["sets"][name]
    return set(parse_layers(unit.split(":")[0], LAYERS)) if unit else set()


def _test_rejections(selection: dict) -> set[int]:
    """Layers whose S_I test alone rejects (Holm p < α, a drop), whatever the minimum effect."""
    return {int(r["unit"]) for r in selection["evidence"]["S_I"]
            if r.get("p_holm") is not None and r["p_holm"] < selection["margins"]["alpha"] and r["mean_diff"] < 0}


def _table(rows: list[dict]) -> str:
    frame = pd.DataFrame(rows)
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |"
              for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def part_sweep() -> str:
    results = pd.read_csv(SWEEP, dtype={"unit": str, "component": str})
    margins = select_weight_sets(results, LAYERS, DELTA)["margins"]
    without = select_weight_sets(results[results["label"] != "lr-x10-top2"], LAYERS, DELTA)["margins"]
    lines = [(f"analyses/synthetic-nli (3 seeds, final overall): delta rule's pooled σ = {margins['sigma']:.2f}, "
              f"δ = {margins['delta']:.2f}; without lr-x10-top2 (a diverged seed): σ = {without['sigma']:.2f}, "
              f"δ = {without['delta']:.2f}; DF alone: σ = {margins['baseline_std']:.2f}."), ""]
    for options in (DELTA, PAIRED):
        selection = select_weight_sets(results, LAYERS, options)
        sets = ", ".join(f"{k} = {v or '∅'}" for k, v in selection["sets"].items())
        lines.append(f"- rule {options.rule}: {sets}; policy IV (no CKA runs) {'on' if selection['policy_iv'] else 'off'}")
    return "\n".join(lines)


def _s1_cell(seeds: int, drop: float, diverged: str, reps: int, rng: np.random.Generator) -> dict:
    effects = {f"reinit-L{layer}": -drop for layer in range(4)} if drop else {}
    design = SimulatedSweep(num_layers=LAYERS, seeds=seeds, effects=effects, diverged=DIVERGED[diverged])
    skip = {6} if diverged == "+div same" else set()
    true = set(range(4)) if drop else set()
    null = set(range(LAYERS)) - true - skip
    counts = {"paired FWER": 0, "paired test FWER": 0, "delta FWER": 0, "paired power": 0.0, "delta power": 0.0}
    for _ in tqdm(range(reps), desc=f"s1 {seeds} seeds Δ={drop:g} {diverged}", leave=False):
        table = simulate_sweep_results(design, rng)
        paired, delta = select_weight_sets(table, LAYERS, PAIRED), select_weight_sets(table, LAYERS, DELTA)
        s1_paired, s1_delta = _layers(paired, "S_I"), _layers(delta, "S_I")
        counts["paired FWER"] += bool(s1_paired & null)
        counts["paired test FWER"] += bool(_test_rejections(paired) & null)
        counts["delta FWER"] += bool(s1_delta & null)
        if true:
            counts["paired power"] += len(s1_paired & true) / len(true)
            counts["delta power"] += len(s1_delta & true) / len(true)
    row = {"seeds": seeds, "drop of layers 0-3": f"{drop:g}σ" if drop else "none (null)", "diverged run": diverged}
    row.update({k: v / reps for k, v in counts.items() if true or "power" not in k})
    return row


def part_s1(reps: int, rng: np.random.Generator, seed_counts: tuple[int, ...] = SEEDS) -> str:
    rows = []
    for seeds in seed_counts:
        for drop, diverged in [(0, "none"), (0, "+div other"), (0, "+div same"), (1, "none"), (2, "none"),
                               (3, "none"), (3, "+div other"), (3, "+div same")]:
            rows.append(_s1_cell(seeds, drop, diverged, reps, rng))
    return _table(rows)


def part_v1(reps: int, rng: np.random.Generator, seed_counts: tuple[int, ...] = SEEDS) -> str:
    rows = []
    effects = {f"reinit-L{layer}": -2.0 for layer in range(10)}
    for seeds in seed_counts:
        for diverged in ("none", "+div other"):
            design = SimulatedSweep(num_layers=LAYERS, seeds=seeds, effects=effects, diverged=DIVERGED[diverged])
            counts = {f"{rule} {what}": 0 for rule in ("paired", "delta")
                      for what in ("V_I ⊇ 10-11", "V_I = 10-11", "harmful in V_I", "S_I power")}
            for _ in tqdm(range(reps), desc=f"v1 {seeds} seeds {diverged}", leave=False):
                table = simulate_sweep_results(design, rng)
                for rule, options in (("paired", PAIRED), ("delta", DELTA)):
                    selection = select_weight_sets(table, LAYERS, options)
                    v1, s1 = _layers(selection, "V_I"), _layers(selection, "S_I")
                    counts[f"{rule} V_I ⊇ 10-11"] += v1 >= {10, 11}
                    counts[f"{rule} V_I = 10-11"] += v1 == {10, 11}
                    counts[f"{rule} harmful in V_I"] += bool(v1 & set(range(10)))
                    counts[f"{rule} S_I power"] += len(s1 & set(range(10))) / 10
            rows.append({"seeds": seeds, "diverged run": diverged, **{k: v / reps for k, v in counts.items()}})
    return _table(rows)


def _ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    x = np.empty(n)
    x[0] = rng.normal(0.0, sd)
    innovation = sd * math.sqrt(1 - phi * phi)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + rng.normal(0.0, innovation)
    return x


def part_cka(reps: int, rng: np.random.Generator) -> str:
    rows = []
    for phi in (0.5, 0.9):
        for points in (20, 200):
            for fall in (0.0, 0.05):
                on = {"delta (pooled fit)": 0, "paired (per-seed slopes)": 0}
                steps = np.arange(points) * 100.0
                for _ in range(reps):
                    series = [list(zip(steps, 0.5 - fall * steps / steps[-1] + _ar1(rng, points, phi, 0.01)))
                              for _ in range(3)]
                    on["delta (pooled fit)"] += cka_pooled_fit_test(series, 0.05)["on"]
                    on["paired (per-seed slopes)"] += cka_slope_test(series, 0.05, 0.02)["on"]
                rows.append({"AR(1) φ": phi, "points per seed": points, "true fall": fall,
                             **{f"P(on) {k}": v / reps for k, v in on.items()}})
    return _table(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("sweep", "s1", "v1", "cka", "all"), default="all")
    parser.add_argument("--reps", type=int, default=500, help="replicates per table cell")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the simulation")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS),
                        help="the sweep's seed counts to simulate (s1, v1) [2 3 4]")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    counts = tuple(args.seeds)
    parts = {"sweep": lambda: part_sweep(), "s1": lambda: part_s1(args.reps, rng, counts),
             "v1": lambda: part_v1(args.reps, rng, counts), "cka": lambda: part_cka(args.reps, rng)}
    for name, part in parts.items():
        if args.part in (name, "all"):
            print(f"## {name} (reps {args.reps}, seed {args.seed}, seed counts {counts})\n\n{part()}\n", flush=True)


if __name__ == "__main__":
    main()
