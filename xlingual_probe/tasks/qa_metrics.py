"""Extractive-QA F1 and exact match with MLQA's language-specific normalisation.

SQuAD's official metric normalises answers for English only: lower-case, drop ASCII punctuation and
the articles *a/an/the*, split on whitespace. Applied to other languages it is unfair in two ways:
punctuation such as ``«»、。`` survives, and a Chinese answer (no spaces) becomes a single token, so
F1 collapses to exact match. MLQA's official evaluation script (``mlqa_evaluation_v1.py`` in
facebookresearch/MLQA) fixes both, and this module reproduces it rule for rule, in the script's order:

1. lower-case;
2. remove punctuation: ``string.punctuation`` plus every Unicode character whose category starts
   with ``P`` (the script enumerates ``range(sys.maxunicode)``; so do we, once, lazily);
3. remove articles by language — en: ``a|an|the``; es: ``un|una|unos|unas|el|la|los|las``;
   vi: ``của|là|cái|chiếc|những``; de: ``ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des``
   (all as ``\\b(...)\\b``); ar: the regex ``\\sال^|ال`` (in effect: every ``ال`` is removed, wherever it
   occurs, as in the script); hi and zh: none;
4. tokenise: Chinese by *mixed segmentation* (every CJK character ``[\\u4e00-\\u9fa5]`` and every
   punctuation character is its own token, runs of other characters are split on whitespace), every
   other language on whitespace.

F1 is the bag-of-tokens overlap F1 between prediction and one gold answer (0 when nothing overlaps,
even if both are empty, as in the script), EM is equality of the normalised strings; each question
takes the maximum over its gold answers and the corpus scores are means times 100.

Languages the MLQA script does not know (it raises for them; XQuAD's el ru tr th ro and TyDiQA's
bn fi id ko ru sw te) get no article removal and whitespace tokenisation — the same treatment the
script gives Hindi. (XTREME scores XQuAD/TyDiQA with SQuAD's English-only script instead; our choice
keeps one rule set for every language and only differs from it in articles and Unicode punctuation.)
"""

from __future__ import annotations

import functools
import re
import string
import sys
import unicodedata
from collections import Counter
from collections.abc import Sequence

ARTICLE_PATTERNS: dict[str, str] = {
    "en": r"\b(a|an|the)\b",
    "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
    "vi": r"\b(của|là|cái|chiếc|những)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
    "ar": r"\sال^|ال",
}
"""Article regexes per language (replaced by a space); languages not listed have none."""

MIXED_SEGMENTATION_LANGS = frozenset({"zh"})
_CJK = re.compile(r"[\u4e00-\u9fa5]")


@functools.cache
def punctuation() -> frozenset[str]:
    """``string.punctuation`` plus every Unicode character of a ``P*`` category (computed once)."""
    unicode_punct = {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}
    return frozenset(unicode_punct.union(string.punctuation))


def whitespace_tokenize(text: str) -> list[str]:
    return text.split()


def mixed_segmentation(text: str) -> list[str]:
    """Split CJK characters and punctuation into single-character tokens, the rest on whitespace.

    >>> mixed_segmentation("北京 is 大学")
    ['北', '京', 'is', '大', '学']
    """
    punct = punctuation()
    segs: list[str] = []
    pending = ""
    for char in text:
        if _CJK.search(char) or char in punct:
            if pending:
                segs.extend(whitespace_tokenize(pending))
                pending = ""
            segs.append(char)
        else:
            pending += char
    if pending:
        segs.extend(whitespace_tokenize(pending))
    return segs


def normalize_answer(text: str, lang: str) -> str:
    """Normalise an answer string with MLQA's rules for ``lang`` (tokens joined by single spaces).

    >>> normalize_answer("The «Eiffel» Tower!", "en")
    'eiffel tower'
    >>> normalize_answer("北京大学。", "zh")
    '北 京 大 学'
    """
    punct = punctuation()
    text = text.lower()
    text = "".join(ch for ch in text if ch not in punct)
    if lang in ARTICLE_PATTERNS:
        text = re.sub(ARTICLE_PATTERNS[lang], " ", text)
    tokens = mixed_segmentation(text) if lang in MIXED_SEGMENTATION_LANGS else whitespace_tokenize(text)
    return " ".join(t for t in tokens if t.strip() != "")


def f1_score(prediction: str, ground_truth: str, lang: str) -> float:
    """Token-overlap F1 (0–1) of one prediction against one gold answer."""
    pred_tokens = normalize_answer(prediction, lang).split()
    gold_tokens = normalize_answer(ground_truth, lang).split()
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match_score(prediction: str, ground_truth: str, lang: str) -> float:
    """1.0 if prediction and gold answer normalise to the same string, else 0.0."""
    return float(normalize_answer(prediction, lang) == normalize_answer(ground_truth, lang))


def qa_scores(predictions: Sequence[str], gold_answers: Sequence[Sequence[str]], lang: str) -> dict[str, float]:
    """Corpus F1 and exact match (0–100), each question scored against its best gold answer.

    Args:
        predictions: one predicted answer string per question.
        gold_answers: the gold answer strings of each question (at least one each).
        lang: language whose normalisation rules apply.

    Returns:
        ``{"f1": ..., "exact_match": ...}``.

    Raises:
        ValueError: if the two sequences differ in length or a question has no gold answer.

    >>> qa_scores(["the cat", "dog"], [["cat"], ["a dog", "dogs"]], "en")
    {'f1': 100.0, 'exact_match': 100.0}
    """
    if len(predictions) != len(gold_answers):
        raise ValueError(f"{len(predictions)} predictions for {len(gold_answers)} questions")
    if not predictions:
        return {"f1": 0.0, "exact_match": 0.0}
    f1 = em = 0.0
    for prediction, golds in zip(predictions, gold_answers):
        if not golds:
            raise ValueError("every question needs at least one gold answer")
        f1 += max(f1_score(prediction, gold, lang) for gold in golds)
        em += max(exact_match_score(prediction, gold, lang) for gold in golds)
    n = len(predictions)
    return {"f1": 100.0 * f1 / n, "exact_match": 100.0 * em / n}
