"""Selection from alignment on crafted alignment.jsonl files: known sets, the test across seeds, the file."""

import json

import pytest
from typer.testing import CliRunner

from tests.alignment_runs import write_alignment_run
from xlingual_probe.selection import (
    AlignmentSelectionOptions,
    read_selection,
    select_from_alignment,
)
from xlingual_probe.utils import UserError

# layers 0-5; alignment before fine-tuning falls with depth, median = 55
BEFORE = [80.0, 70.0, 60.0, 50.0, 20.0, 10.0]


def make_runs(tmp_path, lost_by_seed, mid_share=None, seeds=(1, 2, 3), cka=None):
    """Runs probed at 0, 10, 20 with flat losses (window 5: updates 10-20 in phase 2).

    ``lost_by_seed[seed][layer]``: alignment lost by update 20; ``mid_share[layer]``: the share of it
    already lost at update 10 (default 0.5).
    """
    runs = []
    for seed in seeds:
        def retrieval(step, layer, lang, seed=seed):
            lost = lost_by_seed[seed][layer]
            done = {0: 0.0, 10: (mid_share or {}).get(layer, 0.5), 20: 1.0}[step]
            return BEFORE[layer] - lost * done
        runs.append(write_alignment_run(tmp_path / f"seed-{seed}", retrieval=retrieval, steps=[0, 10, 20],
                                        num_layers=6, losses=[1.0] * 20, seed=seed, cka=cka))
    return runs


OPTIONS = AlignmentSelectionOptions(window=5)


def test_sets_from_crafted_runs(tmp_path):
    # layers 0 and 1 lose ~10 points on every seed; layer 2 (above the median too) gains or loses noise
    lost = {1: [10.0, 9.0, 0.5, 1.0, 0.0, 0.0], 2: [10.5, 9.5, -0.5, 1.0, 0.0, 0.0], 3: [9.8, 9.2, 0.2, 1.0, 0.0, 0.0]}
    # layer 0 loses 80 % of it after update 10 (phase 2), layer 1 only 20 %
    runs = make_runs(tmp_path, lost, mid_share={0: 0.2, 1: 0.8})
    selection = select_from_alignment(runs, OPTIONS, out_dir=tmp_path / "sel")
    assert selection["sets"] == {"S_I": "0-1", "S_II": "0:ffn", "V_I": "3-5", "V_II": "3-5:attention"}
    assert selection["source"] == "alignment" and selection["num_layers"] == 6
    assert selection["options"]["median"] == pytest.approx(55.0)
    assert selection["options"]["tested_layers"] == "0-2"
    rows = {row["layer"]: row for row in selection["evidence"]["alignment"]}
    assert rows[0]["lost"] == pytest.approx(10.1) and rows[0]["seeds"] == 3
    # update 10 itself is in phase 2: a tenth of the first interval's loss counts there too
    assert rows[0]["share_phase2"] == pytest.approx(0.8 + 0.2 * 0.1)
    assert rows[1]["share_phase2"] == pytest.approx(0.2 + 0.8 * 0.1)
    assert rows[2]["p_holm"] > 0.05 and "not in S_I" in rows[2]["decision"]
    assert rows[3]["p"] is None and "in V_I" in rows[3]["decision"]  # below the median: not tested
    assert selection["policy_iv"] is True and "no cka.jsonl" in " ".join(selection["notes"])
    assert any("target-language text" in note for note in selection["notes"])
    # the file is the selection contract: slow-and-fast reads it back
    again = read_selection(tmp_path / "sel" / "selection.json", 6)
    assert again["sets"] == selection["sets"] and again["source"] == "alignment"
    text = (tmp_path / "sel" / "selection.md").read_text()
    assert "## Alignment per layer" in text and "| layer | before |" in text


def test_a_loss_not_shown_across_seeds_is_not_selected(tmp_path):
    # layer 0 loses on two seeds and gains on the third: the mean is positive but not shown
    lost = {1: [10.0, 9.0, 9.0, 0.0, 0.0, 0.0], 2: [10.0, 9.5, 9.5, 0.0, 0.0, 0.0], 3: [-8.0, 9.2, 9.2, 0.0, 0.0, 0.0]}
    selection = select_from_alignment(make_runs(tmp_path, lost), OPTIONS)
    assert selection["sets"]["S_I"] == "1-2"


def test_one_seed_is_flagged_untested(tmp_path):
    lost = {1: [10.0, 0.0, -1.0, 0.0, 0.0, 0.0]}
    selection = select_from_alignment(make_runs(tmp_path, lost, seeds=(1,)), OPTIONS)
    assert selection["sets"]["S_I"] == "0"
    assert any("one seed" in note for note in selection["notes"])


def test_policy_iv_from_the_runs_cka(tmp_path):
    # the CKA of the V_I layers keeps falling: policy IV on (the existing CKA rule decides)
    lost = {s: [10.0, 10.0, 0.0, 0.0, 0.0, 0.0] for s in (1, 2)}
    runs = make_runs(tmp_path, lost, seeds=(1, 2), cka=lambda step, layer: 1.0 - 0.01 * step * (layer > 2))
    selection = select_from_alignment(runs, OPTIONS)
    assert selection["evidence"]["policy_iv"]["layers"] == "3-5"
    assert "decision" in selection["evidence"]["policy_iv"]


def test_runs_of_different_models_are_refused(tmp_path):
    lost = {1: [1.0] * 6}
    run = make_runs(tmp_path, lost, seeds=(1,))[0]
    other = write_alignment_run(tmp_path / "other", retrieval=lambda s, layer, lang: 50.0, steps=[0, 20],
                                num_layers=4, losses=[1.0] * 20)
    with pytest.raises(UserError, match="different layer counts"):
        select_from_alignment([run, other], OPTIONS)


def test_select_command_from_alignment(tmp_path):
    from xlingual_probe.cli import app

    lost = {s: [10.0 + s, 9.0 + s, 0.0, 0.0, 0.0, 0.0] for s in (1, 2, 3)}
    runs = make_runs(tmp_path, lost)
    result = CliRunner().invoke(app, ["select", "--from", "alignment", *map(str, runs), "--window", "5",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "S_I   0-1" in result.output and "wrote" in result.output
    assert json.loads((tmp_path / "out" / "selection.json").read_text())["sets"]["S_I"] == "0-1"
    bad = CliRunner().invoke(app, ["select", "--from", "nowhere", str(runs[0])])
    assert bad.exit_code != 0
