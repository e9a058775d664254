"""The paired selection rule (the default): S_I, S_II, V_I, V_II from per-seed differences to DF.

Context:
    The margin rule (``rule="delta"``, :mod:`~xlingual_probe.selection._rules`) compares means over
    seeds with a δ set by a σ pooled across every experiment: one diverged, unrelated run inflates
    δ for every decision (on ``analyses/synthetic-nli`` one ×10-lr seed made δ 5.2 points instead of
    2.5), it ignores that seed k of every experiment shares DF seed k's head initialisation and batch
    order, and it puts a layer into V_I when its drop is merely not shown (absence of evidence). This
    rule tests within seeds, per family, with a family-wise error rate, and asks V_I for evidence of
    no harm. ``benchmarks/selection_power.py`` measures both rules' error rates and power.

Method (SPEC "Statistics and protocol"); scores are the sweep's ``<metric>_overall`` column:

    d      per experiment and seed k: d_k = score(experiment, k) − score(DF, k), over the seeds both
           have (n pairs).
    pool   per family — per-layer ``reinit``, per-layer ``freeze``, ``group`` (group-freeze and
           group-reinit), ``lr-x10``, ``last-k`` — the variance of d pooled robustly: the median of the
           experiments' sample variances, each divided by median(χ²_ν)/ν so the pool is consistent;
           t reference with Satterthwaite's degrees of freedom for that median
           (:mod:`~xlingual_probe.selection._paired_stats`). One diverged run moves one variance,
           not the median.
    S_I    per layer, the one-sided paired t-test "re-initialising ℓ lowers the score", Holm-corrected
           over the layers of the reinit family at family-wise ``alpha`` (Holm 1979); ℓ ∈ S_I iff
           significant and the mean drop ≥ ``min_effect``.
    S_II   the same for "freezing ℓ raises the score", Holm over the layers of S_I (the only ones
           tested), gain ≥ ``min_effect``.
    V_I    from the top layer down, while the upper one-sided (1 − ``alpha``) confidence bound of the
           drop is below ``harmless_margin`` and the layer is not in S_I: shown harmless, not merely
           not shown harmful. Testing a fixed order and stopping at the first failure keeps the
           family-wise error at ``alpha`` without a correction (fixed-sequence testing; Maurer,
           Hothorn & Lehmacher 1995). With noisy evidence V_I is empty.
    components   S_II's: the two-sided paired test of the ``group-freeze`` ffn vs attention runs
           (same seeds, the group family's pooled variance); V_II's: the same for ``lr-x10``. The runs
           on the selected layers are used where the sweep has them, else those on its preset set
           (``bottom4``, ``top2``), and a note says so. The significantly better component is chosen;
           without a significant difference the paper's (ffn for S_II, attention for V_II) is kept,
           and a note says so.
    policy IV   one CKA slope per seed, tested across seeds (:mod:`~xlingual_probe.selection._cka`).

With one seed nothing can be tested: every set is empty (a note says so), which is a valid outcome,
as is any empty set. Every decision has an evidence row: the paired mean difference, its two-sided
(1 − alpha) confidence interval, p raw and Holm-adjusted (V_I: the confidence bound and the p of
"the drop is at least the margin"), n pairs, the decision and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from xlingual_probe.models.units import parse_layers
from xlingual_probe.reporting import format_mean_std
from xlingual_probe.runs import BASELINE
from xlingual_probe.selection._paired_stats import (
    PairedTest,
    PooledVariance,
    holm_adjust,
    p_values,
    paired_test,
    pooled_variance,
)
from xlingual_probe.selection._rules import (
    COMPONENT_NAMES,
    PAPER_COMPONENTS,
    SCHEMA_VERSION,
    SelectionOptions,
    format_layers,
    normalise_results,
    preset_note,
    score_column,
    unit_string,
)
from xlingual_probe.utils.errors import UserError

FAMILIES = {"reinit": "reinit", "freeze": "freeze", "group-freeze": "group", "group-reinit": "group",
            "lr-x10": "lr-x10", "last-k": "last-k"}
# an experiment whose own variance is this improbable under the family's is tested with its own
OUTLIER_P = 0.001
NO_SPREAD = ("no spread: every experiment's paired differences to DF are equal across seeds (variance 0), so "
             "the paired rule cannot test; every set is empty and policy IV is off. Real runs vary by seed: check "
             "that the sweep's runs differ, or use --rule delta or --sets paper")
ONE_SEED = ("one seed: the paired rule cannot test (it needs at least 2 seeds shared by DF and the "
            "experiments); every set is empty and policy IV is off. Run the sweep with more seeds, or "
            "use --rule delta (no protection against seed noise) or --sets paper")


@lru_cache(maxsize=1024)
def _outlier_ratio(nu: int, df: float) -> float:
    """s²/σ̂² above which an experiment's variance is improbable (p < OUTLIER_P) under its family's."""
    from scipy import stats

    return float(stats.f.isf(OUTLIER_P, nu, df))


@dataclass
class _Experiment:
    """One experiment's per-seed scores and its paired differences to DF."""

    experiment: str
    label: str
    unit: str
    component: str
    family: str
    scores: dict[int, float]
    diffs: np.ndarray

    @property
    def value(self) -> str:
        """The experiment's score, mean ± std over its seeds (``-`` for a comparison of two experiments)."""
        values = list(self.scores.values())
        if not values:
            return "-"
        return format_mean_std(float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else None)


def _points(value: float) -> str:
    return f"{value:g} point" + ("" if value == 1 else "s")


def _row(exp: _Experiment, test: PairedTest | None, alpha: float, decision: str, why: str, *,
         p: float | None = None, p_holm: float | None = None, bound: float | None = None) -> dict[str, Any]:
    """One evidence row (the ``selection.json`` schema in :mod:`~xlingual_probe.selection._io`)."""
    mean = float(exp.diffs.mean()) if len(exp.diffs) else None  # shown even when it cannot be tested
    variance = None if test is None else ("own" if test.own_variance else "pooled")
    return {"experiment": exp.label, "unit": exp.unit, "component": exp.component, "family": exp.family,
            "value": exp.value, "n": len(exp.diffs), "mean_diff": mean,
            "ci": list(test.interval(alpha)) if test else None, "p": p, "p_holm": p_holm, "bound": bound,
            "variance": variance, "decision": decision, "why": why}


class _PairedSelector:
    """Applies the paired rule in order; collects sets, evidence rows and notes (module docstring)."""

    def __init__(self, results: pd.DataFrame, num_layers: int, options: SelectionOptions):
        self.num_layers, self.options = num_layers, options
        self.notes: list[str] = []
        table = normalise_results(results)
        column = score_column(table, options.metric)
        if "seed" not in table:
            raise UserError("the sweep results have no 'seed' column: the paired rule pairs runs by seed")
        table = table.assign(score=pd.to_numeric(table[column], errors="coerce")).dropna(subset=["score"])
        scores: dict[tuple[str, str, str, str], dict[int, float]] = {}
        for experiment, label, unit, component, seed, value in zip(
                table["experiment"], table["label"], table["unit"], table["component"], table["seed"], table["score"]):
            by_seed = scores.setdefault((experiment, label, unit, component), {})
            if int(seed) in by_seed:
                raise UserError(f"the sweep results have two rows for {label} seed {int(seed)}")
            by_seed[int(seed)] = float(value)
        base = next((s for k, s in scores.items() if k[0] == BASELINE), None)
        if not base:
            raise UserError("the sweep has no finished baseline (DF) run: it is the reference of every rule")
        self.base = base
        self.experiments: list[_Experiment] = []
        for (experiment, label, unit, component), by_seed in scores.items():
            if experiment == BASELINE:
                continue
            seeds = sorted(set(by_seed) & set(base))
            unpaired = sorted(set(by_seed) - set(base))
            if unpaired:
                self.notes.append(f"{label}: seed(s) {', '.join(map(str, unpaired))} have no DF run; left out")
            diffs = np.array([by_seed[k] - base[k] for k in seeds])
            self.experiments.append(_Experiment(experiment, label, unit, component,
                                                FAMILIES.get(experiment, experiment), by_seed, diffs))
        self.pools: dict[str, PooledVariance] = {}
        for family in dict.fromkeys(e.family for e in self.experiments):
            self.pools[family] = pooled_variance([e.diffs for e in self.experiments if e.family == family])
        self.one_seed = len(base) < 2 or not any(p.testable for p in self.pools.values())
        if self.one_seed:
            self.notes.append(ONE_SEED if len(base) < 2 else NO_SPREAD)
        self.tests = {e.label: self._test(e) for e in self.experiments}

    def _test(self, exp: _Experiment) -> PairedTest | None:
        pool = self.pools[exp.family]
        if not pool.testable or not len(exp.diffs):
            return None
        n = len(exp.diffs)
        own = float(exp.diffs.var(ddof=1)) if n > 1 else 0.0
        if own > pool.variance and own / pool.variance > _outlier_ratio(n - 1, pool.df):
            # the pool's median protects the other decisions from this experiment; its own decision
            # must not borrow the family's smaller noise level
            self.notes.append(f"{exp.label}: its differences to DF vary far more than its family's "
                              f"(s = {math.sqrt(own):.2f} vs pooled {pool.sd:.2f}, F-test p < {OUTLIER_P:g}; a diverged "
                              f"run?): tested with its own variance ({n - 1} df)")
            return paired_test(exp.diffs, PooledVariance(own, n - 1, 1, n - 1), own_variance=True)
        return paired_test(exp.diffs, pool)

    def test(self, exp: _Experiment) -> PairedTest | None:
        return self.tests[exp.label]

    def per_layer(self, experiment: str) -> dict[int, _Experiment]:
        return {int(e.unit): e for e in self.experiments if e.experiment == experiment and e.unit.isdigit()}

    def missing(self, experiment: str, found: dict[int, _Experiment]) -> None:
        absent = [layer for layer in range(self.num_layers) if layer not in found]
        if len(absent) == self.num_layers:
            self.notes.append(f"missing experiments: the sweep has no {experiment} runs")
        elif absent:
            self.notes.append(f"missing experiments: no {experiment} run for layer(s) {format_layers(absent)}")

    def untestable(self, rows: dict[int, _Experiment]) -> dict[int, _Experiment]:
        """The layers of ``rows`` whose test is impossible; a note names them (unless one seed says it all)."""
        bad = {layer: e for layer, e in rows.items() if self.test(e) is None}
        if bad and not self.one_seed:
            family = next(iter(bad.values())).family
            self.notes.append(f"cannot test {family} layer(s) {format_layers(list(bad))}: no pooled variance "
                              "(no experiment of the family has 2 seeds paired with DF) or no pair")
        return bad

    def holm_tests(self, rows: dict[int, _Experiment], direction: str) -> dict[int, tuple[PairedTest, float, float]]:
        """{layer: (test, p, Holm-adjusted p)} of the one-sided tests ``less`` / ``greater`` among ``rows``."""
        tests = {layer: self.test(e) for layer, e in rows.items()}
        tests = {layer: t for layer, t in tests.items() if t is not None}
        raw = dict(zip(tests, p_values(list(tests.values()), direction)))
        adjusted = dict(zip(raw, holm_adjust(list(raw.values()))))
        return {layer: (tests[layer], raw[layer], adjusted[layer]) for layer in tests}

    def select_s1(self) -> tuple[list[int], list[dict[str, Any]]]:
        reinit = self.per_layer("reinit")
        self.missing("reinit", reinit)
        bad = self.untestable(reinit)
        tested = self.holm_tests(reinit, "less")
        alpha, min_effect = self.options.alpha, self.options.min_effect
        s1, evidence = [], []
        for layer, exp in sorted(reinit.items()):
            if layer in bad:
                evidence.append(_row(exp, None, alpha, "not in S_I", "cannot test"))
                continue
            test, p, p_holm = tested[layer]
            drop = -test.mean
            if p_holm >= alpha:
                decision, why = "not in S_I", f"drop not significant (Holm p = {p_holm:.3g} ≥ {alpha:g})"
            elif drop < min_effect:
                decision, why = "not in S_I", f"significant, but the drop {drop:.2f} < min effect {min_effect:g}"
            else:
                s1.append(layer)
                decision, why = "in S_I", f"drop {drop:.2f} ≥ {min_effect:g}, Holm p = {p_holm:.3g} < {alpha:g}"
            evidence.append(_row(exp, test, alpha, decision, why, p=p, p_holm=p_holm))
        if not s1 and reinit and not self.one_seed:
            self.notes.append("S_I is empty: no layer's re-initialisation lowers the score significantly by at "
                              f"least {min_effect:g} points (policies I and II act on nothing)")
        return s1, evidence

    def select_v1(self, s1: list[int]) -> tuple[list[int], list[dict[str, Any]]]:
        from scipy import stats

        reinit = self.per_layer("reinit")
        alpha, margin = self.options.alpha, self.options.harmless_margin
        v1: list[int] = []
        stop: str | None = None  # why the fixed sequence stopped
        shown_below: list[int] = []
        evidence = []
        for layer in range(self.num_layers - 1, -1, -1):
            exp = reinit.get(layer)
            test = self.test(exp) if exp is not None else None
            if test is None:
                stop = stop or (f"layer {layer} was not run" if exp is None else f"layer {layer} cannot be tested")
                if exp is not None:
                    evidence.append(_row(exp, None, alpha, "not in V_I", "cannot test"))
                continue
            bound = -test.lower_bound(alpha)  # upper (1 − α) bound of the drop
            p = float(stats.t.sf((test.mean + margin) / test.se, test.df))  # H0: drop ≥ margin
            harmless = bound < margin
            if stop is None and layer in s1:
                stop = f"layer {layer} is in S_I"
                decision, why = "not in V_I", "in S_I (S_I and V_I are disjoint)"
            elif stop is None and harmless:
                v1.insert(0, layer)
                decision, why = "in V_I", f"upper bound of the drop {bound:.2f} < margin {margin:g}"
            elif stop is None:
                stop = f"harm is not excluded for layer {layer}"
                decision, why = "not in V_I", (f"harm not excluded: upper bound of the drop {bound:.2f} ≥ margin "
                                               f"{margin:g}")
            else:
                if harmless and layer not in s1:
                    shown_below.append(layer)
                decision, why = "not in V_I", f"below the top block ({stop}); bound {bound:.2f}"
            evidence.append(_row(exp, test, alpha, decision, why, p=p, bound=bound))
        evidence.sort(key=lambda r: int(r["unit"]))
        if shown_below:
            self.notes.append(f"layer(s) {format_layers(shown_below)}: re-initialising them is shown harmless, but "
                              "they are not in the contiguous top block, so they are not in V_I")
        if not v1 and reinit and not self.one_seed:
            self.notes.append(f"V_I is empty: {stop}; the top layers' re-initialisation is not shown harmless "
                              f"(upper {1 - alpha:.0%} bound of the drop below {_points(margin)}) — absence of "
                              "evidence of harm is not enough")
        if v1 and len(v1) == self.num_layers:
            self.notes.append("V_I holds every layer: every re-initialisation is shown harmless; check the "
                              "sweep's length")
        return v1, evidence

    def select_s2(self, s1: list[int]) -> tuple[list[int], list[dict[str, Any]]]:
        freeze = self.per_layer("freeze")
        self.missing("freeze", freeze)
        bad = self.untestable(freeze)
        alpha, min_effect = self.options.alpha, self.options.min_effect
        in_s1 = self.holm_tests({ell: e for ell, e in freeze.items() if ell in s1}, "greater")
        every = self.holm_tests(freeze, "greater")  # only for the note on contradictory evidence
        s2, evidence = [], []
        for layer, exp in sorted(freeze.items()):
            if layer in bad:
                evidence.append(_row(exp, None, alpha, "not in S_II", "cannot test"))
                continue
            if layer not in in_s1:
                test, p, _ = every[layer]
                evidence.append(_row(exp, test, alpha, "not in S_II", "not tested: the layer is not in S_I", p=p))
                continue
            test, p, p_holm = in_s1[layer]
            if p_holm >= alpha:
                decision, why = "not in S_II", f"gain not significant (Holm p over S_I = {p_holm:.3g} ≥ {alpha:g})"
            elif test.mean < min_effect:
                decision, why = "not in S_II", f"significant, but the gain {test.mean:.2f} < min effect {min_effect:g}"
            else:
                s2.append(layer)
                decision, why = "in S_II", f"gain {test.mean:.2f} ≥ {min_effect:g}, Holm p = {p_holm:.3g} < {alpha:g}"
            evidence.append(_row(exp, test, alpha, decision, why, p=p, p_holm=p_holm))
        outside = [layer for layer, (test, _, p_holm) in every.items()
                   if layer not in s1 and p_holm < alpha and test.mean >= min_effect]
        if outside:
            self.notes.append(f"contradictory evidence: freezing layer(s) {format_layers(outside)} raises the score "
                              "significantly, but re-initialising them is not shown to hurt; left out of S_II ⊆ S_I")
        if s1 and freeze and not s2 and not self.one_seed:
            self.notes.append("S_II is empty: freezing no S_I layer raises the score significantly by at least "
                              f"{min_effect:g} points (policy II acts on nothing)")
        return s2, evidence

    def choose_component(self, name: str, experiment: str, layers: list[int]) -> tuple[str | None, list[dict]]:
        """Attention or ffn for ``name`` from the paired comparison of ``experiment``'s two runs."""
        paper = PAPER_COMPONENTS[name]
        if not layers:
            return None, []
        by_unit: dict[str, dict[str, _Experiment]] = {}
        for exp in self.experiments:
            if exp.experiment == experiment:
                by_unit.setdefault(exp.unit, {})[exp.component] = exp
        complete = [unit for unit, runs in by_unit.items() if all(c in runs for c in COMPONENT_NAMES)]
        if not complete:
            self.notes.append(f"missing experiments: no {experiment} attention/ffn runs; {name} uses the paper's "
                              f"component ({paper})")
            return paper, []
        # the runs on the selected layers where the sweep has them, else its (first) preset set
        unit = next((u for u in complete if parse_layers(u, self.num_layers) == sorted(layers)), complete[0])
        by_component = by_unit[unit]
        att, ffn = (by_component[c] for c in COMPONENT_NAMES)
        self.note_preset(name, experiment, by_component, layers)
        seeds = sorted(set(att.scores) & set(ffn.scores))
        pool = self.pools[att.family]
        alpha = self.options.alpha
        comparison = _Experiment(experiment, f"{experiment}: ffn − attention", att.unit, "ffn − attention",
                                 att.family, {}, np.array([ffn.scores[k] - att.scores[k] for k in seeds]))
        if not pool.testable or not seeds:
            self.notes.append(f"{name}: the {experiment} components cannot be compared; the paper's {paper} is used")
            return paper, [{**_row(comparison, None, alpha, f"{paper} (paper)", "cannot test"), "for": name}]
        test = paired_test(comparison.diffs, pool)
        p = test.p_two_sided()
        if p < alpha:
            chosen = "ffn" if test.mean > 0 else "attention"
            why = f"{chosen} scores higher by {abs(test.mean):.2f}, p = {p:.3g} < {alpha:g}"
        else:
            chosen = paper
            why = f"no significant difference (p = {p:.3g} ≥ {alpha:g}): the paper's {paper}"
            self.notes.append(f"{name}: {experiment} ffn and attention do not differ significantly (p = {p:.3g}); "
                              f"the paper's {paper} is kept")
        if name == "V_II":
            chosen_test = self.test(by_component[chosen])
            if chosen_test is not None and chosen_test.p_less() < alpha:
                self.notes.append(f"contradictory evidence: a ×10 learning rate on the {chosen} of "
                                  f"{by_component[chosen].unit} lowers the score (p = {chosen_test.p_less():.3g}); "
                                  "a faster V_II (policy IV) may hurt")
        return chosen, [{**_row(comparison, test, alpha, chosen, why, p=p), "for": name}]

    def note_preset(self, name: str, experiment: str, by_component: dict[str, _Experiment], layers: list[int]) -> None:
        note = preset_note(name, experiment, {e.unit for e in by_component.values()}, layers, self.num_layers)
        if note:
            self.notes.append(note)

    def family_rows(self) -> list[dict[str, Any]]:
        """Every group, ×10-lr and last-k experiment against DF (two-sided, Holm within its family)."""
        rows = []
        for family in ("group", "lr-x10", "last-k"):
            members = [e for e in self.experiments if e.family == family]
            tests = [self.test(e) for e in members]
            raw = p_values([t for t in tests if t is not None], "two-sided")
            pairs = iter(zip(raw, holm_adjust(raw)))
            for exp, test in zip(members, tests):
                if test is None:
                    rows.append(_row(exp, None, self.options.alpha, "reference", "cannot test"))
                    continue
                p, p_holm = next(pairs)
                rows.append(_row(exp, test, self.options.alpha, "reference",
                                 "differs from DF" if p_holm < self.options.alpha else "no significant difference",
                                 p=p, p_holm=p_holm))
        return rows

    def family_summary(self) -> dict[str, dict[str, Any]]:
        return {family: {"experiments": pool.count, "nu": pool.nu, "df": None if math.isnan(pool.df) else pool.df,
                         "sd": None if math.isnan(pool.sd) else pool.sd}
                for family, pool in self.pools.items()}


def select_paired(results: pd.DataFrame, num_layers: int, options: SelectionOptions) -> dict[str, Any]:
    """Choose S_I, S_II, V_I, V_II with the paired rule (module docstring); policy IV is added by the caller.

    Args:
        results: one row per finished sweep job (the sweep's ``results.csv``) with a ``seed`` column.
        num_layers: the model's number of layers.
        options: ``metric``, ``alpha``, ``min_effect``, ``harmless_margin``.

    Returns:
        The selection (``selection.json`` schema, ``rule`` = ``paired``) without its policy IV decision.

    Raises:
        UserError: no finished baseline run, no ``seed`` column, duplicate rows, or a malformed table.
    """
    selector = _PairedSelector(results, num_layers, options)
    s1, ev_s1 = selector.select_s1()
    v1, ev_v1 = selector.select_v1(s1)
    s2, ev_s2 = selector.select_s2(s1)
    c_s2, ev_c_s2 = selector.choose_component("S_II", "group-freeze", s2)
    c_v2, ev_c_v2 = selector.choose_component("V_II", "lr-x10", v1)
    base = list(selector.base.values())
    return {
        "schema_version": SCHEMA_VERSION, "source": "auto", "rule": "paired", "num_layers": num_layers,
        "sets": {"S_I": unit_string(s1, None), "S_II": unit_string(s2, c_s2),
                 "V_I": unit_string(v1, None), "V_II": unit_string(v1, c_v2)},
        "policy_iv": False,
        "components": {"S_II": c_s2 if s2 else None, "V_II": c_v2 if v1 else None},
        "margins": {"rule": "paired", "metric": options.metric, "alpha": options.alpha,
                    "min_effect": options.min_effect, "harmless_margin": options.harmless_margin,
                    "min_cka_effect": options.min_cka_effect, "baseline": float(np.mean(base)),
                    "baseline_std": float(np.std(base, ddof=1)) if len(base) > 1 else None,
                    "baseline_seeds": len(base), "families": selector.family_summary()},
        "options": options.to_dict(),
        "evidence": {"S_I": ev_s1, "S_II": ev_s2, "V_I": ev_v1, "components": ev_c_s2 + ev_c_v2,
                     "families": selector.family_rows()},
        "notes": selector.notes,
    }
