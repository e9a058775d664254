"""The margin rule (``rule="delta"``): which layers form S_I, S_II, V_I and V_II, from a layer sweep's
results; and what both rules share (:class:`SelectionOptions`, unit strings, the results table).

Context:
    Slow-and-fast fine-tuning needs four weight sets. Guo et al. read them off their layer sweep:
    the layers whose re-initialisation hurts carry knowledge the task needs (S_I), the ones among
    them whose freezing even helps are being damaged by fine-tuning (S_II), and the top layers whose
    re-initialisation does not hurt are free to be reshaped (V_I). This module applies those rules
    to the numbers of a layer sweep (:mod:`xlingual_probe.experiments.sweep`) so the sets of a new model or task are
    chosen the same way, and keeps the evidence behind every decision.

Method (SPEC "Auto-selection of the weight sets": the former default, kept as an option; the default
is the paired rule of :mod:`~xlingual_probe.selection._paired`, because δ here is set by the noisiest
experiment, the seeds' pairing is ignored and V_I is chosen by absence of evidence); every number is
the mean over seeds of the overall performance (``final`` evaluation by default, option ``metric="best"``):

    B      the baseline (DF) mean.
    σ      the pooled standard deviation of the runs: sqrt of the mean of the per-experiment
           sample variances (ddof = 1) over every experiment with ≥ 2 seeds, baseline included.
           Undefined with one seed: then δ = ``min_margin`` and a note says so.
    δ      max(``margin_sigmas`` · σ, ``min_margin``) (default max(2σ, 0.5 points)).
    S_I    layers ℓ with reinit(ℓ) − B < −δ.
    S_II   layers ℓ ∈ S_I with freeze(ℓ) − B > δ.
    V_I    the longest block of top layers (ending at the last layer) with reinit(ℓ) − B > −δ.
           Layers that qualify but are not in that block are named in a note. S_I and V_I cannot
           overlap (strict inequalities on opposite sides of −δ); an overlap would be reported.
    S_II's component   ``attention`` or ``ffn``, whichever ``group-freeze`` experiment scores
           higher (the sweep ran them on its ``bottom_set``; a note says when that set is not S_II).
    V_II   V_I's layers with the component whose ``lr-x10`` experiment scores highest among
           attention and ffn (a note says when the whole-layer run scored higher still).
    policy IV   see :mod:`xlingual_probe.selection._cka`.

When an experiment is missing, the paper's choice is used and a note says so (ffn for S_II,
attention for V_II). Ties go to the paper's choice as well.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from xlingual_probe.models.units import parse_layers
from xlingual_probe.reporting import format_mean_std
from xlingual_probe.runs import BASELINE
from xlingual_probe.utils.errors import UserError

SCHEMA_VERSION = 1
COMPONENT_NAMES = ("attention", "ffn")
PAPER_COMPONENTS = {"S_II": "ffn", "V_II": "attention"}


RULES = ("paired", "delta")
# the score each rule reads: column ``<metric>_overall`` of the sweep's results.csv
SCORE_METRICS = ("final", "best")


@dataclass(frozen=True)
class SelectionOptions:
    """The choices behind a selection, all recorded in ``selection.json``.

    Attributes:
        rule: ``paired`` (default: per-seed differences to DF, tests per family, Holm;
            :mod:`~xlingual_probe.selection._paired`) or ``delta`` (the margin δ over a σ pooled across
            every experiment; this module).
        metric: the score compared: ``final`` (last evaluation) or ``best`` (best evaluation) overall
            performance (:data:`SCORE_METRICS`).
        alpha: paired rule: the family-wise error rate of each family's tests (Holm), the level of
            V_I's confidence bounds, of the component comparisons and of policy IV's CKA test.
        min_effect: paired rule: a layer joins S_I (S_II) only if its mean drop (gain) is at least
            this many points.
        harmless_margin: paired rule: a top layer joins V_I only if the upper (1 − alpha) confidence
            bound of its re-initialisation drop is below this many points.
        min_cka_effect: paired rule: policy IV needs the mean fall of the V_I CKA over phase 2 to be
            at least this (CKA units).
        margin_sigmas: delta rule: δ is at least this many pooled standard deviations.
        min_margin: delta rule: δ is at least this many points (and exactly this with one seed).
        cka_alpha: delta rule: policy IV is on when the pooled CKA slope of V_I in phase 2 is
            negative with p below this.
        window: the phase window w of the policy (phase 2 of the DF run is replayed with it).
        threshold: the phase threshold of the policy.
    """

    rule: str = "paired"
    metric: str = "final"
    alpha: float = 0.05
    min_effect: float = 0.5
    harmless_margin: float = 1.0
    min_cka_effect: float = 0.02
    margin_sigmas: float = 2.0
    min_margin: float = 0.5
    cka_alpha: float = 0.05
    window: int = 100
    threshold: float = 0.1

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise UserError(f"--rule must be one of {', '.join(RULES)}, not {self.rule!r}")
        if self.metric not in SCORE_METRICS:
            raise UserError(f"--metric must be one of {', '.join(SCORE_METRICS)}, not {self.metric!r}")
        if not 0 < self.alpha < 1:
            raise UserError("--alpha must be in (0, 1)")
        if self.min_effect < 0 or self.min_cka_effect < 0:
            raise UserError("--min-effect and --min-cka-effect must be >= 0")
        if self.harmless_margin <= 0:
            raise UserError("--harmless-margin must be > 0")
        if self.margin_sigmas < 0 or self.min_margin < 0:
            raise UserError("--margin-sigmas and --min-margin must be >= 0")
        if not 0 < self.cka_alpha < 1:
            raise UserError("--cka-alpha must be in (0, 1)")
        if self.window < 1:
            raise UserError("--window must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def format_layers(layers: list[int]) -> str:
    """A sorted layer list as unit syntax with ranges.

    >>> format_layers([0, 1, 2, 3]), format_layers([0, 2, 3, 7]), format_layers([5])
    ('0-3', '0,2-3,7', '5')
    """
    layers = sorted(set(layers))
    parts, start = [], None
    for i, layer in enumerate(layers):
        if start is None:
            start = layer
        if i + 1 == len(layers) or layers[i + 1] != layer + 1:
            parts.append(str(start) if start == layer else f"{start}-{layer}")
            start = None
    return ",".join(parts)


def unit_string(layers: list[int], component: str | None) -> str | None:
    """``"0-3:ffn"``; ``None`` for no layers."""
    if not layers:
        return None
    text = format_layers(layers)
    return text if component in (None, "all") else f"{text}:{component}"


def normalise_results(results: pd.DataFrame) -> pd.DataFrame:
    """The sweep's ``results.csv`` table with ``unit``/``component`` as strings (CSV reads them as numbers)."""
    results = results.copy()
    for column in ("experiment", "label", "unit", "component"):
        if column not in results:
            raise UserError(f"the sweep results have no {column!r} column")
        results[column] = results[column].map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v))
                                              else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)))
    return results


def experiment_stats(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per experiment label: experiment, label, unit, component, n, mean, std (ddof 1), var."""
    values = pd.to_numeric(results[score_column(results, metric)], errors="coerce")
    grouped = results.assign(_score=values).groupby(["experiment", "label", "unit", "component"], sort=False)
    stats = grouped["_score"].agg(n="count", mean="mean", std="std", var="var").reset_index()
    return stats[["experiment", "label", "unit", "component", "n", "mean", "std", "var"]]


def score_column(results: pd.DataFrame, metric: str) -> str:
    """The results column of ``metric`` (``<metric>_overall``); UserError when the table lacks it."""
    column = f"{metric}_overall"
    if column not in results:
        raise UserError(f"the sweep results have no {column!r} column")
    return column


def pooled_sigma(stats: pd.DataFrame) -> float:
    """sqrt of the mean sample variance over the experiments with ≥ 2 seeds (NaN when there is none).

    >>> frame = pd.DataFrame({"n": [2, 3, 1], "var": [0.04, 0.16, float("nan")]})
    >>> round(pooled_sigma(frame), 4)
    0.3162
    """
    variances = stats.loc[stats["n"] >= 2, "var"].dropna()
    return math.sqrt(variances.mean()) if len(variances) else math.nan


def preset_note(name: str, experiment: str, units: set[str], layers: list[int], num_layers: int) -> str | None:
    """A note when ``experiment`` ran on other layers (a preset such as ``bottom4``) than ``name``'s ``layers``.

    >>> preset_note("V_II", "lr-x10", {"top2"}, [9, 10, 11], 12)
    "V_II: the lr-x10 experiments ran on layers 10-11 (top2), not on V_II's layers 9-11"
    """
    run_on = sorted({layer for unit in units for layer in parse_layers(unit, num_layers)})
    if run_on == sorted(layers):
        return None
    return (f"{name}: the {experiment} experiments ran on layers {format_layers(run_on)} ({', '.join(sorted(units))}), "
            f"not on {name}'s layers {format_layers(layers)}")


def _row(stat: pd.Series, baseline: float, decision: str) -> dict[str, Any]:
    return {"experiment": stat["label"], "unit": stat["unit"], "component": stat["component"],
            "mean": float(stat["mean"]), "std": None if math.isnan(stat["std"]) else float(stat["std"]),
            "value": format_mean_std(stat["mean"], stat["std"]), "delta": float(stat["mean"] - baseline),
            "n": int(stat["n"]), "decision": decision}


class _Selector:
    """Applies the rules in order; collects sets, evidence rows and notes (see the module docstring)."""

    def __init__(self, stats: pd.DataFrame, num_layers: int, options: SelectionOptions):
        self.stats, self.num_layers, self.options = stats, num_layers, options
        self.notes: list[str] = []
        base = stats[stats["experiment"] == BASELINE]
        if base.empty or base["n"].iloc[0] == 0:
            raise UserError("the sweep has no finished baseline (DF) run: it is the reference of every rule")
        self.base = base.iloc[0]
        self.baseline = float(self.base["mean"])
        self.sigma = pooled_sigma(stats)
        if math.isnan(self.sigma):
            self.delta = options.min_margin
            self.notes.append(f"every experiment has one seed: σ is undefined, so δ = the minimum margin "
                              f"{options.min_margin:g} points; decisions are not protected against seed noise")
        else:
            self.delta = max(options.margin_sigmas * self.sigma, options.min_margin)

    def per_layer(self, experiment: str) -> dict[int, pd.Series]:
        rows = self.stats[(self.stats["experiment"] == experiment) & self.stats["unit"].str.fullmatch(r"\d+")]
        return {int(r["unit"]): r for _, r in rows.iterrows() if r["n"] > 0}

    def missing(self, experiment: str, found: dict[int, pd.Series]) -> None:
        absent = [layer for layer in range(self.num_layers) if layer not in found]
        if len(absent) == self.num_layers:
            self.notes.append(f"missing experiments: the sweep has no {experiment} runs")
        elif absent:
            self.notes.append(f"missing experiments: no {experiment} run for layer(s) {format_layers(absent)}")

    def select_s1_v1(self) -> tuple[list[int], list[int], list[dict[str, Any]], list[dict[str, Any]]]:
        reinit = self.per_layer("reinit")
        self.missing("reinit", reinit)
        d = self.delta
        s1 = [layer for layer, r in sorted(reinit.items()) if r["mean"] - self.baseline < -d]
        candidates = [layer for layer, r in sorted(reinit.items()) if r["mean"] - self.baseline > -d]
        v1: list[int] = []
        for layer in range(self.num_layers - 1, -1, -1):
            if layer not in candidates:
                break
            v1.insert(0, layer)
        outside = [layer for layer in candidates if layer not in v1]
        if outside:
            self.notes.append(f"layer(s) {format_layers(outside)}: re-initialising them lowers performance by "
                              f"less than δ, but they are not in the contiguous top block, so they are not in V_I")
        if reinit and not v1:
            self.notes.append(f"V_I is empty: re-initialising the top layer {self.num_layers - 1} lowers "
                              "performance by more than δ (or it was not run)")
        overlap = sorted(set(s1) & set(v1))
        if overlap:  # impossible with the strict inequalities, kept as a guard
            self.notes.append(f"overlapping sets: layer(s) {format_layers(overlap)} in S_I and V_I; removed from V_I")
            v1 = [layer for layer in v1 if layer not in overlap]
        ev_s1, ev_v1 = [], []
        for layer, r in sorted(reinit.items()):
            delta = r["mean"] - self.baseline
            if layer in s1:
                ev_s1.append(_row(r, self.baseline, f"in S_I (drop {-delta:.2f} > δ)"))
            else:
                ev_s1.append(_row(r, self.baseline, "not in S_I (drop ≤ δ)"))
            if layer in v1:
                ev_v1.append(_row(r, self.baseline, "in V_I (top block, drop < δ)"))
            elif layer in candidates:
                ev_v1.append(_row(r, self.baseline, "not in V_I (drop < δ but not in the top block)"))
        if not s1 and reinit:
            self.notes.append("S_I is empty: no layer's re-initialisation lowers performance by more than δ "
                              "(policies I and II act on nothing)")
        if v1 and len(v1) == self.num_layers:
            self.notes.append("V_I holds every layer: no re-initialisation hurts clearly; check the sweep's length")
        return s1, v1, ev_s1, ev_v1

    def select_s2(self, s1: list[int]) -> tuple[list[int], list[dict[str, Any]]]:
        freeze = self.per_layer("freeze")
        self.missing("freeze", freeze)
        s2, evidence = [], []
        helps_outside = []
        for layer, r in sorted(freeze.items()):
            raises = r["mean"] - self.baseline > self.delta
            if raises and layer in s1:
                s2.append(layer)
                decision = "in S_II (freezing raises > δ, layer in S_I)"
            elif raises:
                helps_outside.append(layer)
                decision = "not in S_II (freezing raises > δ, but the layer is not in S_I)"
            else:
                decision = "not in S_II (freezing does not raise > δ)"
            evidence.append(_row(r, self.baseline, decision))
        if helps_outside:
            self.notes.append(f"contradictory evidence: freezing layer(s) {format_layers(helps_outside)} raises "
                              "performance, but re-initialising them does not hurt clearly; left out of S_II ⊆ S_I")
        if s1 and freeze and not s2:
            self.notes.append("S_II is empty: freezing no S_I layer raises performance by more than δ "
                              "(policy II acts on nothing)")
        return s2, evidence

    def choose_component(self, name: str, experiment: str, layers: list[int], what: str
                         ) -> tuple[str | None, list[dict[str, Any]]]:
        """The better of attention / ffn among ``experiment``'s rows (S_II: group-freeze, V_II: lr-x10)."""
        rows = self.stats[(self.stats["experiment"] == experiment) & (self.stats["n"] > 0)]
        paper = PAPER_COMPONENTS[name]
        if not layers:
            return None, [_row(r, self.baseline, f"{name} is empty: not used") for _, r in rows.iterrows()]
        by_component = {r["component"]: r for _, r in rows.iterrows()}
        if not all(c in by_component for c in COMPONENT_NAMES):
            self.notes.append(f"missing experiments: no {experiment} attention/ffn runs; {name} uses the paper's "
                              f"component ({paper})")
            return paper, [_row(r, self.baseline, "incomplete") for _, r in rows.iterrows()]
        att, ffn = (float(by_component[c]["mean"]) for c in COMPONENT_NAMES)
        chosen = paper if att == ffn else ("attention" if att > ffn else "ffn")
        if att == ffn:
            self.notes.append(f"{name}: {experiment} attention and ffn tie; the paper's {paper} is used")
        elif abs(att - ffn) <= self.delta:
            self.notes.append(f"{name}: {experiment} attention and ffn differ by {abs(att - ffn):.2f} ≤ δ; "
                              f"{chosen} is chosen but the evidence is weak")
        note = preset_note(name, experiment, {r["unit"] for r in by_component.values()}, layers, self.num_layers)
        if note:
            self.notes.append(note)
        best_all = by_component.get("all")
        if best_all is not None and float(best_all["mean"]) > max(att, ffn):
            self.notes.append(f"{name}: the whole-layer {experiment} run scored highest "
                              f"({float(best_all['mean']):.2f}); between attention and ffn, {chosen} is higher")
        if name == "V_II" and max(att, ffn) - self.baseline < -self.delta:
            self.notes.append(f"contradictory evidence: {what} of either component lowers performance by more "
                              "than δ; a faster V_II (policy IV) may hurt")
        evidence = []
        for component, r in by_component.items():
            decision = f"chosen for {name}" if component == chosen else "not chosen"
            if component == "all":
                decision = "whole layers (reference; not a component)"
            evidence.append(_row(r, self.baseline, decision))
        return chosen, evidence


def select_delta(results: pd.DataFrame, num_layers: int, options: SelectionOptions) -> dict[str, Any]:
    """Choose S_I, S_II, V_I, V_II with the margin rule (module docstring); policy IV is added by the caller.

    Args:
        results: one row per finished sweep job (the sweep's ``results.csv``, RESULT_COLUMNS).
        num_layers: the model's number of layers.
        options: the margins and metric.

    Returns:
        The selection (the ``selection.json`` schema, ``rule`` = ``delta``) without its policy IV decision.

    Raises:
        UserError: no finished baseline run, or a malformed table.
    """
    stats = experiment_stats(normalise_results(results), options.metric)
    selector = _Selector(stats, num_layers, options)
    s1, v1, ev_s1, ev_v1 = selector.select_s1_v1()
    s2, ev_s2 = selector.select_s2(s1)
    c_s2, ev_c_s2 = selector.choose_component("S_II", "group-freeze", s2, "freezing")
    c_v2, ev_c_v2 = selector.choose_component("V_II", "lr-x10", v1, "a ×10 learning rate")
    return {
        "schema_version": SCHEMA_VERSION, "source": "auto", "rule": "delta", "num_layers": num_layers,
        "sets": {"S_I": unit_string(s1, None), "S_II": unit_string(s2, c_s2),
                 "V_I": unit_string(v1, None), "V_II": unit_string(v1, c_v2)},
        "policy_iv": True,
        "components": {"S_II": c_s2 if s2 else None, "V_II": c_v2 if v1 else None},
        "margins": {"rule": "delta", "delta": selector.delta,
                    "sigma": None if math.isnan(selector.sigma) else selector.sigma,
                    "margin_sigmas": options.margin_sigmas, "min_margin": options.min_margin,
                    "metric": options.metric, "baseline": selector.baseline,
                    "baseline_std": None if math.isnan(selector.base["std"]) else float(selector.base["std"]),
                    "baseline_seeds": int(selector.base["n"])},
        "options": options.to_dict(),
        "evidence": {"S_I": ev_s1, "S_II": ev_s2, "V_I": ev_v1,
                     "components": [{**row, "for": "S_II"} for row in ev_c_s2]
                     + [{**row, "for": "V_II"} for row in ev_c_v2]},
        "notes": selector.notes,
    }
