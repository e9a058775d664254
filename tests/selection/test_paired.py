"""The paired rule (the default) on sweep tables whose truth is known: crafted by hand or drawn from
:class:`~xlingual_probe.selection.SimulatedSweep` (a shared per-seed effect, ρ = 0.65)."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xlingual_probe.runs import RESULT_COLUMNS
from xlingual_probe.selection import (
    SelectionOptions,
    SimulatedSweep,
    check_sets,
    pooled_variance,
    select_from_sweep,
    select_weight_sets,
    simulate_sweep_results,
)

PAPER_SETS = {"S_I": "0-9", "S_II": "0-3:ffn", "V_I": "10-11", "V_II": "10-11:attention"}


def paper_effects(reinit_drop=3.0, freeze_gain=2.0, ffn_gain=2.0, attention_lr_gain=2.0):
    """Re-init of 0-9 hurts, of 10-11 not; freezing 0-3 helps; group ffn and ×10-lr attention help."""
    effects = {f"reinit-L{layer}": -reinit_drop for layer in range(10)}
    effects.update({f"freeze-L{layer}": freeze_gain for layer in range(4)})
    effects.update({"group-freeze-bottom4-ffn": ffn_gain, "lr-x10-top2-attention": attention_lr_gain})
    return effects


def draw(seed=3, **design):
    design = {"seeds": 4, "sigma": 0.5, "effects": paper_effects(), **design}
    return simulate_sweep_results(SimulatedSweep(**design), np.random.default_rng(seed))


def test_known_effects_give_the_paper_sets_with_a_shared_seed_effect(tmp_path):
    table = draw()
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    table.to_csv(sweep / "results.csv", index=False)
    selection = select_from_sweep(sweep, num_layers=12)
    assert selection["rule"] == "paired" and selection["options"]["rule"] == "paired"
    assert selection["sets"] == PAPER_SETS
    assert selection["components"] == {"S_II": "ffn", "V_II": "attention"}
    check_sets(selection["sets"], 12)
    # no CKA runs: the paired rule turns policy IV on only on evidence
    assert selection["policy_iv"] is False and any("no CKA runs" in n for n in selection["notes"])
    families = selection["margins"]["families"]
    assert set(families) == {"reinit", "freeze", "group", "lr-x10", "last-k"}
    assert families["reinit"]["experiments"] == 12 and families["reinit"]["nu"] == 3
    # sd of a difference: σ·sqrt(2(1 − ρ)) = 0.5·0.837 = 0.42; a 12-experiment median is rough
    assert 0.25 < families["reinit"]["sd"] < 0.6
    written = json.loads((sweep / "selection.json").read_text())
    assert written["sets"] == PAPER_SETS and written["rule"] == "paired"
    md = (sweep / "selection.md").read_text()
    assert "Rule: paired" in md and "| reinit | 12 | 3 |" in md and "95% CI" in md and "p (Holm)" in md


def test_one_diverged_unrelated_run_changes_no_decision():
    diverged = (("lr-x10-top2", 2, -20.0), ("freeze-L7", 1, -20.0), ("group-reinit-bottom4", 3, -20.0))
    clean, broken = draw(), draw(diverged=diverged)
    paired = select_weight_sets(clean, 12), select_weight_sets(broken, 12)
    assert paired[0]["sets"] == paired[1]["sets"] == PAPER_SETS
    for family in ("freeze", "group", "lr-x10"):
        sd = [p["margins"]["families"][family]["sd"] for p in paired]
        assert sd[1] / sd[0] < 1.35, family
    notes = " ".join(paired[1]["notes"])
    assert "freeze-L7: its differences to DF vary far more" in notes and "own variance" in notes
    rows = {r["experiment"]: r for r in paired[1]["evidence"]["S_II"]}
    assert rows["freeze-L7"]["variance"] == "own" and rows["freeze-L3"]["variance"] == "pooled"
    # the same runs make the delta rule's δ = 2σ swallow every re-initialisation effect
    delta = select_weight_sets(broken, 12, SelectionOptions(rule="delta"))
    assert delta["sets"]["S_I"] is None and delta["sets"]["V_I"] == "0-11"


def test_shared_seed_effect_cancels_in_the_pairs():
    # σ = 3 points per run, but 95% of it is the seed: a 1.5-point drop is clear within seeds
    effects = {f"reinit-L{layer}": -1.5 for layer in range(6)}
    table = draw(seed=5, sigma=3.0, seed_correlation=0.95, effects=effects)
    paired = select_weight_sets(table, 12)
    assert paired["sets"]["S_I"] == "0-5"
    assert select_weight_sets(table, 12, SelectionOptions(rule="delta"))["sets"]["S_I"] is None


def test_v1_is_empty_when_the_evidence_is_too_noisy():
    # two seeds, 3 points of noise per run: the top layers are harmless, but it cannot be shown
    table = draw(seed=4, seeds=2, sigma=3.0, effects={f"reinit-L{layer}": -10.0 for layer in range(10)})
    selection = select_weight_sets(table, 12)
    assert selection["sets"]["V_I"] is None and selection["sets"]["V_II"] is None
    note = next(n for n in selection["notes"] if n.startswith("V_I is empty"))
    assert "absence of evidence" in note
    top = {r["experiment"]: r for r in selection["evidence"]["V_I"]}["reinit-L11"]
    assert top["decision"] == "not in V_I" and top["bound"] >= 1.0 and top["why"].startswith("harm not excluded")
    # the delta rule takes "no clear drop" for harmless
    assert select_weight_sets(table, 12, SelectionOptions(rule="delta"))["sets"]["V_I"] == "10-11"


def test_one_seed_cannot_test_and_says_so(tmp_path):
    table = draw(seeds=1)
    selection = select_weight_sets(table, 12)
    assert all(unit is None for unit in selection["sets"].values()) and selection["policy_iv"] is False
    assert "one seed: the paired rule cannot test" in selection["notes"][0]
    assert all(r["why"] == "cannot test" for r in selection["evidence"]["S_I"])
    assert selection["margins"]["families"]["reinit"]["sd"] is None
    # "empty" notes would be misleading here: one note says it all
    assert not any(n.startswith(("S_I is empty", "V_I is empty")) for n in selection["notes"])


def test_evidence_row_is_the_hand_computed_paired_test():
    # 3 layers, 2 seeds, DF = (70, 72): d(L0) = (-3, -2), d(L1) = (0.5, -0.5), d(L2) = (1, 0)
    scores = {"baseline": (70.0, 72.0), "reinit-L0": (67.0, 70.0), "reinit-L1": (70.5, 71.5),
              "reinit-L2": (71.0, 72.0)}
    rows = [{"experiment": label.split("-")[0], "label": label, "unit": label[-1] if "L" in label else "",
             "component": "all" if "L" in label else "", "seed": k + 1, "final_overall": value}
            for label, values in scores.items() for k, value in enumerate(values)]
    selection = select_weight_sets(pd.DataFrame(rows).reindex(columns=RESULT_COLUMNS), 3,
                                   SelectionOptions(harmless_margin=2.0))
    pooled = pooled_variance([[-3, -2], [0.5, -0.5], [1, 0]])
    assert pooled.variance == pytest.approx(0.5 / stats.chi2.median(1))  # variances 0.5, 0.5, 0.5
    se, df = math.sqrt(pooled.variance / 2), pooled.df
    row = selection["evidence"]["S_I"][0]
    assert row["experiment"] == "reinit-L0" and row["n"] == 2 and row["mean_diff"] == pytest.approx(-2.5)
    p = stats.t.cdf(-2.5 / se, df)
    p_all = sorted([p, stats.t.cdf(0 / se, df), stats.t.cdf(0.5 / se, df)])
    assert row["p"] == pytest.approx(p) and row["p_holm"] == pytest.approx(3 * p_all[0])
    half = stats.t.ppf(0.975, df) * se
    assert row["ci"] == pytest.approx([-2.5 - half, -2.5 + half])
    assert (row["decision"] == "in S_I") == (3 * p < 0.05)
    top = selection["evidence"]["V_I"][2]
    assert top["bound"] == pytest.approx(-0.5 + stats.t.ppf(0.95, df) * se)
    assert top["p"] == pytest.approx(stats.t.sf((0.5 + 2.0) / se, df))


def test_s2_is_holm_over_the_layers_of_s1_only():
    # only layer 0 hurts; freezing 0 and 5 helps by the same amount
    effects = {"reinit-L0": -4.0, "freeze-L0": 1.2, "freeze-L5": 1.2}
    table = draw(seed=11, sigma=0.5, effects=effects)
    selection = select_weight_sets(table, 12)
    assert selection["sets"]["S_I"] == "0" and selection["sets"]["S_II"] is not None
    rows = {r["experiment"]: r for r in selection["evidence"]["S_II"]}
    assert rows["freeze-L0"]["p_holm"] == pytest.approx(rows["freeze-L0"]["p"])  # a family of one
    assert rows["freeze-L5"]["why"] == "not tested: the layer is not in S_I"
    assert any(n.startswith("contradictory evidence: freezing layer(s) 5") for n in selection["notes"])


def test_min_effect_keeps_small_significant_drops_out():
    effects = {f"reinit-L{layer}": -0.4 for layer in range(4)}
    table = draw(seed=2, sigma=0.05, effects=effects)
    selection = select_weight_sets(table, 12)
    assert selection["sets"]["S_I"] is None
    row = selection["evidence"]["S_I"][0]
    assert row["p_holm"] < 0.05 and "< min effect 0.5" in row["why"]
    assert select_weight_sets(table, 12, SelectionOptions(min_effect=0.3))["sets"]["S_I"] == "0-3"


def test_s1_and_v1_stay_disjoint_in_the_band_between_min_effect_and_the_margin():
    # layer 11's drop of 0.7 is significant (in S_I) and below the 1-point margin (harmless by margin)
    effects = {**{f"reinit-L{layer}": -3.0 for layer in range(10)}, "reinit-L11": -0.7}
    selection = select_weight_sets(draw(seed=6, sigma=0.05, effects=effects), 12)
    assert selection["sets"]["S_I"] == "0-9,11" and selection["sets"]["V_I"] is None
    assert {r["experiment"]: r for r in selection["evidence"]["V_I"]}["reinit-L11"]["why"].startswith("in S_I")
    check_sets(selection["sets"], 12)


def test_components_need_a_significant_difference():
    table = draw(effects=paper_effects(ffn_gain=0.0))
    # ffn = attention ± 0.1 on alternate seeds: a mean difference of exactly 0
    ffn, attention = (table["label"] == f"group-freeze-bottom4-{c}" for c in ("ffn", "attention"))
    table.loc[ffn, "final_overall"] = table.loc[attention, "final_overall"].to_numpy() + [0.1, -0.1, 0.1, -0.1]
    weak = select_weight_sets(table, 12)
    # no difference between the ffn and attention group-freeze runs: the paper's ffn, and a note
    assert weak["sets"]["S_II"] == "0-3:ffn"
    assert any(n.startswith("S_II: group-freeze ffn and attention do not differ") for n in weak["notes"])
    flipped = paper_effects(ffn_gain=-2.0)
    strong = select_weight_sets(draw(effects=flipped), 12)
    assert strong["sets"]["S_II"] == "0-3:attention"
    row = next(r for r in strong["evidence"]["components"] if r["for"] == "S_II")
    assert row["experiment"] == "group-freeze: ffn − attention" and row["mean_diff"] < 0 and row["p"] < 0.05


def test_components_say_when_they_ran_on_a_preset_set():
    effects = {**paper_effects(), "reinit-L9": 0.0}
    selection = select_weight_sets(draw(effects=effects), 12)
    assert selection["sets"]["V_I"] == "9-11" and selection["sets"]["V_II"] == "9-11:attention"
    assert any(n == "V_II: the lr-x10 experiments ran on layers 10-11 (top2), not on V_II's layers 9-11"
               for n in selection["notes"])


def test_small_seeded_simulation_of_the_error_rate_and_power():
    """A small version of benchmarks/selection_power.py (the full table is in benchmarks/README.md)."""
    rng = np.random.default_rng(20)
    null = SimulatedSweep(seeds=3, diverged=(("lr-x10-top2", 1, -20.0),))
    false_positive = sum(bool(select_weight_sets(simulate_sweep_results(null, rng), 12)["sets"]["S_I"])
                         for _ in range(60))
    assert false_positive <= 9  # FWER 0.05 -> 3 expected in 60; 9 has probability < 0.002
    drop = SimulatedSweep(seeds=3, effects={f"reinit-L{layer}": -3.0 for layer in range(4)},
                          diverged=(("lr-x10-top2", 1, -20.0),))
    found = {"paired": 0, "delta": 0}
    for _ in range(30):
        table = simulate_sweep_results(drop, rng)
        for rule in found:
            s1 = select_weight_sets(table, 12, SelectionOptions(rule=rule))["sets"]["S_I"] or ""
            found[rule] += s1.startswith("0-3")
    assert found["paired"] >= 24 and found["delta"] <= 6  # the diverged run hides every drop from δ


def test_bad_tables_are_refused():
    table = draw(seeds=2)
    with pytest.raises(Exception, match="two rows for reinit-L0 seed 1"):
        select_weight_sets(pd.concat([table, table[table["label"] == "reinit-L0"].head(1)]), 12)
    with pytest.raises(Exception, match="no 'seed' column"):
        select_weight_sets(table.drop(columns=["seed"]), 12)
    with pytest.raises(Exception, match="baseline"):
        select_weight_sets(table[table["experiment"] != "baseline"], 12)


def test_components_come_from_runs_on_the_selected_sets_when_the_sweep_has_them():
    # S_II = 0-2; the sweep has group-freeze runs on bottom4 (attention better) and on 0-2 (ffn better)
    effects = {**paper_effects(), "freeze-L3": 0.0, "group-freeze-bottom4-ffn": -2.0}
    table = draw(effects=effects)
    extra = table[table["experiment"] == "group-freeze"].copy()
    extra["unit"] = "0-2"
    extra["label"] = extra["label"].str.replace("bottom4", "0-2")
    extra.loc[extra["component"] == "ffn", "final_overall"] += 4.0
    selection = select_weight_sets(pd.concat([table, extra]), 12)
    assert selection["sets"]["S_II"] == "0-2:ffn"
    assert not any(n.startswith("S_II: the group-freeze experiments ran on") for n in selection["notes"])
    assert select_weight_sets(table, 12)["sets"]["S_II"] == "0-2:attention"  # the bottom4 runs alone
