"""Run identity: a changed data file or numerics version is never reused — in the loop, a sweep, a comparison."""

import shutil

import pytest

from tests.tiny import tiny_config
from xlingual_probe.experiments.compare import CompareConfig, compare_methods
from xlingual_probe.experiments.sweep import SweepConfig, plan_sweep, run_sweep
from xlingual_probe.runs import NUMERICS_VERSION
from xlingual_probe.training import train
from xlingual_probe.training.data import data_fingerprint
from xlingual_probe.training.identity import (
    identity_differences,
    identity_key,
    keyed_run_dir,
    recorded_identity,
    run_identity,
)
from xlingual_probe.utils import UserError, read_json

FAST = {"max_steps": 2, "eval_every": 2, "train_size": 32, "eval_size": 8, "batch_size": 8}


@pytest.fixture
def data(tiny_data, tmp_path):
    """A private copy of the fixture data (tests here change files)."""
    return shutil.copytree(tiny_data, tmp_path / "data")


def change_dev_file(data):
    """Edit every row's hypothesis (an appended row would not do: id-based subsamples keep their rows)."""
    path = data / "xnli" / "dev-de.tsv"
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
    path.write_text("".join(f"{p}\t{h} .\t{label}\n" for p, h, label in rows), encoding="utf-8")


def test_identity_ignores_out_and_sees_seed_data_and_numerics(data, tmp_path, monkeypatch):
    config = tiny_config("m", data, tmp_path / "a", **FAST)
    base = run_identity(config)
    assert identity_key(run_identity(config.replace(out="elsewhere"))) == identity_key(base)
    assert identity_key(run_identity(config.replace(seed=2))) != identity_key(base)
    # the same bytes in another folder are the same data
    moved = shutil.copytree(data, tmp_path / "moved")
    assert run_identity(config)["data"] == run_identity(config.replace(data_dir=str(moved)))["data"]
    change_dev_file(data)
    changed = run_identity(config)
    assert identity_key(changed) != identity_key(base)
    reasons = identity_differences(base, changed)
    assert any(r.startswith("data: eval data dev-de.tsv changed (sha256") for r in reasons), reasons
    assert "data: the de evaluation examples differ" in reasons
    monkeypatch.setattr("xlingual_probe.training.identity.NUMERICS_VERSION", NUMERICS_VERSION + 1)
    assert identity_differences(changed, run_identity(config)) == [
        f"numerics_version ({NUMERICS_VERSION} there, {NUMERICS_VERSION + 1} in this code)"]


def test_an_unset_thread_count_leaves_the_key_of_runs_made_before_the_field(data, tmp_path):
    config = tiny_config("m", data, tmp_path / "a", **FAST)
    identity = run_identity(config)
    info = {"config": {k: v for k, v in config.to_dict().items() if k != "threads"},  # a config.json from before
            "numerics_version": NUMERICS_VERSION, "data_fingerprint": data_fingerprint(config)}
    assert identity_key(recorded_identity(info)) == identity_key(identity)
    pinned = run_identity(config.replace(threads=1))
    assert identity_key(pinned) != identity_key(identity)
    assert identity_differences(recorded_identity(info), pinned) == ["config threads (None there, 1 now)"]


def test_config_json_records_the_identity(tiny_model, data, tmp_path):
    config = tiny_config(tiny_model, data, tmp_path / "run", **FAST)
    train(config, show_progress=False)
    info = read_json(tmp_path / "run" / "config.json")
    assert info["numerics_version"] == NUMERICS_VERSION
    assert info["identity_key"] == identity_key(run_identity(config))
    assert recorded_identity(info) == run_identity(config)


def test_the_loop_never_reuses_a_run_after_a_data_change(tiny_model, data, tmp_path):
    config = tiny_config(tiny_model, data, tmp_path / "run", **FAST)
    train(config, show_progress=False)
    train(config, resume=True, show_progress=False)  # same identity: reused
    change_dev_file(data)
    with pytest.raises(UserError, match=r"run identity differs: .*dev-de\.tsv changed"):
        train(config, resume=True, show_progress=False)


def test_a_sweep_reruns_changed_runs_under_a_new_key_and_says_why(tiny_model, data, tmp_path, capsys):
    train_values = {k: v for k, v in tiny_config(tiny_model, data, "x", **FAST).to_dict().items()
                    if k not in ("out", "seed")}
    sweep = SweepConfig(train=train_values, out=str(tmp_path / "sweep"), seeds=[1], experiments=["reinit"],
                        layers="0")
    first = run_sweep(sweep, show_progress=False)
    before = {job.label: job.run_dir for job in plan_sweep(sweep, 2)}
    assert sorted(first["run"]) == sorted(str(p.relative_to(sweep.out)) for p in before.values())
    capsys.readouterr()
    change_dev_file(data)
    after = {job.label: job for job in plan_sweep(sweep, 2)}
    assert all(after[label].run_dir != before[label] for label in before)
    assert all(after[label].stale and "dev-de.tsv changed" in after[label].stale for label in before)
    second = run_sweep(sweep, show_progress=False)
    printed = capsys.readouterr()
    assert "baseline seed 1: runs anew, not reusing baseline-seed1-" in printed.out + printed.err
    assert sorted(second["run"]) == sorted(str(after[label].run_dir.relative_to(sweep.out)) for label in after)
    assert all(path.is_dir() for path in before.values())  # the old runs are kept, not overwritten


def test_a_comparison_rekeys_changed_runs(tiny_model, data, tmp_path):
    train_values = {k: v for k, v in tiny_config(tiny_model, data, "x", **FAST).to_dict().items()
                    if k not in ("out", "seed")}
    config = CompareConfig(train=train_values, out=str(tmp_path / "cmp"), seeds=[1], methods=["direct"])
    lines = []
    compare_methods(config, log=lines.append)
    plain = tmp_path / "cmp" / "direct" / "seed-1"
    assert (plain / "summary.json").is_file()
    compare_methods(config, log=lines.append)
    assert not any("runs anew" in line for line in lines)  # unchanged: reused
    change_dev_file(data)
    compare_methods(config, log=lines.append)
    identity = run_identity(tiny_config(tiny_model, data, "x", **FAST))
    rekeyed = plain.with_name(f"seed-1-{identity_key(identity)}")
    assert (rekeyed / "summary.json").is_file()
    assert any(f"direct seed 1: runs anew in {rekeyed}" in line and "dev-de.tsv changed" in line for line in lines)
    assert read_json(tmp_path / "cmp" / "compare.json")["runs"] == {"direct": [str(rekeyed)]}


def test_keyed_run_dir_keeps_a_free_or_matching_folder(data, tmp_path):
    identity = run_identity(tiny_config("m", data, "x", **FAST))
    assert keyed_run_dir(tmp_path / "seed-1", identity) == (tmp_path / "seed-1", [])
