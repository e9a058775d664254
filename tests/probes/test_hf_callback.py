"""GapCallback inside a real (tiny, CPU) transformers.Trainer run."""

import datasets
import numpy as np
import pytest
from transformers import EvalPrediction, Trainer, TrainingArguments, set_seed

from tests.tiny import LANGS, nli_pairs
from xlingual_probe.models import load_model
from xlingual_probe.probes.hf_callback import GapCallback, label_accuracy, seqeval_f1
from xlingual_probe.reporting import seed_summary_table
from xlingual_probe.runs import load_runs
from xlingual_probe.utils import UserError
from xlingual_probe.utils.io import read_json, read_jsonl

LABELS = ["entailment", "neutral", "contradiction"]
TARGETS = [lang for lang in LANGS if lang != "en"]


def nli_dataset(tokenizer, n, lang, seed):
    rows = nli_pairs(n, lang, seed)
    enc = tokenizer([p for p, _, _ in rows], [h for _, h, _ in rows], truncation=True, max_length=48)
    # an extra raw column, as users' datasets often keep: it must not reach the model
    return datasets.Dataset.from_dict({**enc, "label": [LABELS.index(y) for _, _, y in rows],
                                       "premise": [p for p, _, _ in rows]})


def run_trainer(tiny_model, out, callbacks=()):
    set_seed(0)  # the head's initialisation
    model, tokenizer = load_model(str(tiny_model), "sequence", 3, labels=LABELS)
    train_set = nli_dataset(tokenizer, 96, "en", 1).remove_columns("premise")
    args = TrainingArguments(output_dir=str(out / "trainer"), max_steps=6, per_device_train_batch_size=16,
                             per_device_eval_batch_size=16, learning_rate=3e-3, logging_steps=1,
                             save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True, seed=3)
    evals = {lang: nli_dataset(tokenizer, 24, lang, 10 + i) for i, lang in enumerate([*TARGETS, "en"])}
    trainer = Trainer(model=model, args=args, train_dataset=train_set, processing_class=tokenizer,
                      callbacks=[cb(evals) for cb in callbacks])
    trainer.train()
    return trainer


def test_trainer_run_writes_a_run_directory(tiny_model, tmp_path):
    run = tmp_path / "gap"
    make = lambda evals: GapCallback(evals, "en", output_dir=run, eval_every=3)
    with_cb = run_trainer(tiny_model, tmp_path / "a", callbacks=[make])
    without = run_trainer(tiny_model, tmp_path / "b")
    losses = lambda t: [h["loss"] for h in t.state.log_history if "loss" in h]
    assert losses(with_cb) == losses(without)  # the callback leaves training alone

    records = read_jsonl(run / "metrics.jsonl")
    assert [r["step"] for r in records] == [3, 6]
    for r in records:
        assert {"step", "loss", "metrics", "source", "target_mean", "overall", "gap", "details",
                "eval_seconds"} <= set(r)
        assert list(r["metrics"]) == ["en", *TARGETS]  # source first
        assert all(0 <= v <= 100 for v in r["metrics"].values())
        assert r["source"] == r["metrics"]["en"]
        assert r["gap"] == pytest.approx(r["source"] - np.mean([r["metrics"][lang] for lang in TARGETS]))
    # loss = mean of the losses logged at steps 1-3 and 4-6
    logged = losses(with_cb)
    assert records[0]["loss"] == pytest.approx(np.mean(logged[:3]))
    assert records[1]["loss"] == pytest.approx(np.mean(logged[3:6]))

    info = read_json(run / "config.json")
    assert info["schema_version"] == 1 and info["seed"] == 3 and info["data"]["metric"] == "accuracy"
    summary = read_json(run / "summary.json")
    assert summary["final"]["step"] == 6 and summary["steps"] == 6 and summary["method"] == "hf-trainer"
    # no held-out halves here: the reported checkpoint is the last one, never the max over the sets scored
    assert summary["best"] == summary["final"] and summary["select_by"] == "last"
    assert "no held-out halves" in summary["protocol"]["reported_on"]
    runs = load_runs(run)
    assert len(runs.configs) == 1 and len(runs.summaries) == 1
    assert set(runs.metrics["lang"]) == set(LANGS) and sorted(set(runs.metrics["step"])) == [3, 6]
    assert list(seed_summary_table([str(run)])["method"]) == ["hf-trainer"]


def test_metric_choices():
    logits = np.array([[[0.1, 0.9], [0.9, 0.1]], [[0.9, 0.1], [0.2, 0.8]]])
    labels = np.array([[1, -100], [1, 1]])
    prediction = EvalPrediction(predictions=logits, label_ids=labels)
    assert label_accuracy(prediction) == pytest.approx(200 / 3)
    scores = seqeval_f1({0: "O", 1: "B-PER"})(prediction)
    assert scores["precision"] == 100.0 and scores["recall"] == pytest.approx(200 / 3)


@pytest.mark.parametrize("kwargs, match", [
    ({"source_lang": "sw"}, "no evaluation set"),
    ({"task": "xnli", "compute_metric": label_accuracy}, "not both"),
    ({"task": "mlqa"}, "compute_metric"),
    ({"eval_every": 0}, "positive"),
])
def test_bad_arguments_are_user_errors(kwargs, match, tmp_path):
    with pytest.raises(UserError, match=match):
        GapCallback({"en": [], "de": []}, **{"output_dir": tmp_path, **kwargs})


def _tagging_prediction() -> EvalPrediction:
    """Gold O B-PER O B-LOC O; predicted O B-PER O O O (ids of PAN-X's tag order)."""
    gold = np.array([[-100, 0, 1, 0, 5, 0, -100]])
    predicted = [0, 0, 1, 0, 0, 0, 0]
    return EvalPrediction(predictions=np.eye(7)[predicted][None], label_ids=gold)


def test_label_placeholders_are_an_error_not_a_tagging_score(tmp_path):
    """Issue #15, fault 3: a model built without id2label has labels LABEL_0…LABEL_6; seqeval read 'L' as a
    prefix and recorded F1 50.0 / P 66.7 / R 40.0. Now it is one clear error."""
    from types import SimpleNamespace

    model = SimpleNamespace(config=SimpleNamespace(id2label={i: f"LABEL_{i}" for i in range(7)}))
    callback = GapCallback({"en": [{"input_ids": [1], "labels": [0]}]}, "en", output_dir=tmp_path, task="panx")
    with pytest.raises(UserError, match="LABEL_0.*not IOB2 tags"):
        callback._metric_fn(model)(_tagging_prediction())


def test_the_data_s_class_labels_name_the_ids_when_the_model_has_placeholders(tmp_path):
    from types import SimpleNamespace

    from xlingual_probe.tasks.panx import PANX_LABELS

    features = datasets.Features({"input_ids": datasets.List(datasets.Value("int64")),
                                  "labels": datasets.List(datasets.ClassLabel(names=PANX_LABELS))})
    data = datasets.Dataset.from_dict({"input_ids": [[1, 2]], "labels": [[0, 1]]}, features=features)
    model = SimpleNamespace(config=SimpleNamespace(id2label={i: f"LABEL_{i}" for i in range(7)}))
    callback = GapCallback({"en": data}, "en", output_dir=tmp_path, task="panx")
    scores = callback._metric_fn(model)(_tagging_prediction())
    assert scores["f1"] == pytest.approx(200 / 3)
    assert scores["precision"] == pytest.approx(100.0) and scores["recall"] == pytest.approx(50.0)
    # a model whose own label names disagree with the data's would score the wrong classes
    model.config.id2label = dict(enumerate(reversed(PANX_LABELS)))
    with pytest.raises(UserError, match="differ"):
        callback._metric_fn(model)


def test_sentence_labels_that_disagree_with_the_model_are_refused(tmp_path):
    from types import SimpleNamespace

    features = datasets.Features({"input_ids": datasets.List(datasets.Value("int64")),
                                  "label": datasets.ClassLabel(names=["contradiction", "entailment", "neutral"])})
    data = datasets.Dataset.from_dict({"input_ids": [[1]], "label": [0]}, features=features)
    model = SimpleNamespace(config=SimpleNamespace(id2label=dict(enumerate(LABELS))))
    callback = GapCallback({"en": data}, "en", output_dir=tmp_path, task="xnli")
    with pytest.raises(UserError, match="differ"):
        callback._metric_fn(model)
