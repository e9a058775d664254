"""Model selection without peeking: the rule, and the loop choosing, reporting and scoring test by it."""

from __future__ import annotations

import pytest

from tests.tiny import tiny_config, write_grouped_xnli
from xlingual_probe.runs import summarise_scores
from xlingual_probe.training import train
from xlingual_probe.training.model_selection import SELECT_BY, protocol_record, replaces_selected
from xlingual_probe.utils.io import read_json, read_jsonl


def record(step, source, target, reporting=0.0):
    return {"step": step, "selection_half": summarise_scores({"en": source, "de": target}, "en"),
            "source": reporting}


def test_rule_reads_the_selection_half_and_ties_go_later():
    a, b = record(1, 80.0, 50.0, reporting=99.0), record(2, 80.0, 10.0, reporting=1.0)
    assert replaces_selected(b, a, "source")  # tie on the source: the later one
    assert not replaces_selected(b, a, "overall")  # 45 < 65
    assert replaces_selected(record(2, 79.0, 90.0), a, "overall") and not replaces_selected(record(2, 79.0, 90.0), a, "source")
    assert replaces_selected(record(3, 0.0, 0.0), a, "last")
    assert replaces_selected(a, None, "source")
    assert SELECT_BY[0] == "source"
    assert protocol_record("source", "en", ["en"])["uses_target_data"] is False


class ScriptedScores:
    """Stands in for ``evaluate``: evaluation k gets scripted selection-half scores, distinct reporting-half
    scores, and test scores; it counts what was scored."""

    def __init__(self, source: list[float], target: list[float]):
        self.source, self.target = source, target
        self.calls: list[tuple[int, str]] = []

    def __call__(self, model, task, sets, collate, accelerator, batch_size, source_lang, show_progress=True):
        split = sets[0].split
        k = sum(s == "selection" for _, s in self.calls) - (split != "selection")
        self.calls.append((k, split))
        langs = [s.lang for s in sets]
        if split == "selection":
            scores = {lang: self.source[k] if lang == source_lang else self.target[k] for lang in langs}
        else:  # reporting half and test: numbers the rule must never look at
            scores = {lang: 1000.0 * (split == "test") + 10.0 * k + i for i, lang in enumerate(langs)}
        return {"metrics": scores, **summarise_scores(scores, source_lang),
                "details": {lang: {"accuracy": v} for lang, v in scores.items()}, "eval_seconds": 0.0}


@pytest.fixture(scope="module")
def parallel_data(tmp_path_factory):
    return write_grouped_xnli(tmp_path_factory.mktemp("xnli-parallel"), n_dev=10, n_test=2)


@pytest.fixture
def scripted_run(tiny_model, parallel_data, tmp_path, monkeypatch):
    """Train the tiny model for one update per scripted evaluation; returns (summary, calls, metrics)."""
    def run(name, select_by, source, target):
        scripted = ScriptedScores(source, target)
        monkeypatch.setattr("xlingual_probe.training.loop.evaluate", scripted)
        config = tiny_config(tiny_model, parallel_data, tmp_path / name, max_steps=len(source), eval_every=1,
                             batch_size=4, select_by=select_by, max_length=32)
        return train(config, show_progress=False), scripted.calls, read_jsonl(tmp_path / name / "metrics.jsonl")

    return run


SOURCE = [50.0, 70.0, 40.0, 70.0, 60.0]  # best at evaluation 2, tied at 4 (the later one wins), 5 is the last


def test_source_selection_ignores_target_data_and_scores_test_at_each_new_choice(scripted_run, tmp_path):
    targets = ([90.0, 10.0, 99.0, 10.0, 20.0], [0.0, 100.0, 0.0, 0.0, 100.0])
    summary, calls, metrics = scripted_run("a", "source", SOURCE, targets[0])
    assert summary["best"]["step"] == 4 and summary["final"]["step"] == 5
    # top-level numbers are the reporting half's, never the selection half's
    assert summary["best"]["source"] == 30.0 and summary["best"]["selection_half"]["source"] == 70.0
    # test scored at each newly selected checkpoint (evaluations 1, 2, 4) and at the end (5), not at 3
    assert sorted(k for k, split in calls if split == "test") == [0, 1, 3, 4]
    assert ["test" in m for m in metrics] == [True, True, False, True, True]
    assert summary["best"]["test"]["source"] == 1030.0 and summary["final"]["test"]["source"] == 1040.0
    # other target-language scores cannot move the chosen step under select_by=source ...
    assert scripted_run("b", "source", SOURCE, targets[1])[0]["best"]["step"] == 4
    # ... while under select_by=overall (mean of en, de, es) they do, so the check above could fail
    overall = [scripted_run(f"o{i}", "overall", SOURCE, target)[0]["best"]["step"] for i, target in enumerate(targets)]
    assert overall == [3, 2]
    assert read_json(tmp_path / "o0" / "summary.json")["protocol"]["uses_target_data"] is True


def test_last_takes_the_last_evaluation_and_scores_test_once(scripted_run):
    summary, calls, _ = scripted_run("last", "last", SOURCE, [50.0] * 5)
    assert summary["best"] == summary["final"] and summary["best"]["step"] == 5
    assert [k for k, split in calls if split == "test"] == [4]
    assert summary["protocol"]["selected_on"] == "last evaluation"


@pytest.mark.parametrize("select_by", ["source", "overall"])
def test_a_flat_run_selects_the_last_of_the_ties(scripted_run, select_by):
    summary, _, _ = scripted_run(select_by, select_by, [60.0] * 3, [40.0] * 3)
    assert summary["best"]["step"] == 3
