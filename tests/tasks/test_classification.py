"""Bring-your-own classification (``--task classification``): folder layouts, file formats, labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from xlingual_probe.tasks._base import DataOptions, get_task
from xlingual_probe.tasks.classification import find_split_files
from xlingual_probe.utils.errors import UserError

FIXTURES = Path(__file__).parent / "fixtures"
FLAT = FIXTURES / "classification"  # train-en.tsv, dev-en.tsv, dev-de.csv, dev-fr.jsonl
NESTED = FIXTURES / "classification_nested"  # en/train.tsv, en/dev.tsv, sw/validation.tsv


def flat_opts(**changes) -> DataOptions:
    return DataOptions(data_dir=str(FLAT), text_columns=["text"], label_column="label", **changes)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_split_files_of_both_layouts():
    assert find_split_files(FLAT) == {("train", "en"): FLAT / "train-en.tsv", ("dev", "en"): FLAT / "dev-en.tsv",
                                      ("dev", "de"): FLAT / "dev-de.csv", ("dev", "fr"): FLAT / "dev-fr.jsonl"}
    assert find_split_files(NESTED) == {("train", "en"): NESTED / "en/train.tsv", ("dev", "en"): NESTED / "en/dev.tsv",
                                        ("dev", "sw"): NESTED / "sw/validation.tsv"}


def test_loads_tsv_csv_and_jsonl_with_labels_from_training():
    data = get_task("classification").load(flat_opts())
    assert list(data.eval) == ["en", "de", "fr"]
    assert data.labels == ["negative", "positive"]
    assert data.train.column_names == ["text", "label"]
    assert data.train[1] == {"text": "What a waste of time", "label": 0}
    assert data.eval["de"][1] == {"text": "Schlecht, langweilig", "label": 0}  # quoted CSV field
    assert list(data.eval["fr"]["label"]) == [1, 0, 1]


def test_nested_layout_with_a_text_pair():
    opts = DataOptions(data_dir=str(NESTED), text_columns=["premise", "hypothesis"], label_column="gold")
    data = get_task("classification").load(opts)
    assert list(data.eval) == ["en", "sw"]
    assert data.labels == ["no", "yes"]
    assert data.eval["sw"][0] == {"text": "Mbwa anakimbia", "text_pair": "Mnyama anasonga", "label": 1}


def test_language_selection_and_unknown_language():
    assert list(get_task("classification").load(flat_opts(langs=["fr"])).eval) == ["en", "fr"]
    with pytest.raises(UserError, match="language.*'classification'"):
        get_task("classification").load(flat_opts(langs=["fr", "ja"]))


def test_label_missing_from_training_is_a_user_error(tmp_path):
    write(tmp_path / "train-en.tsv", "text\tlabel\ngood\tpositive\nbad\tnegative\n")
    write(tmp_path / "dev-de.tsv", "text\tlabel\ngut\tpositiv\n")
    write(tmp_path / "dev-en.tsv", "text\tlabel\nfine\tpositive\n")
    opts = DataOptions(data_dir=str(tmp_path), text_columns=["text"], label_column="label")
    with pytest.raises(UserError, match=r"dev-de\.tsv: label\(s\) 'positiv' not in the training file"):
        get_task("classification").load(opts)


def test_empty_training_label_is_a_user_error(tmp_path):
    write(tmp_path / "train-en.tsv", "text\tlabel\ngood\tpositive\nbad\t\n")
    write(tmp_path / "dev-en.tsv", "text\tlabel\nfine\tpositive\n")
    opts = DataOptions(data_dir=str(tmp_path), text_columns=["text"], label_column="label")
    with pytest.raises(UserError, match="empty value in label column"):
        get_task("classification").load(opts)


@pytest.mark.parametrize("changes, message", [
    ({"text_columns": None}, "needs --text-columns"),
    ({"text_columns": ["a", "b", "c"]}, "one or two"),
    ({"text_columns": ["sentence"]}, "column 'sentence' not found"),
    ({"label_column": "gold"}, "column 'gold' not found"),
    ({"source_lang": "de"}, "no training file for 'de'"),
])
def test_bad_options_are_user_errors(changes, message):
    opts = flat_opts()
    for key, value in changes.items():
        setattr(opts, key, value)
    with pytest.raises(UserError, match=message):
        get_task("classification").load(opts)


def test_needs_a_data_dir(monkeypatch):
    monkeypatch.delenv("XPROBE_DATA_DIR", raising=False)
    with pytest.raises(UserError, match="needs --data-dir"):
        get_task("classification").load(DataOptions(text_columns=["text"], label_column="label"))


def test_malformed_csv_is_a_user_error(tmp_path):
    write(tmp_path / "train-en.csv", 'text,label\n"unclosed,positive\n')
    write(tmp_path / "dev-en.csv", "text,label\nfine,positive\n")
    opts = DataOptions(data_dir=str(tmp_path), text_columns=["text"], label_column="label")
    with pytest.raises(UserError, match="cannot read"):
        get_task("classification").load(opts)


def test_seeded_subsampling_and_few_shot(tmp_path):
    rows = "".join(f"text {i}\t{'ab'[i % 2]}\n" for i in range(30))
    write(tmp_path / "train-en.tsv", "text\tlabel\n" + rows)
    for lang in ("en", "de", "sw"):
        write(tmp_path / lang / "dev.tsv", "text\tlabel\n" + rows.replace("text", f"{lang} text"))
    opts = DataOptions(data_dir=str(tmp_path), text_columns=["text"], label_column="label",
                       train_size=8, eval_size=6, seed=11)
    first, second = get_task("classification").load(opts), get_task("classification").load(opts)
    assert list(first.train["text"]) == list(second.train["text"]) and len(first.train) == 8
    assert all(list(first.eval[k]["text"]) == list(second.eval[k]["text"]) for k in ("en", "de", "sw"))
    assert {k: len(v) for k, v in first.eval.items()} == {"en": 6, "de": 6, "sw": 6}

    opts = DataOptions(data_dir=str(tmp_path), text_columns=["text"], label_column="label", few_shot=3)
    data = get_task("classification").load(opts)
    assert len(data.train) == 30 + 2 * 3
    assert {k: len(v) for k, v in data.eval.items()} == {"en": 30, "de": 27, "sw": 27}
    shots = list(data.train["text"])[30:]
    assert sorted(t.split()[0] for t in shots) == ["de"] * 3 + ["sw"] * 3
    assert not set(shots) & (set(data.eval["de"]["text"]) | set(data.eval["sw"]["text"]))


def test_test_split_is_read_where_labelled(tmp_path):
    rows = "".join(f"text {i}\t{'ab'[i % 2]}\n" for i in range(10))
    write(tmp_path / "train-en.tsv", "text\tlabel\n" + rows)
    for lang in ("en", "de"):
        write(tmp_path / f"dev-{lang}.tsv", "text\tlabel\n" + rows)
    write(tmp_path / "test-en.tsv", "text\tlabel\n" + rows)
    opts = DataOptions(data_dir=str(tmp_path), text_columns=["text"], label_column="label")
    data = get_task("classification").load(opts)
    assert list(data.test) == ["en"] and data.test["en"]["label"] == [0, 1] * 5  # de has no test file
    write(tmp_path / "test-de.tsv", "text\n" + "".join(f"text {i}\n" for i in range(10)))  # labels stripped
    with pytest.raises(UserError, match="no label column 'label' or an empty label: test labels are missing"):
        get_task("classification").load(DataOptions(**{**opts.__dict__, "test": True}))
    assert get_task("classification").load(opts).test == {}  # by default: no test split, and why
    write(tmp_path / "test-de.tsv", "text\tlabel\n" + "".join(f"text {i}\ta\n" for i in range(10)))
    with pytest.raises(UserError, match="every test label is 0"):
        get_task("classification").load(DataOptions(**{**opts.__dict__, "test": True}))


def test_accuracy_is_on_a_0_to_100_scale():
    import datasets

    features = datasets.Dataset.from_dict({"labels": [0, 1, 1, 0]})
    task = get_task("classification")
    assert task.score([0, 1, 0, 0], features, features, "en") == {"accuracy": 75.0}
    assert (task.head, task.metric) == ("sequence", "accuracy")
