"""Loading QA benchmarks from local SQuAD-v1.1 folders laid out like ../shared/data."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import datasets
import pytest

from xlingual_probe.tasks import TASKS, DataOptions, get_task
from xlingual_probe.tasks.qa_data import read_squad_json, unique_ids
from xlingual_probe.utils.errors import UserError

datasets.disable_progress_bars()


def squad_doc(n: int, prefix: str, ids: list[str] | None = None) -> dict:
    """A SQuAD-v1.1 document with ``n`` questions over two paragraphs."""
    qas = [[], []]
    for i in range(n):
        context = f"{prefix} context {i % 2}: the answer is word{i % 2}."
        qas[i % 2].append({"id": ids[i] if ids else f"{prefix}-{i}", "question": f"{prefix} question {i}?",
                           "answers": [{"text": f"word{i % 2}", "answer_start": context.index(f"word{i % 2}")}]})
    paragraphs = [{"context": f"{prefix} context {k}: the answer is word{k}.", "qas": qas[k]} for k in range(2)]
    return {"version": "1.0", "data": [{"title": prefix, "paragraphs": paragraphs}]}


def write(path: Path, doc) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def shared_like(tmp_path: Path) -> Path:
    """``mlqa/`` dev files for en, de, zh and ``tydiqa/`` English train, like ../shared/data."""
    for lang, n in (("en", 12), ("de", 8), ("zh", 6)):
        write(tmp_path / "mlqa" / f"dev-context-{lang}-question-{lang}.json", squad_doc(n, f"mlqa-{lang}"))
    write(tmp_path / "tydiqa" / "tydiqa.goldp.en.train.json",
          squad_doc(30, "tydi", ids=[str(i % 3) for i in range(30)]))  # XTREME reuses small ids
    return tmp_path


def test_qa_tasks_are_registered():
    for name in ("mlqa", "xquad", "tydiqa", "squad-json"):
        task = get_task(name)
        assert name in TASKS and task.head == "qa" and task.metric == "f1"


def test_mlqa_from_a_shared_data_folder(shared_like):
    data = get_task("mlqa").load(DataOptions(data_dir=str(shared_like)))
    assert list(data.eval) == ["en", "de", "zh"]
    assert len(data.train) == 30 and len(set(data.train["id"])) == 30
    assert data.train.column_names == ["id", "context", "question", "answers"]
    row = data.eval["de"][0]
    assert row["context"][row["answers"]["answer_start"][0]:].startswith(row["answers"]["text"][0])


def test_language_selection_and_subsampling(shared_like):
    opts = DataOptions(data_dir=str(shared_like), langs=["zh"], train_size=10, eval_size=5, seed=3)
    data = get_task("mlqa").load(opts)
    assert list(data.eval) == ["en", "zh"]
    assert len(data.train) == 10 and {k: len(v) for k, v in data.eval.items()} == {"en": 5, "zh": 5}
    again = get_task("mlqa").load(opts)
    assert again.train["id"] == data.train["id"]


def test_few_shot_moves_target_questions_into_training(shared_like):
    data = get_task("mlqa").load(DataOptions(data_dir=str(shared_like), few_shot=2))
    assert len(data.train) == 30 + 2 * 2
    assert len(data.eval["de"]) == 6 and len(data.eval["en"]) == 12


def test_data_dir_pointing_at_the_task_folder_finds_the_sibling_train_set(shared_like):
    data = get_task("mlqa").load(DataOptions(data_dir=str(shared_like / "mlqa"), langs=["de"]))
    assert list(data.eval) == ["en", "de"] and len(data.train) == 30


def test_squad_train_is_preferred_and_train_file_overrides(shared_like):
    write(shared_like / "squad" / "train-v1.1.json", squad_doc(4, "squad"))
    data = get_task("mlqa").load(DataOptions(data_dir=str(shared_like)))
    assert len(data.train) == 4
    own = write(shared_like / "elsewhere.json", squad_doc(7, "own"))
    data = get_task("mlqa").load(DataOptions(data_dir=str(shared_like), train_file=str(own)))
    assert len(data.train) == 7


def test_xquad_tydiqa_and_squad_json_layouts(tmp_path):
    write(tmp_path / "xquad" / "xquad.en.json", squad_doc(3, "xq-en"))
    write(tmp_path / "xquad" / "xquad.th.json", squad_doc(3, "xq-th"))
    write(tmp_path / "tydiqa" / "tydiqa-goldp-v1.1-dev" / "tydiqa.goldp.en.dev.json", squad_doc(3, "ty-en"))
    write(tmp_path / "tydiqa" / "tydiqa-goldp-v1.1-dev" / "tydiqa.goldp.sw.dev.json", squad_doc(3, "ty-sw"))
    write(tmp_path / "tydiqa" / "tydiqa-goldp-v1.1-train" / "tydiqa.goldp.en.train.json", squad_doc(5, "ty"))
    assert list(get_task("xquad").load(DataOptions(data_dir=str(tmp_path))).eval) == ["en", "th"]
    tydi = get_task("tydiqa").load(DataOptions(data_dir=str(tmp_path)))
    assert list(tydi.eval) == ["en", "sw"] and len(tydi.train) == 5

    own = tmp_path / "own"
    write(own / "train-en.json", squad_doc(4, "own-train"))
    write(own / "dev-en.json", squad_doc(2, "own-en"))
    write(own / "dev-xx.json", squad_doc(2, "own-xx"))
    data = get_task("squad-json").load(DataOptions(data_dir=str(own)))
    assert list(data.eval) == ["en", "xx"] and len(data.train) == 4


@pytest.mark.parametrize(("content", "match"), [
    ("{not json", "not valid JSON"),
    (json.dumps({"data": [{"title": "x"}]}), "paragraphs"),
    (json.dumps({"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "1", "question": "q",
                                                                   "answers": [{"text": "c"}]}]}]}]}),
     "answer_start"),
    (json.dumps([1, 2]), "data"),
])
def test_malformed_files_are_user_errors_naming_the_file(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=match) as info:
        read_squad_json(path)
    assert str(path) in str(info.value)


def test_malformed_eval_file_fails_the_load(shared_like):
    (shared_like / "mlqa" / "dev-context-de-question-de.json").write_text('{"data": 3}', encoding="utf-8")
    with pytest.raises(UserError, match="dev-context-de-question-de.json"):
        get_task("mlqa").load(DataOptions(data_dir=str(shared_like)))


def test_unanswerable_questions_are_rejected(tmp_path):
    doc = {"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "1", "question": "q", "answers": []}]}]}]}
    with pytest.raises(UserError, match="no answers"):
        read_squad_json(write(tmp_path / "v2.json", doc))


def test_missing_files_and_languages_are_user_errors(shared_like, tmp_path):
    with pytest.raises(UserError, match="no xquad evaluation files"):
        get_task("xquad").load(DataOptions(data_dir=str(shared_like)))
    with pytest.raises(UserError, match="hi"):
        get_task("mlqa").load(DataOptions(data_dir=str(shared_like), langs=["hi"]))
    (shared_like / "tydiqa" / "tydiqa.goldp.en.train.json").unlink()
    with pytest.raises(UserError, match="--train-file"):
        get_task("mlqa").load(DataOptions(data_dir=str(shared_like)))
    with pytest.raises(UserError, match="training file not found"):
        get_task("mlqa").load(DataOptions(data_dir=str(shared_like), train_file=str(tmp_path / "none.json")))


def test_unique_ids_keeps_existing_ids_free():
    assert unique_ids(["0", "1", "0", "0#1", "0"]) == ["0", "1", "0#2", "0#1", "0#3"]


def fake_hub(calls: list) -> Callable[..., datasets.Dataset]:
    """A stand-in for ``datasets.load_dataset`` returning hub-shaped QA splits (extra columns, int32)."""
    features = datasets.Features({
        "id": datasets.Value("string"), "title": datasets.Value("string"), "context": datasets.Value("string"),
        "question": datasets.Value("string"),
        "answers": {"text": datasets.List(datasets.Value("string")),
                    "answer_start": datasets.List(datasets.Value("int32"))},
    })

    def load_dataset(path, config=None, split=None):
        calls.append((path, config, split))
        ids = ["english-1", "finnish-2", "finnish-3"] if path == "google/tydiqa" else [f"{path}-{i}" for i in range(4)]
        return datasets.Dataset.from_dict({
            "id": ids, "title": ["t"] * len(ids), "context": ["the answer is x"] * len(ids),
            "question": ["q?"] * len(ids), "answers": [{"text": ["x"], "answer_start": [14]}] * len(ids),
        }, features=features)

    return load_dataset


def test_hub_loading_standardises_columns(monkeypatch):
    monkeypatch.delenv("XPROBE_DATA_DIR", raising=False)
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", fake_hub(calls))
    data = get_task("mlqa").load(DataOptions(langs=["zh"]))
    assert calls == [("rajpurkar/squad", None, "train"), ("facebook/mlqa", "mlqa.en.en", "validation"),
                     ("facebook/mlqa", "mlqa.zh.zh", "validation"), ("facebook/mlqa", "mlqa.en.en", "test"),
                     ("facebook/mlqa", "mlqa.zh.zh", "test")]
    assert list(data.test) == ["en", "zh"]
    assert data.train.column_names == ["id", "context", "question", "answers"]
    assert data.eval["zh"].features["answers"]["answer_start"].feature.dtype == "int64"
    tydi = get_task("tydiqa").load(DataOptions(langs=["fi"]))
    assert tydi.eval["fi"]["id"] == ["finnish-2", "finnish-3"] and tydi.eval["en"]["id"] == ["english-1"]


def test_unreachable_hub_is_a_user_error(monkeypatch):
    monkeypatch.delenv("XPROBE_DATA_DIR", raising=False)

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'rajpurkar/squad' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(UserError, match="--data-dir"):
        get_task("xquad").load(DataOptions())
