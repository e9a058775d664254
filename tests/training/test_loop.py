"""End-to-end fine-tuning on tiny offline models and fixture files in the real formats."""

import json

import pytest

from tests.tiny import kill_at, tiny_config
from xlingual_probe.runs import NUMERICS_VERSION, load_runs
from xlingual_probe.training import train
from xlingual_probe.utils.io import read_json, read_jsonl


@pytest.mark.parametrize("task", ["xnli", "panx", "mlqa"])
def test_run_directory_contract_and_loss_falls(tiny_model, tiny_data, tmp_path, task):
    config = tiny_config(tiny_model, tiny_data, tmp_path / "run", task=task, max_length=64 if task != "mlqa" else 96)
    summary = train(config, show_progress=False)
    run = tmp_path / "run"
    info = read_json(run / "config.json")
    assert info["config"]["task"] == task and info["seed"] == 1
    assert {"torch", "transformers", "python"} <= set(info["versions"])
    assert "commit" in info["git"]
    assert info["data"]["languages"] == ["en", "de", "es"]

    steps = read_jsonl(run / "steps.jsonl")
    assert [s["step"] for s in steps] == list(range(1, 41))
    assert all({"loss", "lr"} <= set(s) for s in steps)
    first, last = steps[:8], steps[-8:]
    assert sum(s["loss"] for s in last) < 0.8 * sum(s["loss"] for s in first)

    metrics = read_jsonl(run / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [20, 40]
    for m in metrics:
        for scores in (m, m["selection_half"]):  # reporting half at the top level, selection half nested
            assert set(scores["metrics"]) == {"en", "de", "es"}
            assert all(0 <= v <= 100 for v in scores["metrics"].values())
            targets = [scores["metrics"]["de"], scores["metrics"]["es"]]
            assert scores["source"] == scores["metrics"]["en"]
            assert scores["target_mean"] == pytest.approx(sum(targets) / 2)
            assert scores["overall"] == pytest.approx(sum(scores["metrics"].values()) / 3)
            assert scores["gap"] == pytest.approx(scores["source"] - scores["target_mean"])
        assert "test" not in m  # the fixture folder has no test files
    assert summary["final"]["step"] == 40
    # select_by=source: the English selection half chooses, ties to the later evaluation
    chosen = max(metrics, key=lambda m: (m["selection_half"]["source"], m["step"]))
    assert summary["best"] == chosen
    assert summary["select_by"] == "source" and summary["protocol"]["uses_target_data"] is False
    assert summary["protocol"]["test"] == {"languages": [], "scored": "no test split"}
    assert read_json(run / "summary.json")["method"] == "direct"
    split = read_json(run / "eval_split.json")
    assert {lang: {h: len(ids) for h, ids in halves.items()} for lang, halves in split["languages"].items()} \
        == info["data"]["eval_halves"]
    assert not (run / "few_shot.json").exists()
    assert not (run / "checkpoints" / "last").exists()  # a finished run keeps no resumable state


def test_same_seed_same_numbers_and_load_runs(tiny_model, tiny_data, tmp_path):
    a = train(tiny_config(tiny_model, tiny_data, tmp_path / "a" / "run", max_steps=20), show_progress=False)
    b = train(tiny_config(tiny_model, tiny_data, tmp_path / "b" / "run", max_steps=20), show_progress=False)
    assert a["final"]["metrics"] == b["final"]["metrics"]
    assert read_jsonl(tmp_path / "a/run/steps.jsonl") == read_jsonl(tmp_path / "b/run/steps.jsonl")
    runs = load_runs([tmp_path / "a", tmp_path / "b"])
    assert len(runs.configs) == 2 and len(runs.summaries) == 2
    assert set(runs.metrics["lang"]) == {"en", "de", "es"}
    assert len(runs.steps) == 40


def test_resume_after_kill_equals_uninterrupted(tiny_model, tiny_data, tmp_path):
    straight = train(tiny_config(tiny_model, tiny_data, tmp_path / "straight" / "run", max_steps=30, eval_every=10),
                     show_progress=False)
    config = tiny_config(tiny_model, tiny_data, tmp_path / "killed" / "run", max_steps=30, eval_every=10)
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[kill_at(15)], show_progress=False)
    run = tmp_path / "killed/run"
    assert (run / "checkpoints/last/trainer_state.json").is_file()
    assert not (run / "summary.json").exists()
    resumed = train(config, resume=True, show_progress=False)
    assert resumed["final"]["metrics"] == straight["final"]["metrics"]
    assert read_jsonl(run / "steps.jsonl") == read_jsonl(tmp_path / "straight/run/steps.jsonl")
    strip = lambda rs: [{k: v for k, v in r.items() if k != "eval_seconds"} for r in rs]
    assert strip(read_jsonl(run / "metrics.jsonl")) == strip(read_jsonl(tmp_path / "straight/run/metrics.jsonl"))
    # a finished run is reused, not repeated
    again = train(config, resume=True, show_progress=False)
    assert json.dumps(again, sort_keys=True) == json.dumps(read_json(run / "summary.json"), sort_keys=True)


def test_existing_output_needs_resume_or_overwrite(tiny_model, tiny_data, tmp_path):
    from xlingual_probe.utils import UserError

    config = tiny_config(tiny_model, tiny_data, tmp_path / "run", max_steps=2, eval_every=2)
    train(config, show_progress=False)
    with pytest.raises(UserError, match="--resume"):
        train(config, show_progress=False)
    train(config, overwrite=True, show_progress=False)


def test_freeze_and_lr_scale_units(tiny_model, tiny_data, tmp_path):
    import csv

    config = tiny_config(tiny_model, tiny_data, tmp_path / "run", max_steps=4, eval_every=4, freeze=["0:ffn"],
                         lr_scale={"top1:attention": 10.0})
    train(config, show_progress=False)
    rows = list(csv.DictReader((tmp_path / "run/param_groups.csv").read_text().splitlines()))
    groups = {r["parameter"]: r["group"] for r in rows}
    assert not any(".layer.0.intermediate" in p or ".layer.0.output.dense" in p for p in groups)
    assert groups["bert.encoder.layer.1.attention.self.query.weight"] == "top1:attention"
    step = read_jsonl(tmp_path / "run/steps.jsonl")[2]
    assert step["group_lr"]["top1:attention"] == pytest.approx(10 * step["group_lr"]["rest"])


def test_resume_refuses_a_different_config(tiny_model, tiny_data, tmp_path):
    from xlingual_probe.utils import UserError

    train(tiny_config(tiny_model, tiny_data, tmp_path / "run", max_steps=2, eval_every=2), show_progress=False)
    with pytest.raises(UserError, match="lr"):
        train(tiny_config(tiny_model, tiny_data, tmp_path / "run", max_steps=2, eval_every=2, lr=1e-3),
              resume=True, show_progress=False)


def test_a_run_made_under_another_numerics_version_is_not_reused(tiny_model, tiny_data, tmp_path, monkeypatch):
    from xlingual_probe.utils import UserError

    config = tiny_config(tiny_model, tiny_data, tmp_path / "run", max_steps=2, eval_every=2)
    train(config, show_progress=False)
    assert read_json(tmp_path / "run/config.json")["numerics_version"] == NUMERICS_VERSION
    for module in ("identity", "loop"):  # the key and the config.json the run writes
        monkeypatch.setattr(f"xlingual_probe.training.{module}.NUMERICS_VERSION", NUMERICS_VERSION + 1)
    with pytest.raises(UserError, match="numerics_version"):
        train(config, resume=True, show_progress=False)


def test_building_the_synthetic_world_does_not_shift_the_run_s_random_numbers(tmp_path, monkeypatch):
    """The first run of a world pre-trains it (drawing random numbers); its numbers equal a cached run's."""
    from xlingual_probe.training import TrainConfig

    monkeypatch.setenv("XPROBE_CACHE", str(tmp_path / "cache"))
    values = {"model": "synthetic:tiny", "task": "synthetic-nli", "max_steps": 3, "eval_every": 3, "batch_size": 8,
              "lr": 1e-3, "train_size": 40, "eval_size": 8, "save_best": False, "langs": ["n1"]}
    cold = train(TrainConfig(out=str(tmp_path / "cold"), **values), show_progress=False)  # builds the world
    warm = train(TrainConfig(out=str(tmp_path / "warm"), **values), show_progress=False)  # finds it cached
    assert read_jsonl(tmp_path / "cold/steps.jsonl") == read_jsonl(tmp_path / "warm/steps.jsonl")
    assert cold["final"]["metrics"] == warm["final"]["metrics"]


def test_test_split_is_scored_and_few_shot_ids_are_written(tiny_model, tmp_path):
    from tests.tiny import write_grouped_xnli

    data = write_grouped_xnli(tmp_path / "data", n_dev=12, n_test=4)  # test-{lang}.tsv in data/xnli_test
    config = tiny_config(tiny_model, data, tmp_path / "run", max_steps=4, eval_every=2, few_shot=2, max_length=32)
    summary = train(config, show_progress=False)
    run = tmp_path / "run"
    metrics = read_jsonl(run / "metrics.jsonl")
    assert "test" in metrics[-1] and set(metrics[-1]["test"]["metrics"]) == {"en", "de", "es"}
    chosen = next(m for m in metrics if m["step"] == summary["best"]["step"])
    assert summary["best"]["test"] == chosen["test"] and summary["final"]["test"] == metrics[-1]["test"]
    info = read_json(run / "config.json")
    assert info["data"]["test_examples"] == {"en": 12, "de": 12, "es": 12}
    assert info["data"]["train_examples"] == 96 + 2 * 2 and info["data"]["few_shot_examples"] == {"de": 2, "es": 2}
    assert info["protocol"]["test"]["languages"] == ["en", "de", "es"]
    shots = read_json(run / "few_shot.json")
    assert shots["seed"] == 1 and shots["few_shot"] == 2 and shots["ids"] == "row number"
    split = read_json(run / "eval_split.json")["languages"]
    for lang, ids in shots["shots"].items():
        assert len(ids) == 2 and not set(ids) & {i for half in split[lang].values() for i in half}
    runs = load_runs(run)
    assert runs.summaries.loc[0, "final_test_overall"] == pytest.approx(summary["final"]["test"]["overall"])
