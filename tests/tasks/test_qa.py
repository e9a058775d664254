"""QA encoding and decoding round trips on a tiny offline word-level tokenizer."""

from __future__ import annotations

import itertools
import re
from types import SimpleNamespace

import datasets
import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from xlingual_probe.tasks.qa import QATask, best_span
from xlingual_probe.tasks.qa_data import QA_FEATURES
from xlingual_probe.utils.errors import UserError

datasets.disable_progress_bars()

FILLER = " ".join(f"w{i}" for i in range(150))
CONTEXTS = [
    "The Eiffel Tower is in Paris, the capital of France.",
    "Marie Curie won the Nobel Prize in 1903 and again in 1911.",
    f"{FILLER} The treasure is buried under the old oak tree. {FILLER}",
    "北京是中国的首都。",
]
QUESTIONS = ["Where is the Eiffel Tower?", "When did Curie win?", "Where is the treasure?", "中国的首都是什么？"]
ANSWERS = [["Paris"], ["1903", "in 1903"], ["under the old oak tree"], ["北京"]]


class StubTask(QATask):
    name = "stub-qa"

    def load(self, opts):  # pragma: no cover - not used
        raise NotImplementedError


def tiny_tokenizer(padding_side: str = "right", type_ids: bool = True) -> PreTrainedTokenizerFast:
    """A word-level BERT-style tokenizer (CJK characters split) over the words of the fixtures."""
    words = sorted({w for t in CONTEXTS + QUESTIONS for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3}
    for w in words:
        vocab.setdefault(w, len(vocab))
    for ch in "".join(CONTEXTS + QUESTIONS):
        vocab.setdefault(ch.lower(), len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, handle_chinese_chars=True, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    names = ["input_ids", "token_type_ids", "attention_mask"] if type_ids else ["input_ids", "attention_mask"]
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", padding_side=padding_side, model_input_names=names)


def examples(indices: range | list[int] | None = None) -> datasets.Dataset:
    indices = range(len(CONTEXTS)) if indices is None else indices
    rows = {"id": [], "context": [], "question": [], "answers": []}
    for i in indices:
        starts = [CONTEXTS[i].index(a) for a in ANSWERS[i]]
        rows["id"].append(f"q{i}")
        rows["context"].append(CONTEXTS[i])
        rows["question"].append(QUESTIONS[i])
        rows["answers"].append({"text": ANSWERS[i], "answer_start": starts})
    return datasets.Dataset.from_dict(rows, features=QA_FEATURES)


def perfect_logits(features: datasets.Dataset, exs: datasets.Dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    """Logits that point at the first gold answer in every window holding it (flat elsewhere)."""
    gold = {i: (c, a) for i, c, a in zip(exs["id"], exs["context"], exs["answers"])}
    preds = []
    for example_id, offsets in zip(features["example_id"], features["offset_mapping"]):
        _, answers = gold[example_id]
        s_char = answers["answer_start"][0]
        e_char = s_char + len(answers["text"][0])
        start, end = np.zeros(len(offsets)), np.zeros(len(offsets))
        s_tok = [k for k, o in enumerate(offsets) if o is not None and o[0] == s_char]
        e_tok = [k for k, o in enumerate(offsets) if o is not None and o[1] == e_char]
        if s_tok and e_tok:
            start[s_tok[0]], end[e_tok[0]] = 10.0, 10.0
        preds.append((start, end))
    return preds


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("type_ids", [True, False])
def test_perfect_logits_score_100(padding_side, type_ids):
    task, tok, exs = StubTask(), tiny_tokenizer(padding_side, type_ids), examples()
    features = task.encode(exs, tok, train=False, max_length=384)
    assert ("token_type_ids" in features.column_names) == type_ids
    assert len(features) == len(exs)  # every context fits one window at 384
    preds = perfect_logits(features, exs)
    assert task.answers(preds, features, exs) == [a[0] for a in ANSWERS]
    assert task.score(preds, features, exs, "en") == {"f1": 100.0, "exact_match": 100.0}


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_long_context_is_split_into_windows_and_the_answer_recovered(padding_side):
    task, tok, exs = StubTask(), tiny_tokenizer(padding_side), examples([2])
    features = task.encode(exs, tok, train=False, max_length=96)
    assert len(features) > 2
    assert all(len(ids) <= 96 for ids in features["input_ids"])
    preds = perfect_logits(features, exs)
    assert sum(p[0].max() > 0 for p in preds) >= 1
    assert task.score(preds, features, exs, "en")["exact_match"] == 100.0

    train = task.encode(exs, tok, train=True, max_length=96)
    assert len(train) == len(features)
    inside = [(ids, s, e) for ids, s, e in zip(train["input_ids"], train["start_positions"], train["end_positions"])
              if s != 0]
    # windows without the answer point at CLS, which comes first (nothing is padded when encoding)
    assert all(s == e for s, e in zip(train["start_positions"], train["end_positions"]) if s == 0)
    assert inside, "at least one window holds the answer"
    for ids, s, e in inside:
        assert tok.decode(ids[s:e + 1]) == "under the old oak tree"


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_training_targets_point_at_the_answer(padding_side):
    task, tok, exs = StubTask(), tiny_tokenizer(padding_side), examples()
    train = task.encode(exs, tok, train=True, max_length=384)
    assert set(train.column_names) == {"input_ids", "token_type_ids", "attention_mask",
                                       "start_positions", "end_positions"}
    decoded = [tok.decode(ids[s:e + 1]).replace(" ", "") for ids, s, e in
               zip(train["input_ids"], train["start_positions"], train["end_positions"])]
    assert decoded == [a[0].lower().replace(" ", "") for a in ANSWERS]


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_collator_pads_and_moves_targets_with_left_padding(padding_side):
    task, tok, exs = StubTask(), tiny_tokenizer(padding_side), examples([0, 1])
    train = task.encode(exs, tok, train=True, max_length=384)
    feats = [{k: train[i][k] for k in task.model_columns(train=True)} for i in range(len(train))]
    batch = task.collator(tok)(feats)
    assert batch["input_ids"].shape[0] == 2 and batch["input_ids"].shape == batch["attention_mask"].shape
    for i, f in enumerate(feats):
        s, e = int(batch["start_positions"][i]), int(batch["end_positions"][i])
        assert batch["input_ids"][i, s:e + 1].tolist() == f["input_ids"][f["start_positions"]:f["end_positions"] + 1]


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_predictions_drop_padding(padding_side):
    task, tok = StubTask(), tiny_tokenizer(padding_side)
    batch = tok.pad({"input_ids": [[2, 5, 3], [2, 5, 6, 7, 3]]}, return_tensors="pt")
    logits = torch.arange(10, dtype=torch.float32).reshape(2, 5)
    preds = task.predictions(SimpleNamespace(start_logits=logits, end_logits=-logits), batch)
    assert [len(p[0]) for p in preds] == [3, 5]
    expected_first = [2.0, 3.0, 4.0] if padding_side == "left" else [0.0, 1.0, 2.0]
    assert preds[0][0].tolist() == expected_first
    assert preds[0][1].tolist() == [-x for x in expected_first]


def test_model_columns():
    task = StubTask()
    assert task.model_columns(train=True) == ["input_ids", "attention_mask", "token_type_ids",
                                              "start_positions", "end_positions"]
    assert task.model_columns(train=False) == ["input_ids", "attention_mask", "token_type_ids"]


def test_no_valid_span_gives_an_empty_answer_and_zero_score():
    task, tok, exs = StubTask(), tiny_tokenizer(), examples([0])
    features = task.encode(exs, tok, train=False, max_length=384)
    n = len(features["input_ids"][0])
    start, end = np.zeros(n), np.zeros(n)
    start[0], end[0] = 100.0, 100.0  # CLS: outside the context, never a valid answer
    preds = [(start, end)]
    assert task.answers(preds, features, exs)[0] != ""  # the best *valid* span is used instead
    assert best_span("abc", [((start, end), [None] * n)]) == ""


def test_answer_longer_than_max_answer_length_is_skipped():
    offsets = [None] + [(i, i + 1) for i in range(40)]
    start, end = np.zeros(41), np.zeros(41)
    start[1], end[40] = 10.0, 10.0  # 40 tokens: too long
    end[5] = 5.0
    assert best_span("x" * 40, [((start, end), offsets)]) == "xxxxx"


def test_max_length_too_small_and_slow_tokenizer_are_user_errors():
    task, exs = StubTask(), examples([0])
    with pytest.raises(UserError, match="max-length"):
        task.encode(exs, tiny_tokenizer(), train=True, max_length=32)
    with pytest.raises(UserError, match="fast"):
        task.encode(exs, SimpleNamespace(is_fast=False), train=True, max_length=384)


def test_long_questions_are_cut_to_max_query_length():
    task, tok = StubTask(), tiny_tokenizer()
    long_q = " ".join(["where"] * 100) + " is Paris?"
    exs = examples([0]).map(lambda ex: {"question": long_q})
    features = task.encode(exs, tok, train=False, max_length=96)
    question_tokens = [sum(1 for s in range(len(ids)) if o is None) for ids, o in
                       zip(features["input_ids"], features["offset_mapping"])]
    assert all(q <= task.max_query_length + 3 for q in question_tokens)
    assert task.score(perfect_logits(features, exs), features, exs, "en")["f1"] == 100.0


def window_starts(features: datasets.Dataset, context: str) -> list[int]:
    """The context-token index (here: word index) where each window's context starts."""
    return [len(context[:next(o for o in offsets if o is not None)[0]].split()) for offsets in features["offset_mapping"]]


@pytest.mark.parametrize("mode, starts", [("between-starts", [0, 128, 256, 384, 512, 640]),
                                          ("overlap", [0, 248, 496, 744])])
def test_windows_of_a_1000_token_context_at_384_follow_the_stride_mode(mode, starts):
    """Issue #15, fault 2: XTREME's doc_stride 128 is the distance between window starts (the last window
    reaches the end); HF run_qa's is the overlap of consecutive windows."""
    task, tok = StubTask(), tiny_tokenizer()
    task.stride_mode = mode
    context = " ".join(f"w{i % 150}" for i in range(1000))
    exs = datasets.Dataset.from_dict({"id": ["long"], "context": [context], "question": ["Where is the treasure?"],
                                      "answers": [{"text": ["w0"], "answer_start": [0]}]}, features=QA_FEATURES)
    features = task.encode(exs, tok, train=False, max_length=384)
    assert window_starts(features, context) == starts
    covered = {w for offsets in features["offset_mapping"] for o in offsets if o is not None
               for w in [len(context[:o[0]].split())]}
    assert covered == set(range(1000))  # no context token is skipped
    assert features["truncated"] == [0] * len(starts)


def test_xtreme_windows_depend_on_each_question_s_length():
    task, tok = StubTask(), tiny_tokenizer()
    context = " ".join(f"w{i % 150}" for i in range(1000))
    questions = ["Where is the treasure?", " ".join(["where"] * 100)]  # 5 tokens; cut to 64
    exs = datasets.Dataset.from_dict({"id": ["a", "b"], "context": [context] * 2, "question": questions,
                                      "answers": [{"text": ["w0"], "answer_start": [0]}] * 2}, features=QA_FEATURES)
    features = task.encode(exs, tok, train=False, max_length=384)
    ids = features["example_id"]
    assert ids == sorted(ids, key=["a", "b"].index)  # examples keep their order
    for example_id in ("a", "b"):
        rows = features.select([i for i, e in enumerate(ids) if e == example_id])
        starts = window_starts(rows, context)
        assert [b - a for a, b in itertools.pairwise(starts)] == [128] * (len(starts) - 1)
    assert [t for t, i in zip(features["truncated"], ids) if i == "b"] == [1] * ids.count("b")


def test_unknown_stride_mode_is_a_user_error():
    task = StubTask()
    task.stride_mode = "sideways"
    with pytest.raises(UserError, match="stride mode"):
        task.encode(examples([0]), tiny_tokenizer(), train=False, max_length=384)
