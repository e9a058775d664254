"""XNLI: XTREME's local files (dev TSV without header, MultiNLI with header), subsampling, accuracy."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from xlingual_probe.tasks._base import DataOptions, get_task
from xlingual_probe.tasks.xnli import XNLI_LABELS
from xlingual_probe.utils.errors import UserError

FIXTURES = Path(__file__).parent / "fixtures"
ENT, NEU, CON = range(3)


def write_rows(path: Path, rows: list[tuple[str, str, str]], header: str | None = None) -> None:
    lines = ([header] if header else []) + ["\t".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_loads_xtreme_folder_source_first():
    data = get_task("xnli").load(DataOptions(data_dir=str(FIXTURES)))  # holds an xnli/ sub-folder
    assert list(data.eval) == ["en", "de", "fr"]
    assert data.labels == XNLI_LABELS == ["entailment", "neutral", "contradiction"]
    assert len(data.train) == 6  # header row of mnli_train.tsv skipped, genre column ignored
    assert data.train[1] == {"text": "The cat sleeps .", "text_pair": "The cat is awake .", "label": CON}
    assert data.eval["de"][2] == {"text": "Sie kaufte ein Auto.", "text_pair": "Sie kaufte ein rotes Auto.",
                                  "label": NEU}
    assert {k: len(v) for k, v in data.eval.items()} == {"en": 4, "de": 6, "fr": 3}


def test_language_selection_and_unknown_languages():
    data = get_task("xnli").load(DataOptions(data_dir=str(FIXTURES / "xnli"), langs=["fr"]))
    assert list(data.eval) == ["en", "fr"]
    with pytest.raises(UserError, match="ja"):  # not an XNLI language
        get_task("xnli").load(DataOptions(data_dir=str(FIXTURES), langs=["ja"]))
    with pytest.raises(UserError, match="th"):  # an XNLI language without a dev file here
        get_task("xnli").load(DataOptions(data_dir=str(FIXTURES), langs=["th"]))
    with pytest.raises(UserError, match="source language 'sw'"):
        get_task("xnli").load(DataOptions(data_dir=str(FIXTURES), source_lang="sw"))


def test_xtreme_train_file_without_header_and_label_alias(tmp_path):
    write_rows(tmp_path / "dev-en.tsv", [("a", "b", "neutral")])
    write_rows(tmp_path / "train-en.tsv", [("p1", "h1", "contradictory"), ("p2", "h2", "entailment")])
    data = get_task("xnli").load(DataOptions(data_dir=str(tmp_path)))
    assert data.train["label"] == [CON, ENT]


def test_mnli_train_is_only_used_for_an_english_source(tmp_path):
    header = "sentence1\tsentence2\tlabel\tgenre"
    write_rows(tmp_path / "mnli_train.tsv", [("p", "h", "neutral", "fiction")], header=header)
    write_rows(tmp_path / "dev-en.tsv", [("a", "b", "neutral")])
    write_rows(tmp_path / "dev-de.tsv", [("a", "b", "neutral")])
    with pytest.raises(UserError, match="train-de.tsv"):
        get_task("xnli").load(DataOptions(data_dir=str(tmp_path), source_lang="de"))


@pytest.mark.parametrize("rows, message", [
    ([("p", "h", "maybe")], r"dev-en\.tsv:1: unknown label 'maybe'"),
    ([("p", "h", "neutral"), ("p", "h")], r"dev-en\.tsv:2: expected premise, hypothesis and label"),
])
def test_malformed_dev_files_are_user_errors(tmp_path, rows, message):
    write_rows(tmp_path / "train-en.tsv", [("p", "h", "neutral")])
    write_rows(tmp_path / "dev-en.tsv", rows)
    with pytest.raises(UserError, match=message):
        get_task("xnli").load(DataOptions(data_dir=str(tmp_path)))


def test_header_without_the_mnli_columns_is_a_user_error(tmp_path):
    write_rows(tmp_path / "mnli_train.tsv", [("p", "h", "neutral")], header="premise\thypo\tlabel")
    write_rows(tmp_path / "dev-en.tsv", [("a", "b", "neutral")])
    with pytest.raises(UserError, match="header must name sentence1, sentence2 and label"):
        get_task("xnli").load(DataOptions(data_dir=str(tmp_path)))


def test_missing_folder_and_missing_train_file(tmp_path):
    with pytest.raises(UserError, match="data folder not found"):
        get_task("xnli").load(DataOptions(data_dir=str(tmp_path / "nope")))
    write_rows(tmp_path / "dev-en.tsv", [("a", "b", "neutral")])
    with pytest.raises(UserError, match="no XNLI training file"):
        get_task("xnli").load(DataOptions(data_dir=str(tmp_path)))


@pytest.fixture()
def larger_folder(tmp_path) -> Path:
    labels = XNLI_LABELS
    write_rows(tmp_path / "train-en.tsv", [(f"p{i}", f"h{i}", labels[i % 3]) for i in range(40)])
    for lang in ("en", "de", "ar"):
        write_rows(tmp_path / f"dev-{lang}.tsv", [(f"{lang} p{i}", f"{lang} h{i}", labels[i % 3]) for i in range(30)])
    return tmp_path


def test_seeded_subsampling_is_identical_across_calls(larger_folder):
    opts = DataOptions(data_dir=str(larger_folder), train_size=10, eval_size=5, seed=3)
    first, second = get_task("xnli").load(opts), get_task("xnli").load(opts)
    assert len(first.train) == 10 and all(len(ds) == 5 for ds in first.eval.values())
    assert list(first.train["text"]) == list(second.train["text"])
    assert all(list(first.eval[k]["text"]) == list(second.eval[k]["text"]) for k in first.eval)
    other = get_task("xnli").load(DataOptions(data_dir=str(larger_folder), train_size=10, eval_size=5, seed=4))
    assert list(other.train["text"]) != list(first.train["text"])
    full = get_task("xnli").load(DataOptions(data_dir=str(larger_folder), train_size=1000))
    assert list(full.train["text"]) == [f"p{i}" for i in range(40)]  # larger than the set: all, in order


def test_few_shot_moves_target_examples_into_training(larger_folder):
    data = get_task("xnli").load(DataOptions(data_dir=str(larger_folder), few_shot=5))
    assert list(data.eval) == ["en", "ar", "de"]
    assert len(data.train) == 40 + 2 * 5
    assert {k: len(v) for k, v in data.eval.items()} == {"en": 30, "ar": 25, "de": 25}
    shots = list(data.train["text"])[40:]
    assert sorted(t.split()[0] for t in shots) == ["ar"] * 5 + ["de"] * 5
    assert not set(shots) & (set(data.eval["ar"]["text"]) | set(data.eval["de"]["text"]))
    # few-shot examples come out before eval subsampling, and the split is seeded
    small = get_task("xnli").load(DataOptions(data_dir=str(larger_folder), few_shot=5, eval_size=4))
    assert list(small.train["text"])[40:] == shots and len(small.eval["de"]) == 4
    with pytest.raises(UserError, match="leaves no evaluation data"):
        get_task("xnli").load(DataOptions(data_dir=str(larger_folder), few_shot=30))


def test_accuracy_and_encoding():
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "cat", "sleeps", "."])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")
    task = get_task("xnli")
    examples = datasets.Dataset.from_dict({"text": ["a cat sleeps .", "a cat"], "text_pair": ["a cat", "sleeps"],
                                           "label": [ENT, CON]})
    features = task.encode(examples, tokenizer, train=False, max_length=16)
    assert features[0]["input_ids"] == [2, 4, 5, 6, 7, 3, 4, 5, 3]
    assert list(features["labels"]) == [ENT, CON]
    batch = task.collator(tokenizer)([{k: features[i][k] for k in ("input_ids", "attention_mask", "labels")}
                                      for i in range(2)])
    assert batch["input_ids"].shape == (2, 9) and batch["labels"].tolist() == [ENT, CON]
    assert task.score([ENT, NEU], features, examples, "en") == {"accuracy": 50.0}
    assert task.score([ENT, CON], features, examples, "en") == {"accuracy": 100.0}


def test_hub_loading_renames_columns(monkeypatch):
    hub_features = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                                      "label": datasets.ClassLabel(names=XNLI_LABELS)})
    calls = []

    def fake_load_dataset(path, config, split):
        calls.append((path, config, split))
        return datasets.Dataset.from_dict({"premise": ["p"], "hypothesis": ["h"], "label": [2]},
                                          features=hub_features)

    monkeypatch.delenv("XPROBE_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    data = get_task("xnli").load(DataOptions(langs=["de"], test=False))
    assert calls == [("facebook/xnli", "en", "train"), ("facebook/xnli", "en", "validation"),
                     ("facebook/xnli", "de", "validation")]
    assert data.eval["de"][0] == {"text": "p", "text_pair": "h", "label": CON}
    # by default the hub's test split is scored; this fake one has a single (constant) label: refused
    calls.clear()
    data = get_task("xnli").load(DataOptions(langs=["de"]))
    assert calls[-1] == ("facebook/xnli", "en", "test") and data.test == {}
    assert "every test label is 2" in data.test_note
    with pytest.raises(UserError, match="every test label is 2"):
        get_task("xnli").load(DataOptions(langs=["de"], test=True))


def test_explicit_train_file_with_or_without_header(tmp_path):
    from tests.tiny import write_xnli
    from xlingual_probe.tasks import DataOptions, get_task
    from xlingual_probe.utils import UserError

    folder = write_xnli(tmp_path / "xnli", n_train=20, n_dev=6)
    plain = tmp_path / "my-train.tsv"
    plain.write_text("a cat .\ta cat .\tentailment\nthe dog .\tthe bird .\tneutral\n", encoding="utf-8")
    data = get_task("xnli").load(DataOptions(data_dir=str(folder), train_file=str(plain)))
    assert data.train["label"] == [0, 1]
    data = get_task("xnli").load(DataOptions(data_dir=str(folder), train_file=str(folder / "mnli_train.tsv")))
    assert len(data.train) == 20
    with pytest.raises(UserError, match="not found"):
        get_task("xnli").load(DataOptions(data_dir=str(folder), train_file=str(tmp_path / "missing.tsv")))
