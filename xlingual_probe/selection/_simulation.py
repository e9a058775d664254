"""Layer sweeps whose true effects are known: the tables behind the selection rules' error rates and power.

Context:
    A selection rule is a statistical procedure, so its false-positive rate and power can be measured
    on sweep tables drawn from a model whose truth is known. ``benchmarks/selection_power.py`` does
    this for both rules (the table in ``benchmarks/README.md``), the tests run small seeded versions,
    and a user can ask how many seeds a design needs before paying for the sweep.

Model (one score per experiment j and seed k, in points):

    score_jk = 70 + effect_j + s_k + e_jk,   s_k ~ N(0, ρ·σ²),   e_jk ~ N(0, (1 − ρ)·σ²)

σ is the standard deviation of one run's score and ρ the correlation of two runs with the same
seed (the shared head initialisation and batch order; ~0.65 on the project's synthetic sweep, per
the review in issue 13). ``diverged`` adds a fixed number of points to single runs (a ×10-lr seed that
diverged: −20). The experiments are those of a default sweep (:mod:`xlingual_probe.experiments.catalogue`):
DF, per-layer re-init and freeze, group freeze / re-init of ``bottom4`` (all, attention, ffn),
last-k (k = 1, 2, 3) and ×10 lr of ``top2`` (all, attention, ffn), with the labels the sweep writes.

>>> table = simulate_sweep_results(SimulatedSweep(num_layers=4, seeds=2), np.random.default_rng(0))
>>> len(table), sorted(table["seed"].unique().tolist())
(42, [1, 2])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from xlingual_probe.runs import BASELINE, RESULT_COLUMNS


@dataclass(frozen=True)
class SimulatedSweep:
    """A sweep design and its true effects.

    Attributes:
        num_layers: layers of the model (the per-layer experiments; ≥ 4 for the ``bottom4`` groups).
        seeds: seeds per experiment (DF included), numbered 1..seeds.
        sigma: standard deviation of one run's score (points).
        seed_correlation: ρ, the correlation of two runs with the same seed, in [0, 1).
        effects: true effect (points, added to the score) per experiment label, e.g.
            ``{"reinit-L0": -3.0, "freeze-L0": 1.0}``; every other experiment has none.
        diverged: ``(label, seed, points)`` added to single runs.
        baseline: the DF mean (points).
    """

    num_layers: int = 12
    seeds: int = 4
    sigma: float = 1.0
    seed_correlation: float = 0.65
    effects: dict[str, float] = field(default_factory=dict)
    diverged: tuple[tuple[str, int, float], ...] = ()
    baseline: float = 70.0

    def __post_init__(self) -> None:
        if self.num_layers < 4 or self.seeds < 1:
            raise ValueError(f"need num_layers >= 4 and seeds >= 1, not {self.num_layers}, {self.seeds}")
        if not 0 <= self.seed_correlation < 1:
            raise ValueError(f"seed_correlation must be in [0, 1), not {self.seed_correlation}")
        unknown = (set(self.effects) | {label for label, _, _ in self.diverged}) - set(self.labels())
        if unknown:
            raise ValueError(f"unknown experiment label(s): {', '.join(sorted(unknown))}")

    def experiments(self) -> list[tuple[str, str, str, str]]:
        """(experiment, label, unit, component) of every experiment, DF first."""
        rows = [(BASELINE, BASELINE, "", "")]
        for kind in ("reinit", "freeze"):
            rows += [(kind, f"{kind}-L{layer}", str(layer), "all") for layer in range(self.num_layers)]
        for kind, unit in (("group-freeze", "bottom4"), ("group-reinit", "bottom4"), ("lr-x10", "top2")):
            rows += [(kind, f"{kind}-{unit}" + ("" if c == "all" else f"-{c}"), unit, c)
                     for c in ("all", "attention", "ffn")]
        rows += [("last-k", f"last-{k}", f"top{k}", "all") for k in (1, 2, 3)]
        return rows

    def labels(self) -> list[str]:
        return [label for _, label, _, _ in self.experiments()]


def simulate_sweep_results(design: SimulatedSweep, rng: np.random.Generator) -> pd.DataFrame:
    """One draw of the sweep's ``results.csv`` (:data:`~xlingual_probe.runs.RESULT_COLUMNS`; only
    ``final_overall`` and ``best_overall`` hold scores, both the same draw).

    Args:
        design: the design and its true effects.
        rng: the random generator (the draw is reproducible from its seed).
    """
    experiments = design.experiments()
    shared = rng.normal(0.0, design.sigma * np.sqrt(design.seed_correlation), design.seeds)
    own = rng.normal(0.0, design.sigma * np.sqrt(1 - design.seed_correlation), (len(experiments), design.seeds))
    scores = design.baseline + shared[None, :] + own
    index = {label: j for j, (_, label, _, _) in enumerate(experiments)}
    for label, effect in design.effects.items():
        scores[index[label]] += effect
    for label, seed, points in design.diverged:
        scores[index[label], seed - 1] += points
    rows = [{"experiment": experiment, "label": label, "unit": unit, "component": component, "seed": k + 1,
             "run": f"runs/{label}-seed{k + 1}", "final_overall": scores[j, k], "best_overall": scores[j, k]}
            for j, (experiment, label, unit, component) in enumerate(experiments) for k in range(design.seeds)]
    return pd.DataFrame(rows).reindex(columns=RESULT_COLUMNS)
