"""Selection from a sweep directory whose runs are not all results: incomplete runs refused, diverged ones noted."""

from __future__ import annotations

import pytest

from tests.selection.test_selection_rules import paper_like
from xlingual_probe.selection import SelectionOptions, select_from_sweep
from xlingual_probe.utils import UserError
from xlingual_probe.utils.io import atomic_write_json

# paper_like's differences to DF are equal on every seed (no spread), which only the delta rule can decide on
DELTA = SelectionOptions(rule="delta")


def write_sweep_dir(root, frame, incomplete=(), diverged=()):
    """A sweep directory of hand-written run directories (one per row of ``frame``)."""
    jobs = []
    for row in frame.to_dict("records"):
        run = root / row["run"]
        run.mkdir(parents=True)
        atomic_write_json(run / "config.json", {"config": {"seed": row["seed"]}})
        jobs.append({k: row[k] for k in ("experiment", "label", "unit", "component", "seed", "run")})
        if row["run"] in incomplete:
            continue
        if row["run"] in diverged:
            summary = {"status": "diverged", "diverged_at": 5, "best": None, "final": None}
        else:
            summary = {"status": "finished", "best": {"step": 10, "overall": row["best_overall"]},
                       "final": {"step": 10, "overall": row["final_overall"]}}
        atomic_write_json(run / "summary.json", summary)
    atomic_write_json(root / "sweep.json", {"schema_version": 1, "options": {}, "train": {}, "num_layers": 12,
                                            "jobs": jobs})
    return root


def test_a_sweep_with_unfinished_runs_is_refused_unless_allowed(tmp_path):
    sweep = write_sweep_dir(tmp_path / "sweep", paper_like(), incomplete={"runs/freeze-L2-seed1"})
    with pytest.raises(UserError, match=r"cannot select .*an incomplete run .*freeze-L2-seed1.*--allow-incomplete"):
        select_from_sweep(sweep, options=DELTA)
    selection = select_from_sweep(sweep, options=DELTA, allow_incomplete=True)
    assert any("left out an incomplete run" in note for note in selection["notes"])
    assert selection["sets"]["S_I"] == "0-9"


def test_diverged_runs_are_left_out_of_the_statistics_with_a_note(tmp_path):
    sweep = write_sweep_dir(tmp_path / "sweep", paper_like(), diverged={"runs/reinit-L3-seed2"})
    selection = select_from_sweep(sweep, options=DELTA)
    assert any("diverged" in note and "reinit-L3 seed 2" in note for note in selection["notes"])
    assert selection["sets"]["S_I"] == "0-9"


def test_paired_rule_says_when_differences_have_no_spread(tmp_path):
    selection = select_from_sweep(write_sweep_dir(tmp_path / "sweep", paper_like()))
    assert selection["sets"]["S_I"] is None and any(note.startswith("no spread") for note in selection["notes"])
