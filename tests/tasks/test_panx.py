"""PAN-X / token classification: loading XTREME files, first-sub-token labels, seqeval scoring."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import datasets
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from xlingual_probe.tasks._base import TASKS, DataOptions, get_task
from xlingual_probe.tasks.panx import (
    IGNORE_INDEX,
    PANX_LABELS,
    PanXTask,
    TokenClassificationTask,
    read_conll,
    token_features,
)
from xlingual_probe.utils.errors import UserError

FIXTURES = Path(__file__).parent / "fixtures"
TAG = {name: i for i, name in enumerate(PANX_LABELS)}


def make_tokenizer(words: tuple[str, ...] = ("John", "Smith", "visited", "Paris", "Mary", "the")) -> PreTrainedTokenizerFast:
    """A WordPiece tokenizer built offline: whole ``words`` are one token, anything else splits into
    characters (``K ##n ##a ...``), so most words of the fixtures have several sub-tokens."""
    chars = [chr(c) for c in range(32, 0x250)] + ["北", "京", "很", "大", "李", "明"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words, *chars, *[f"##{c}" for c in chars]]
    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(dict.fromkeys(vocab))}, unk_token="[UNK]",
                                     max_input_chars_per_word=100))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]")


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    return make_tokenizer()


def examples_of(sentences: list[list[tuple[str, str]]]) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {"tokens": [[w for w, _ in s] for s in sentences], "ner_tags": [[TAG[t] for _, t in s] for s in sentences]},
        features=token_features(PANX_LABELS))


def score_tags(gold: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    """Score tag strings through the task (one feature per sentence, every word labelled)."""
    features = datasets.Dataset.from_dict({"labels": [[IGNORE_INDEX] + [TAG[t] for t in s] + [IGNORE_INDEX]
                                                      for s in gold],
                                           "example_id": list(range(len(gold))),
                                           "word_index": [list(range(len(s))) for s in gold]})
    examples = examples_of([[("w", t) for t in s] for s in gold])
    predictions = [[TAG[t] for t in s] for s in pred]
    return PanXTask().score(predictions, features, examples, "en")


def oracle_predictions(task: TokenClassificationTask, features: datasets.Dataset, tokenizer,
                       batch_size: int = 3) -> list[list[int]]:
    """Run ``collator`` + ``predictions`` on logits that put all mass on the gold label."""
    columns = [c for c in task.model_columns(False) if c in features.column_names]
    collate = task.collator(tokenizer)
    out = []
    for start in range(0, len(features), batch_size):
        rows = features.select_columns(columns)[start:start + batch_size]
        batch = collate([{c: rows[c][i] for c in columns} for i in range(len(rows["input_ids"]))])
        logits = torch.nn.functional.one_hot(batch["labels"].clamp(min=0), len(PANX_LABELS)).float()
        out.extend(task.predictions(SimpleNamespace(logits=logits), batch))
    return out


# --- scoring -------------------------------------------------------------------------------------------

def test_partially_right_entity_scores_zero_for_that_entity():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "O", "O", "B-LOC"]]  # PER cut short: wrong entity; LOC right
    scores = score_tags(gold, pred)
    assert scores["precision"] == pytest.approx(50.0)
    assert scores["recall"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(50.0)


def test_wrong_type_and_missed_entity_count_against_precision_and_recall():
    gold = [["B-ORG", "I-ORG", "O"], ["B-LOC", "O", "B-PER"]]
    pred = [["B-LOC", "I-LOC", "O"], ["B-LOC", "O", "O"]]
    scores = score_tags(gold, pred)  # 1 right of 2 predicted, of 3 gold
    assert scores["precision"] == pytest.approx(50.0)
    assert scores["recall"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(40.0)


def test_inside_tag_after_outside_starts_an_entity_as_in_seqeval_default_mode():
    assert score_tags([["O", "B-PER", "I-PER", "O"]], [["O", "I-PER", "I-PER", "O"]])["f1"] == 100.0
    # I-LOC after B-PER opens a new LOC entity: PER(1) + LOC(2) predicted against PER(1-2)
    scores = score_tags([["O", "B-PER", "I-PER"]], [["O", "B-PER", "I-LOC"]])
    assert scores["precision"] == pytest.approx(0.0)
    assert scores["recall"] == pytest.approx(0.0)


def test_no_entities_anywhere_scores_zero_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert score_tags([["O", "O"]], [["O", "O"]]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_score_rejects_misaligned_predictions():
    features = datasets.Dataset.from_dict({"labels": [[IGNORE_INDEX, 1, 2, IGNORE_INDEX]], "example_id": [0],
                                           "word_index": [[0, 1]]})
    with pytest.raises(ValueError, match="2 labelled positions but 1"):
        PanXTask().score([[1]], features, examples_of([[("a", "B-PER"), ("b", "I-PER")]]), "en")


# --- encoding ------------------------------------------------------------------------------------------

def test_only_the_first_sub_token_of_a_word_is_labelled(tokenizer):
    ex = examples_of([[("John", "B-PER"), ("Knausgård", "I-PER"), ("visited", "O"), ("Oslo", "B-LOC")]])
    train = PanXTask().encode(ex, tokenizer, train=True, max_length=64)
    assert train.column_names == ["input_ids", "attention_mask", "labels"]
    enc = tokenizer(ex[0]["tokens"], is_split_into_words=True)
    assert enc.tokens()[:4] == ["[CLS]", "John", "K", "##n"]
    expected = [IGNORE_INDEX, TAG["B-PER"], TAG["I-PER"]] + [IGNORE_INDEX] * 8 + [TAG["O"], TAG["B-LOC"]] \
        + [IGNORE_INDEX] * 3 + [IGNORE_INDEX]
    assert train[0]["labels"] == expected
    assert len(train[0]["labels"]) == len(train[0]["input_ids"])

    evaluation = PanXTask().encode(ex, tokenizer, train=False, max_length=64)
    assert evaluation[0]["example_id"] == 0
    assert evaluation[0]["word_index"] == [0, 1, 2, 3]
    assert evaluation[0]["labels"] == expected


def test_long_sentences_are_split_at_word_boundaries_and_every_word_is_scored(tokenizer):
    ex = examples_of([[("John", "B-PER"), ("Smith", "I-PER"), ("visited", "O"), ("Oslo", "B-LOC")],
                      [("Mary", "B-PER")]])
    task = PanXTask()
    # 3 sub-tokens per feature: [CLS] John Smith visited [SEP] | [CLS] Oslo [SEP] (4 sub-tokens: too many
    # for one feature, so the unknown token, as XTREME does) | [CLS] Mary [SEP]
    features = task.encode(ex, tokenizer, train=False, max_length=5)
    assert features["example_id"] == [0, 0, 1]
    assert features["word_index"] == [[0, 1, 2], [3], [0]]
    assert features["truncated"] == [0, 0, 0]
    assert tokenizer.convert_ids_to_tokens(features[1]["input_ids"]) == ["[CLS]", "[UNK]", "[SEP]"]
    predictions = oracle_predictions(task, features, tokenizer)
    assert task.score(predictions, features, ex, "en") == {"f1": 100.0, "precision": 100.0, "recall": 100.0}
    # missing the LOC entity of the second feature costs recall: it is not dropped from the gold
    predictions[1] = [TAG["O"]]
    scores = task.score(predictions, features, ex, "en")
    assert scores["precision"] == 100.0 and scores["recall"] == pytest.approx(200 / 3)


def test_panx_long_sentence_of_the_issue_scores_every_gold_entity(tokenizer):
    """Issue #15, fault 1: 150 one-sub-token words, B-LOC at 0, B-ORG at 139, max length 128; a model that
    finds the first entity and misses the second scores F1 66.67 (P 100, R 50), not 100."""
    tags = ["O"] * 150
    tags[0], tags[139] = "B-LOC", "B-ORG"
    words = ["Paris" if t == "B-LOC" else "Mary" if t == "B-ORG" else "the" for t in tags]
    ex = examples_of([list(zip(words, tags))])
    task = PanXTask()
    features = task.encode(ex, tokenizer, train=False, max_length=128)
    assert all(len(ids) <= 128 for ids in features["input_ids"])
    # finds word 0's entity, misses word 139's
    predictions = [[TAG["O"] if w == 139 else TAG[tags[w]] for w in words_] for words_ in features["word_index"]]
    scores = task.score(predictions, features, ex, "en")
    assert scores["f1"] == pytest.approx(200 / 3)
    assert scores["precision"] == pytest.approx(100.0)
    assert scores["recall"] == pytest.approx(50.0)
    assert sorted(w for ws in features["word_index"] for w in ws) == list(range(150))  # XTREME: 126 + 24 words
    assert [len(ws) for ws in features["word_index"]] == [126, 24]
    train = task.encode(ex, tokenizer, train=True, max_length=128)
    assert sum(label != IGNORE_INDEX for row in train["labels"] for label in row) == 150


def test_words_without_sub_tokens_become_the_unknown_token_and_are_scored(tokenizer):
    ex = examples_of([[("John", "B-PER"), ("", "O"), ("Paris", "B-LOC")]])
    task = PanXTask()
    features = task.encode(ex, tokenizer, train=False, max_length=32)
    assert features["word_index"] == [[0, 1, 2]]
    assert task.score([[TAG["B-PER"], TAG["O"], TAG["O"]]], features, ex, "en")["recall"] == 50.0


def test_non_iob2_tag_names_are_refused(tokenizer):
    class Toy(TokenClassificationTask):
        name = "toy-labels"
        labels: ClassVar[list[str]] = ["LABEL_0", "LABEL_1"]

        def load(self, opts):
            raise NotImplementedError

    ex = datasets.Dataset.from_dict({"tokens": [["a", "b"]], "ner_tags": [[1, 0]]})
    features = Toy().encode(ex, tokenizer, train=False, max_length=16)
    with pytest.raises(UserError, match="not IOB2 tags"):
        Toy().score([[1, 0]], features, ex, "xx")


def test_collator_pads_labels_with_ignore_index(tokenizer):
    ex = examples_of([[("John", "B-PER")], [("Mary", "B-PER"), ("Knausgård", "I-PER")]])
    task = PanXTask()
    features = task.encode(ex, tokenizer, train=True, max_length=32)
    batch = task.collator(tokenizer)([features[0], features[1]])
    assert batch["labels"].shape == batch["input_ids"].shape
    assert batch["labels"][0].tolist()[3:] == [IGNORE_INDEX] * (batch["labels"].shape[1] - 3)
    assert batch["input_ids"][0].tolist()[3:] == [tokenizer.pad_token_id] * (batch["labels"].shape[1] - 3)


def test_slow_tokenizer_is_refused():
    with pytest.raises(UserError, match="fast tokenizer"):
        PanXTask().encode(examples_of([[("a", "O")]]), SimpleNamespace(is_fast=False), train=True, max_length=8)


def test_perfect_predictions_round_trip_to_f1_100(tokenizer):
    task = get_task("panx")
    data = task.load(DataOptions(data_dir=str(FIXTURES)))
    for lang, examples in data.eval.items():
        features = task.encode(examples, tokenizer, train=False, max_length=64)
        predictions = oracle_predictions(task, features, tokenizer)
        assert [len(p) for p in predictions] == [len(t) for t in examples["tokens"]]
        assert task.score(predictions, features, examples, lang) == {"f1": 100.0, "precision": 100.0,
                                                                      "recall": 100.0}


def test_subclass_with_plain_int_tags_uses_the_class_labels(tokenizer):
    class Toy(TokenClassificationTask):
        name = "toy"
        labels: ClassVar[list[str]] = ["O", "B-X", "I-X"]

        def load(self, opts):
            raise NotImplementedError

    ex = datasets.Dataset.from_dict({"tokens": [["a", "b", "c"]], "ner_tags": [[1, 2, 0]]})
    features = Toy().encode(ex, tokenizer, train=False, max_length=16)
    assert Toy().score([[1, 2, 0]], features, ex, "xx")["f1"] == 100.0
    assert Toy().score([[1, 0, 0]], features, ex, "xx")["f1"] == 0.0


# --- loading -------------------------------------------------------------------------------------------

def test_registry_and_task_kind():
    assert "panx" in TASKS and "wikiann" in TASKS
    task = get_task("panx")
    assert (task.head, task.metric, len(task.languages)) == ("token", "f1", 40)


@pytest.mark.parametrize("data_dir", [FIXTURES, FIXTURES / "panx"])
def test_loads_xtreme_folder_with_language_selection(data_dir):
    data = get_task("panx").load(DataOptions(data_dir=str(data_dir), langs=["zh"]))
    assert list(data.eval) == ["en", "zh"]
    assert data.labels == PANX_LABELS
    assert len(data.train) == 6
    assert data.train[0] == {"tokens": ["John", "Smith", "visited", "Paris", "."],
                             "ner_tags": [TAG["B-PER"], TAG["I-PER"], TAG["O"], TAG["B-LOC"], TAG["O"]]}
    assert data.eval["zh"]["tokens"] == [["北", "京", "很", "大"], ["李", "明"]]
    everything = get_task("wikiann").load(DataOptions(data_dir=str(data_dir)))
    assert list(everything.eval) == ["en", "de", "zh"]  # the languages with a dev file
    # the fixture's test-en.tsv is XTREME's, tags stripped: not scored by default, refused when asked for
    assert everything.test == {} and "test-en.tsv:1: no tag: test labels are missing" in everything.test_note
    with pytest.raises(UserError, match="no tag: test labels are missing or constant"):
        get_task("panx").load(DataOptions(data_dir=str(data_dir), test=True))


def test_language_prefix_of_raw_xtreme_files_is_stripped():
    data = get_task("panx").load(DataOptions(data_dir=str(FIXTURES), langs=["de"]))
    assert data.eval["de"]["tokens"][0] == ["Angela", "Merkel", "besuchte", "Paris"]


def test_prefix_is_kept_unless_every_token_carries_it(tmp_path):
    (tmp_path / "dev-en.tsv").write_text("en:Paris\tB-LOC\nhttp:x\tO\n", encoding="utf-8")
    assert read_conll(tmp_path / "dev-en.tsv", PANX_LABELS, "en")["tokens"] == [["en:Paris", "http:x"]]


def test_unknown_language_is_a_user_error():
    with pytest.raises(UserError, match="fr"):
        get_task("panx").load(DataOptions(data_dir=str(FIXTURES), langs=["fr"]))


def test_subsampling_is_seeded_and_few_shot_moves_target_examples():
    opts = DataOptions(data_dir=str(FIXTURES), train_size=3, eval_size=2, seed=7)
    first, second = get_task("panx").load(opts), get_task("panx").load(opts)
    assert len(first.train) == 3 and {k: len(v) for k, v in first.eval.items()} == {"en": 2, "de": 2, "zh": 2}
    assert first.train["tokens"] == second.train["tokens"]
    assert first.eval["en"]["tokens"] == second.eval["en"]["tokens"]

    shots = get_task("panx").load(DataOptions(data_dir=str(FIXTURES), few_shot=1))
    assert len(shots.train) == 6 + 2
    assert {k: len(v) for k, v in shots.eval.items()} == {"en": 4, "de": 2, "zh": 1}
    moved = shots.train["tokens"][6:]
    assert all(t not in list(shots.eval["de"]["tokens"]) + list(shots.eval["zh"]["tokens"]) for t in moved)


def test_explicit_train_file(tmp_path):
    (tmp_path / "dev-en.tsv").write_text("Paris\tB-LOC\n", encoding="utf-8")
    (tmp_path / "mine.tsv").write_text("Mary\tB-PER\n\nOslo\tB-LOC\n", encoding="utf-8")
    data = get_task("panx").load(DataOptions(data_dir=str(tmp_path), train_file="mine.tsv"))
    assert data.train["tokens"] == [["Mary"], ["Oslo"]]
    with pytest.raises(UserError, match="training file"):
        get_task("panx").load(DataOptions(data_dir=str(tmp_path)))


@pytest.mark.parametrize("content, message", [
    ("Paris\tB-LOC\nParis B-LOC\n", r"dev-en\.tsv:2: expected token<TAB>tag"),
    ("Paris\tB-LOC\n\nJohn\tB-MISC\n", r"dev-en\.tsv:3: unknown tag 'B-MISC'"),
    ("\n\n", "holds no sentences"),
])
def test_malformed_files_are_user_errors(tmp_path, content, message):
    (tmp_path / "train-en.tsv").write_text("Paris\tB-LOC\n", encoding="utf-8")
    (tmp_path / "dev-en.tsv").write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        get_task("panx").load(DataOptions(data_dir=str(tmp_path)))


def test_folder_without_dev_files_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no panx dev files"):
        get_task("panx").load(DataOptions(data_dir=str(tmp_path)))


def test_hub_loading_keeps_tokens_and_tags(monkeypatch):
    hub_features = datasets.Features({
        "tokens": datasets.List(datasets.Value("string")),
        "ner_tags": datasets.List(datasets.ClassLabel(names=PANX_LABELS)),
        "langs": datasets.List(datasets.Value("string")),
    })
    calls = []

    def fake_load_dataset(path, config, split):
        calls.append((path, config, split))
        rows = {"tokens": [["Paris"], ["John", "Smith"]], "ner_tags": [[5], [1, 2]],
                "langs": [[config[-2:]], [config[-2:]] * 2]}
        return datasets.Dataset.from_dict(rows, features=hub_features)

    monkeypatch.delenv("XPROBE_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    data = get_task("panx").load(DataOptions(langs=["de"]))
    assert calls == [("google/xtreme", "PAN-X.en", "train"), ("google/xtreme", "PAN-X.en", "validation"),
                     ("google/xtreme", "PAN-X.de", "validation"), ("google/xtreme", "PAN-X.en", "test"),
                     ("google/xtreme", "PAN-X.de", "test")]
    assert data.train.column_names == ["tokens", "ner_tags"]
    assert data.eval["de"]["ner_tags"] == [[5], [1, 2]]
    assert data.test["de"]["ner_tags"] == [[5], [1, 2]] and data.test_note is None
    calls.clear()
    get_task("wikiann").load(DataOptions(langs=["de"], test=False))
    assert calls[-1] == ("unimelb-nlp/wikiann", "de", "validation")


def test_hub_failure_is_a_user_error(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.delenv("XPROBE_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(UserError, match="cannot load google/xtreme"):
        get_task("panx").load(DataOptions(langs=["de"]))
