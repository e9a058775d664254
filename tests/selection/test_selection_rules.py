"""The delta (margin) rule, ``rule="delta"``, on hand-made sweep results and CKA runs whose right answer is known
by hand: the former default, kept unchanged (the paired rule is tested in ``test_paired.py``)."""

import json
import math

import pandas as pd
import pytest

from xlingual_probe.runs import RESULT_COLUMNS
from xlingual_probe.selection import (
    SelectionOptions,
    policy_iv_from_cka,
    pooled_sigma,
    select_from_sweep,
    select_weight_sets,
)
from xlingual_probe.utils import UserError

DELTA = SelectionOptions(rule="delta")
SPREAD = (-0.2, 0.0, 0.2)  # three seeds around each mean: sample std 0.2 everywhere


def rows(experiment, label, unit, component, mean, spread=SPREAD):
    return [{"experiment": experiment, "label": label, "unit": unit, "component": component, "seed": seed,
             "run": f"runs/{label}-seed{seed}", "final_overall": mean + offset, "best_overall": mean + offset + 1}
            for seed, offset in enumerate(spread, start=1)]


def paper_like(reinit=None, freeze=None, group=None, lr=None, spread=SPREAD, layers=12):
    """Baseline 70 ± 0.2; reinit of 0-9 drops 3, of 10-11 drops 0.1; freezing 0-3 raises 1."""
    reinit = reinit or {layer: (-3.0 if layer < 10 else -0.1) for layer in range(layers)}
    freeze = freeze or {layer: (1.0 if layer < 4 else 0.0) for layer in range(layers)}
    group = group if group is not None else {"all": 0.5, "attention": 0.2, "ffn": 0.8}
    lr = lr if lr is not None else {"all": 0.1, "attention": 0.6, "ffn": -0.3}
    out = rows("baseline", "baseline", "", "", 70.0, spread)
    for layer, d in reinit.items():
        out += rows("reinit", f"reinit-L{layer}", str(layer), "all", 70.0 + d, spread)
    for layer, d in freeze.items():
        out += rows("freeze", f"freeze-L{layer}", str(layer), "all", 70.0 + d, spread)
    for component, d in group.items():
        out += rows("group-freeze", f"group-freeze-bottom4-{component}", "bottom4", component, 70.0 + d, spread)
    for component, d in lr.items():
        out += rows("lr-x10", f"lr-x10-top2-{component}", "top2", component, 70.0 + d, spread)
    return pd.DataFrame(out).reindex(columns=RESULT_COLUMNS)


def write_sweep(tmp_path, frame):
    sweep = tmp_path / "sweep"
    sweep.mkdir(parents=True)
    frame.to_csv(sweep / "results.csv", index=False)
    return sweep


def write_cka_run(folder, cka_of_step, steps=400, every=50, layers=12, loss=1.0):
    folder.mkdir(parents=True)
    (folder / "steps.jsonl").write_text("".join(json.dumps({"step": t, "loss": loss}) + "\n"
                                                for t in range(1, steps + 1)))
    lines = [json.dumps({"step": s, "layer": layer, "cka": cka_of_step(s, layer) if layer >= 10 else 0.99})
             for s in range(every, steps + 1, every) for layer in range(layers)]
    (folder / "cka.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_paper_like_sweep_gives_the_paper_sets(tmp_path):
    selection = select_from_sweep(write_sweep(tmp_path, paper_like()), num_layers=12, options=DELTA)
    assert selection["sets"] == {"S_I": "0-9", "S_II": "0-3:ffn", "V_I": "10-11", "V_II": "10-11:attention"}
    assert selection["components"] == {"S_II": "ffn", "V_II": "attention"}
    assert selection["margins"]["sigma"] == pytest.approx(0.2)
    assert selection["margins"]["delta"] == pytest.approx(0.5)  # max(2 * 0.2, 0.5)
    assert selection["margins"]["baseline"] == pytest.approx(70.0)
    assert selection["policy_iv"] is True
    assert any("no CKA evidence; paper default" in n for n in selection["notes"])
    s1 = {row["experiment"]: row for row in selection["evidence"]["S_I"]}
    assert s1["reinit-L3"]["delta"] == pytest.approx(-3.0) and s1["reinit-L3"]["n"] == 3
    assert s1["reinit-L3"]["value"] == "67.00 ± 0.20" and s1["reinit-L3"]["decision"].startswith("in S_I")
    assert s1["reinit-L11"]["decision"].startswith("not in S_I")
    # "all" scored below attention for lr-x10: no note about it; group-freeze set == S_II: no note either
    assert not any("ran on layers" in n for n in selection["notes"])
    written = json.loads((tmp_path / "sweep/selection.json").read_text())
    assert written["sets"] == selection["sets"] and written["schema_version"] == 1 and written["source"] == "auto"
    md = (tmp_path / "sweep/selection.md").read_text()
    assert "| S_II | 0-3:ffn |" in md and "67.00 ± 0.20" in md and "Policy IV: **on**" in md


def test_best_metric_and_wider_margin_are_options(tmp_path):
    frame = paper_like(freeze={layer: (0.9 if layer < 4 else 0.0) for layer in range(12)})
    # 2.5σ... δ = max(5 * 0.2, 0.5) = 1.0: freezing's +0.9 no longer counts, reinit's -3 still does
    selection = select_weight_sets(frame, 12, SelectionOptions(rule="delta", margin_sigmas=5, metric="best"))
    assert selection["margins"]["delta"] == pytest.approx(1.0) and selection["margins"]["metric"] == "best"
    assert selection["sets"]["S_I"] == "0-9" and selection["sets"]["S_II"] is None
    assert any("S_II is empty" in n for n in selection["notes"])


def test_component_choices_follow_the_group_experiments():
    frame = paper_like(group={"all": 0.5, "attention": 0.9, "ffn": 0.1}, lr={"all": 1.5, "attention": 0.2, "ffn": 0.7})
    selection = select_weight_sets(frame, 12, DELTA)
    assert selection["sets"]["S_II"] == "0-3:attention" and selection["sets"]["V_II"] == "10-11:ffn"
    assert any("whole-layer lr-x10 run scored highest" in n for n in selection["notes"])
    components = {(r["for"], r["experiment"]): r["decision"] for r in selection["evidence"]["components"]}
    assert components[("V_II", "lr-x10-top2-ffn")] == "chosen for V_II"


def test_one_seed_uses_the_min_margin_and_says_so():
    selection = select_weight_sets(paper_like(spread=(0.0,)), 12, DELTA)
    assert selection["margins"]["sigma"] is None and selection["margins"]["delta"] == 0.5
    assert selection["sets"]["S_I"] == "0-9"
    assert any("one seed" in n and "σ is undefined" in n for n in selection["notes"])


def test_empty_s1_and_v1_reaching_down():
    frame = paper_like(reinit={layer: -0.2 for layer in range(12)})
    selection = select_weight_sets(frame, 12, DELTA)
    assert selection["sets"]["S_I"] is None and selection["sets"]["S_II"] is None
    assert selection["sets"]["V_I"] == "0-11"
    notes = " ".join(selection["notes"])
    assert "S_I is empty" in notes and "V_I holds every layer" in notes
    assert "contradictory evidence: freezing layer(s) 0-3" in notes


def test_v1_is_only_the_contiguous_top_block():
    # layer 5 and layer 9 don't hurt either, but layer 8 does: V_I = 9-11 only
    reinit = {layer: -3.0 for layer in range(12)}
    reinit.update({5: 0.1, 9: -0.2, 10: -0.1, 11: 0.3})
    selection = select_weight_sets(paper_like(reinit=reinit), 12, DELTA)
    assert selection["sets"]["V_I"] == "9-11"
    assert selection["sets"]["S_I"] == "0-4,6-8"
    assert selection["sets"]["V_II"] == "9-11:attention"
    assert any("layer(s) 5:" in n and "not in the contiguous top block" in n for n in selection["notes"])
    # lr-x10 ran on top2, not on V_I's 9-11
    assert any("V_II: the lr-x10 experiments ran on layers 10-11" in n for n in selection["notes"])


def test_top_layer_hurts_gives_empty_v1():
    reinit = {layer: -3.0 for layer in range(12)}
    selection = select_weight_sets(paper_like(reinit=reinit), 12, DELTA)
    assert selection["sets"]["V_I"] is None and selection["sets"]["V_II"] is None
    assert selection["sets"]["S_I"] == "0-11"
    assert any("V_I is empty" in n for n in selection["notes"])


def test_missing_experiments_fall_back_to_the_paper_and_say_so():
    frame = paper_like(group={}, lr={})
    frame = frame[~((frame["experiment"] == "reinit") & (frame["unit"] == "4"))]
    selection = select_weight_sets(frame, 12, DELTA)
    assert selection["sets"]["S_II"] == "0-3:ffn" and selection["sets"]["V_II"] == "10-11:attention"
    notes = " ".join(selection["notes"])
    assert "no reinit run for layer(s) 4" in notes
    assert "no group-freeze attention/ffn runs" in notes and "no lr-x10 attention/ffn runs" in notes
    assert selection["sets"]["S_I"] == "0-3,5-9"


def test_no_baseline_is_an_error():
    frame = paper_like()
    with pytest.raises(UserError, match="baseline"):
        select_weight_sets(frame[frame["experiment"] != "baseline"], 12, DELTA)


def test_pooled_sigma_definition():
    frame = paper_like(spread=(-0.2, 0.0, 0.2))
    extra = pd.DataFrame(rows("reinit", "reinit-L0", "0", "all", 67.0, spread=(-0.6, 0.6)))
    from xlingual_probe.selection import experiment_stats
    stats = experiment_stats(pd.concat([frame[frame["label"] != "reinit-L0"], extra]).reindex(columns=RESULT_COLUMNS),
                             "final")
    n = len(stats)  # one experiment has variance 0.72, the others 0.04
    assert pooled_sigma(stats) == pytest.approx(math.sqrt(((n - 1) * 0.04 + 0.72) / n))


@pytest.mark.parametrize("shape, on", [
    (lambda s, layer: 0.9 - 0.0005 * s + (0.001 if (s // 50) % 2 else -0.001), True),   # falls
    (lambda s, layer: 0.8 + (0.01 if (s // 50) % 2 else -0.01), False),                # flat, noisy
    (lambda s, layer: 0.5 + 0.0005 * s, False),                                          # rises
])
def test_policy_iv_from_the_cka_trend_in_phase_2(tmp_path, shape, on):
    # a constant loss: phase 1 for t < 2w = 200, phase 2 from 200 on -> probe steps 200, 250, ..., 400
    write_cka_run(tmp_path / "cka/seed-1", shape)
    write_cka_run(tmp_path / "cka/seed-2", shape)
    result = policy_iv_from_cka([tmp_path / "cka"], [10, 11], DELTA)
    assert result["on"] is on
    assert sorted({p["step"] for p in result["points"]}) == [200, 250, 300, 350, 400]
    assert len(result["points"]) == 10 and len(result["runs"]) == 2
    if on:
        assert result["slope"] == pytest.approx(-0.0005, rel=0.05) and result["p"] < 0.05


def test_cka_evidence_switches_policy_iv_in_the_selection(tmp_path):
    sweep = write_sweep(tmp_path, paper_like())
    flat = write_cka_run(tmp_path / "flat", lambda s, layer: 0.8 + (0.01 if (s // 50) % 2 else -0.01))
    selection = select_from_sweep(sweep, [flat], out_dir=tmp_path / "out", num_layers=12, options=DELTA)
    assert selection["policy_iv"] is False
    assert selection["evidence"]["policy_iv"]["decision"] == "off"
    assert "Policy IV: **off**" in (tmp_path / "out/selection.md").read_text()


def test_short_cka_run_uses_the_second_half_of_the_probe_steps(tmp_path):
    run = write_cka_run(tmp_path / "short", lambda s, layer: 1.0 - 0.001 * s, steps=100, every=10)
    result = policy_iv_from_cka([run], [10, 11], DELTA)
    assert sorted({p["step"] for p in result["points"]}) == [60, 70, 80, 90, 100]
    assert result["on"] is True
    assert any("shorter than 2·window" in n for n in result["notes"])


def test_inferred_layer_count_is_noted(tmp_path):
    selection = select_from_sweep(write_sweep(tmp_path, paper_like()), options=DELTA)
    assert selection["num_layers"] == 12
    assert "inferred" in selection["notes"][0]
