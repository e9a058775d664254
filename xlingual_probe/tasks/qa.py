"""Extractive question answering: sliding-window encoding, n-best span decoding, MLQA scoring.

Raw examples have SQuAD's columns — ``id``, ``context``, ``question`` and ``answers``
(``{"text": [...], "answer_start": [...]}``, character offsets into the context) — one row per
question; the language is the key of the evaluation dict. Every QA benchmark here (MLQA, XQuAD,
TyDiQA-GoldP, any SQuAD-v1.1 JSON; see :mod:`xlingual_probe.tasks.qa_data`) and the synthetic QA
task share this class and only differ in ``load``.

Encoding follows XTREME's SQuAD preprocessing (``third_party/processors/squad.py``, transformers'
``squad_convert_examples_to_features``): question and context form a pair (question first; context
first for tokenizers that pad on the left, as HF does for XLNet), the question is cut to
``max_query_length`` tokens (XTREME's default, 64) so that every window keeps room for context, and a
context longer than a window is cut into overlapping windows whose starts lie ``doc_stride`` (128)
context tokens apart: a 1,000-token context with a 5-token question at ``max_length`` 384 (376
context tokens per window) gives windows starting at tokens 0, 128, 256, 384, 512 and 640, the last
one reaching the end. HF's ``run_qa.py`` passes ``doc_stride`` to the tokenizer as its ``stride``,
which is the *overlap* of consecutive windows (starts 0, 248, 496, 744 in the same case); that
reading is the option ``stride_mode="overlap"`` (``--qa-stride overlap``). A training window whose context does not hold the (first) gold answer
points both targets at the CLS token. Evaluation windows keep ``example_id`` and ``offset_mapping``
(character spans, ``None`` outside the context) for decoding.

Decoding (HF ``postprocess_qa_predictions`` without the null answer): for every window take the
``n_best`` (20) highest start and end logits, keep pairs that lie inside the context, end at or after
the start and span at most ``max_answer_length`` (30) tokens, score them by start + end logit, and
answer each question with the best-scoring span over all its windows. Answers are scored with MLQA's
official F1 / exact match (:mod:`xlingual_probe.tasks.qa_metrics`) using the language's rules.

The CLI should default ``--max-length`` to :attr:`QATask.default_max_length` (384, the SQuAD/XTREME
setting) for QA tasks instead of the 128 used for sentence tasks.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import datasets
import numpy as np

from xlingual_probe.tasks._base import Task
from xlingual_probe.tasks._encoding import tokenize_examples
from xlingual_probe.tasks.qa_metrics import qa_scores
from xlingual_probe.utils.errors import UserError

SpanLogits = tuple[np.ndarray, np.ndarray]
"""Start and end logits of one feature, each of shape ``[n_tokens]`` (padding removed)."""

_INPUT_COLUMNS = ("input_ids", "attention_mask", "token_type_ids")
STRIDE_MODES = ("between-starts", "overlap")
"""What ``doc_stride`` means: XTREME's distance between window starts, or HF ``run_qa.py``'s overlap."""


def window_overlap(room: int, doc_stride: int, mode: str) -> int:
    """The tokenizer's ``stride`` argument (context tokens shared by consecutive windows).

    Args:
        room: context tokens in one window (``max_length`` minus special and question tokens).
        doc_stride: the task's ``doc_stride``.
        mode: one of :data:`STRIDE_MODES`.

    >>> window_overlap(376, 128, "between-starts"), window_overlap(376, 128, "overlap")
    (248, 128)
    >>> window_overlap(100, 128, "between-starts")  # windows that touch, never a gap
    0
    """
    if mode == "between-starts":
        return room - min(doc_stride, room)
    if mode == "overlap":
        # the tokenizer refuses a stride that is not shorter than the context room of a window
        return min(doc_stride, room // 2)
    raise UserError(f"unknown QA stride mode {mode!r}; choose one of: {', '.join(STRIDE_MODES)}")


@dataclass
class QACollator:
    """Pad QA features dynamically; with left padding the span targets move with the tokens.

    Attributes:
        tokenizer: the tokenizer whose ``pad`` (and ``padding_side``) is used.
    """

    tokenizer: Any

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        inputs = [{k: f[k] for k in _INPUT_COLUMNS if k in f} for f in features]
        batch = dict(self.tokenizer.pad(inputs, return_tensors="pt"))
        width = batch["input_ids"].shape[1]
        left = self.tokenizer.padding_side == "left"
        for key in ("start_positions", "end_positions"):
            if key in features[0]:
                batch[key] = torch.tensor([f[key] + (width - len(f["input_ids"]) if left else 0)
                                           for f in features], dtype=torch.long)
        return batch


def best_span(context: str, windows: Sequence[tuple[SpanLogits, Sequence[Any]]], n_best: int = 20,
              max_answer_length: int = 30) -> str:
    """The highest-scoring valid answer span of one question over all its windows.

    Args:
        context: the question's context.
        windows: per window, its (start logits, end logits) and its offset mapping (a
            ``(start_char, end_char)`` pair per token, ``None`` outside the context).
        n_best: how many top start and top end positions are paired per window.
        max_answer_length: longest answer in tokens.

    Returns:
        The answer text (``""`` when no window holds a valid span).

    >>> logits = (np.array([0., 5., 1.]), np.array([0., 1., 5.]))
    >>> best_span("hello world", [(logits, [None, (0, 5), (6, 11)])])
    'hello world'
    """
    best_score, best = -math.inf, ""
    for (start_logits, end_logits), offsets in windows:
        n = min(len(start_logits), len(end_logits), len(offsets))
        starts = np.argsort(start_logits[:n], kind="stable")[::-1][:n_best]
        ends = np.argsort(end_logits[:n], kind="stable")[::-1][:n_best]
        for s in starts:
            if offsets[s] is None:
                continue
            for e in ends:
                if offsets[e] is None or e < s or e - s + 1 > max_answer_length:
                    continue
                score = float(start_logits[s]) + float(end_logits[e])
                if score > best_score:
                    best_score, best = score, context[offsets[s][0]:offsets[e][1]]
    return best


class QATask(Task):
    """Shared encoding, decoding and scoring of extractive QA tasks; subclasses implement ``load``.

    Attributes:
        default_max_length: tokens per window the CLI should use for QA (384).
        doc_stride: tokens between the starts of consecutive windows of a long context (128; at most
            a whole window's context, so no context token is ever skipped).
        stride_mode: ``between-starts`` (XTREME: ``doc_stride`` tokens from one window's start to
            the next) or ``overlap`` (HF ``run_qa.py``: ``doc_stride`` tokens shared by consecutive
            windows, at most half a window's context); see :data:`STRIDE_MODES`.
        max_query_length: questions are cut to this many tokens (64).
        n_best: top start/end positions considered per window when decoding (20).
        max_answer_length: longest predicted answer, in tokens (30).
    """

    head = "qa"
    metric = "f1"
    text_fields = (("question", "question"), ("context", "context"))
    default_max_length: ClassVar[int] = 384
    doc_stride: ClassVar[int] = 128
    stride_mode: str = "between-starts"  # an instance may set another of STRIDE_MODES
    max_query_length: ClassVar[int] = 64
    n_best: ClassVar[int] = 20
    max_answer_length: ClassVar[int] = 30

    def model_columns(self, train: bool) -> list[str]:
        """Model inputs, plus the span targets for training.

        ``token_type_ids`` is listed always but only encoded by tokenizers that make it (not XLM-R's);
        callers keep the listed columns the features actually have.
        """
        return list(_INPUT_COLUMNS) + (["start_positions", "end_positions"] if train else [])

    def collator(self, tokenizer) -> QACollator:
        return QACollator(tokenizer)

    def encode(self, examples: datasets.Dataset, tokenizer, *, train: bool, max_length: int) -> datasets.Dataset:
        """Tokenise question/context pairs into overlapping windows (one feature per window).

        Training features hold the model inputs and ``start_positions``/``end_positions``;
        evaluation features hold the model inputs, ``example_id``, ``offset_mapping`` and
        ``truncated`` (1 when the question was cut to ``max_query_length``; contexts are never cut).

        Raises:
            UserError: for a slow tokenizer (no offsets), a ``max_length`` too small for QA or an
                unknown :attr:`stride_mode`.
        """
        if not getattr(tokenizer, "is_fast", False):
            raise UserError("QA tasks need a fast (Rust) tokenizer for character offsets; "
                            f"{type(tokenizer).__name__} is not one")
        pad_on_right = tokenizer.padding_side != "left"
        specials = tokenizer.num_special_tokens_to_add(pair=True)
        room = max_length - specials - self.max_query_length
        if room < 2:
            raise UserError(f"--max-length {max_length} is too small for QA (questions take up to "
                            f"{self.max_query_length} tokens; use at least 128, default 384)")
        window_overlap(room, self.doc_stride, self.stride_mode)  # an unknown mode fails before any work
        context_index = 1 if pad_on_right else 0

        def tokenize(batch: dict[str, list]) -> dict[str, list]:
            questions, lengths, cut = self._cut_questions(batch["question"], tokenizer)
            # one tokenizer call per distinct stride: with XTREME's meaning it depends on the question's length
            strides = [window_overlap(room if self.stride_mode == "overlap" else max_length - specials - n,
                                      self.doc_stride, self.stride_mode) for n in lengths]
            windows: list[tuple[int, Any, int]] = []  # (example, encoding, window within the encoding)
            for stride in dict.fromkeys(strides):
                members = [i for i, s in enumerate(strides) if s == stride]
                contexts = [batch["context"][i] for i in members]
                asked = [questions[i] for i in members]
                first, second = (asked, contexts) if pad_on_right else (contexts, asked)
                enc = tokenizer(first, second, truncation="only_second" if pad_on_right else "only_first",
                                max_length=max_length, stride=stride, return_overflowing_tokens=True,
                                return_offsets_mapping=True, padding=False)
                windows += [(members[sample], enc, k) for k, sample in enumerate(enc["overflow_to_sample_mapping"])]
            windows.sort(key=lambda w: w[0])  # stable: each example's windows stay in order
            out: dict[str, list] = {k: [enc[k][i] for _, enc, i in windows] for k in _INPUT_COLUMNS
                                    if windows and k in windows[0][1]}
            if train:
                out["start_positions"], out["end_positions"] = [], []
            else:
                out["example_id"], out["offset_mapping"], out["truncated"] = [], [], []
            for sample, enc, i in windows:
                sequence_ids = enc.sequence_ids(i)
                offsets = enc["offset_mapping"][i]
                if train:
                    start, end = self._span_targets(batch["answers"][sample], offsets, sequence_ids,
                                                    context_index, self._cls_index(enc["input_ids"][i], tokenizer))
                    out["start_positions"].append(start)
                    out["end_positions"].append(end)
                else:
                    out["example_id"].append(batch["id"][sample])
                    out["offset_mapping"].append([list(o) if sequence_ids[k] == context_index else None
                                                  for k, o in enumerate(offsets)])
                    out["truncated"].append(int(cut[sample]))
            return out

        return tokenize_examples(examples, tokenize)

    def _cut_questions(self, questions: list[str], tokenizer) -> tuple[list[str], list[int], list[bool]]:
        """Strip leading spaces (they break some tokenizers' truncation) and cut long questions.

        Returns:
            The questions, their lengths in tokens (after the cut) and whether each was cut.
        """
        questions = [q.lstrip() for q in questions]
        enc = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
        cut = [len(offsets) > self.max_query_length for offsets in enc["offset_mapping"]]
        questions = [q[:offsets[self.max_query_length - 1][1]] if long else q
                     for q, offsets, long in zip(questions, enc["offset_mapping"], cut)]
        # the length of the cut text, as the pair encoding will see it
        lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
        return questions, lengths, cut

    @staticmethod
    def _cls_index(input_ids: list[int], tokenizer) -> int:
        cls_id = tokenizer.cls_token_id
        return input_ids.index(cls_id) if cls_id is not None and cls_id in input_ids else 0

    @staticmethod
    def _span_targets(answers: dict[str, list], offsets: list[tuple[int, int]], sequence_ids: list[int | None],
                      context_index: int, cls_index: int) -> tuple[int, int]:
        """Token indices of the first gold answer in this window, or (CLS, CLS) if it is not inside."""
        context = [k for k, s in enumerate(sequence_ids) if s == context_index]
        if not answers["text"] or not context:
            return cls_index, cls_index
        start_char = answers["answer_start"][0]
        end_char = start_char + len(answers["text"][0])
        first, last = context[0], context[-1]
        if offsets[first][0] > start_char or offsets[last][1] < end_char:
            return cls_index, cls_index
        start = first
        while start <= last and offsets[start][0] <= start_char:
            start += 1
        end = last
        while end >= first and offsets[end][1] >= end_char:
            end -= 1
        return start - 1, end + 1

    def predictions(self, outputs, batch: dict[str, Any]) -> list[SpanLogits]:
        """Per feature, its start and end logits without padding (either side), as numpy arrays."""
        mask = batch["attention_mask"].bool().cpu()
        start = outputs.start_logits.detach().float().cpu()
        end = outputs.end_logits.detach().float().cpu()
        return [(start[i][mask[i]].numpy(), end[i][mask[i]].numpy()) for i in range(mask.shape[0])]

    def answers(self, predictions: list[SpanLogits], features: datasets.Dataset,
                examples: datasets.Dataset) -> list[str]:
        """The decoded answer text of every example, in the order of ``examples``."""
        if len(predictions) != len(features):
            raise ValueError(f"{len(predictions)} predictions for {len(features)} features")
        ids = list(examples["id"])
        if len(set(ids)) != len(ids):
            raise ValueError("QA example ids must be unique within an evaluation set (windows are grouped by id)")
        windows: dict[str, list[tuple[SpanLogits, Any]]] = defaultdict(list)
        for pred, example_id, offsets in zip(predictions, features["example_id"], features["offset_mapping"]):
            windows[example_id].append((pred, offsets))
        return [best_span(context, windows.get(example_id, []), self.n_best, self.max_answer_length)
                for example_id, context in zip(ids, examples["context"])]

    def score(self, predictions: list[SpanLogits], features: datasets.Dataset, examples: datasets.Dataset,
              lang: str) -> dict[str, float]:
        """MLQA F1 and exact match (0–100) of the decoded answers, with ``lang``'s normalisation."""
        texts = self.answers(predictions, features, examples)
        gold = [answers["text"] for answers in examples["answers"]]
        return qa_scores(texts, gold, lang)
