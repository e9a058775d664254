"""Forgetting measured from crafted alignment runs: signs, phase apportioning, correlations across languages."""

import math

import pytest

from tests.alignment_runs import write_alignment_run, write_reinit_sweep
from xlingual_probe.forgetting import (
    alignment_frame,
    alignment_lost,
    alignment_vs_reinit,
    layer_losses,
    phase_losses,
    reinit_drops,
    score_correlations,
    summarise_over_runs,
)
from xlingual_probe.runs import summarise_sweep
from xlingual_probe.utils import UserError

TARGETS = ("de", "sw", "ja")
LOSS_AT_END = {"de": 10.0, "sw": 20.0, "ja": 30.0}


def curve(step, layer, lang):
    """Layer 0 loses alignment (by language: de least, ja most), 10 % of it by update 10; layer 1 keeps it."""
    if layer == 1:
        return 60.0
    return 80.0 - LOSS_AT_END[lang] * {0: 0.0, 10: 1 / 3, 20: 1.0}[step]


@pytest.fixture
def run(tmp_path):
    # flat losses: with window 5 the phase test puts updates 1-9 in phase 1, 10-20 in phase 2
    return write_alignment_run(tmp_path / "run", retrieval=curve, steps=[0, 10, 20], num_layers=2, targets=TARGETS,
                               losses=[1.0] * 20, scores={"en": 90.0, "de": 80.0, "sw": 70.0, "ja": 60.0})


def test_alignment_lost_is_before_minus_now(run):
    lost = alignment_lost(alignment_frame(run))
    assert set(lost["lang"]) == set(TARGETS)  # the source has no retrieval
    row = lost[(lost["step"] == 20) & (lost["layer"] == 0) & (lost["lang"] == "ja")].iloc[0]
    assert (row["before"], row["value"], row["lost"]) == (80.0, 50.0, 30.0)
    table = layer_losses(alignment_frame(run)).set_index("layer")
    assert table.loc[0, "lost"] == pytest.approx(20.0) and table.loc[1, "lost"] == 0.0  # mean over targets
    assert table.loc[0, "end_step"] == 20


def test_loss_is_shared_between_phases_by_updates(run):
    phases = phase_losses(alignment_frame(run), window=5).set_index("layer")
    # (0, 10]: 20/3 lost, 9 updates in phase 1 and 1 in phase 2; (10, 20]: 40/3 lost, all phase 2
    first = 20.0 / 3
    assert phases.loc[0, "lost_p1"] == pytest.approx(first * 0.9)
    assert phases.loc[0, "lost_p2"] == pytest.approx(first * 0.1 + 40.0 / 3)
    assert (phases.loc[0, "updates_p1"], phases.loc[0, "updates_p2"]) == (9, 11)
    assert phases.loc[0, "rate_p2"] == pytest.approx(100 * phases.loc[0, "lost_p2"] / 11)
    assert phases.loc[0, "share_p2"] == pytest.approx(phases.loc[0, "lost_p2"] / 20.0)
    assert math.isnan(phases.loc[1, "share_p2"])  # nothing lost


def test_spearman_across_languages_per_seed(run, tmp_path):
    rho = score_correlations(alignment_frame(run)).set_index("layer")
    # the language losing most alignment scores lowest; the gap is minus the score up to the source
    assert rho.loc[0, "rho_score"] == pytest.approx(-1.0) and rho.loc[0, "rho_gap"] == pytest.approx(1.0)
    assert rho.loc["mean", "rho_score"] == pytest.approx(-1.0) and rho.loc[0, "languages"] == 3
    assert math.isnan(rho.loc[1, "rho_score"])  # layer 1 loses nothing: no ranking
    # summarised across seeds, one value per seed
    other = write_alignment_run(tmp_path / "seed2", retrieval=curve, steps=[0, 10, 20], num_layers=2,
                                targets=TARGETS, losses=[1.0] * 20,
                                scores={"en": 90.0, "de": 60.0, "sw": 80.0, "ja": 70.0}, seed=2)
    both = score_correlations(alignment_frame([run, other]))
    table = summarise_over_runs(both[both["layer"] == 0], "layer", ["rho_score"]).iloc[0]
    assert table["seeds"] == 2 and table["rho_score"] == pytest.approx((-1.0 + 0.5) / 2)


def test_reinit_drop_and_rank_agreement(run, tmp_path):
    sweep = write_reinit_sweep(tmp_path / "sweep", {0: 5.0, 1: -1.0})
    drops = reinit_drops(sweep).set_index("layer")
    assert drops.loc[0, "drop"] == pytest.approx(5.0) and drops.loc[1, "seeds"] == 2
    table, rho, _ = alignment_vs_reinit(run, sweep)
    assert list(table["layer"]) == [0, 1] and math.isnan(rho)  # two layers: no rank correlation


def test_reinit_drop_is_paired_by_seed_and_reads_results_csv(tmp_path):
    # an interrupted sweep: DF has seeds 1 and 2, reinit(0) only seed 1; DF seed 2 scores far higher
    results = summarise_sweep(write_reinit_sweep(tmp_path / "sweep", {0: 5.0, 1: 2.0}))
    results = results[~((results["label"] == "reinit-L0") & (results["seed"] == 2))]
    results.loc[(results["experiment"] == "baseline") & (results["seed"] == 2), "final_overall"] = 90.0
    results.to_csv(tmp_path / "results.csv", index=False)
    drops = reinit_drops(tmp_path / "results.csv").set_index("layer")
    # seed 1 only: 80.1 - 75.1; the unpaired mean would be (80.1 + 90) / 2 - 75.1 = 9.95
    assert drops.loc[0, "drop"] == pytest.approx(5.0) and drops.loc[0, "seeds"] == 1
    assert drops.loc[1, "drop"] == pytest.approx(((80.1 - 78.1) + (90.0 - 77.9)) / 2) and drops.loc[1, "seeds"] == 2


def test_missing_records_are_user_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text('{"config": {}}')
    with pytest.raises(UserError, match="no complete run"):  # no summary.json: incomplete runs are not read
        alignment_frame(tmp_path / "empty")
    (tmp_path / "empty" / "summary.json").write_text('{"status": "finished"}')
    with pytest.raises(UserError, match="no alignment records"):
        alignment_frame(tmp_path / "empty")
    late = write_alignment_run(tmp_path / "late", retrieval=curve, steps=[10, 20], num_layers=1, targets=TARGETS)
    with pytest.raises(UserError, match="step 0"):
        alignment_lost(alignment_frame(late))
    with pytest.raises(UserError, match="unknown alignment measure"):
        alignment_lost(alignment_frame(late), "bleu")
