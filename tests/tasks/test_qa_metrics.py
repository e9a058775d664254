"""MLQA's official F1 / exact match: language-specific normalisation on crafted cases."""

import pytest

from xlingual_probe.tasks.qa_metrics import (
    exact_match_score,
    f1_score,
    mixed_segmentation,
    normalize_answer,
    qa_scores,
)


@pytest.mark.parametrize(("text", "lang", "expected"), [
    ("The Eiffel Tower", "en", "eiffel tower"),
    ("an apple a day", "en", "apple day"),
    ("el gato y la casa", "en", "el gato y la casa"),  # Spanish articles are not English ones
    ("el gato y la casa", "es", "gato y casa"),
    ("Der Hund und die Katze", "de", "hund und katze"),
    ("the dog", "de", "the dog"),
    ("cái bàn của tôi", "vi", "bàn tôi"),
    ("الكتاب الجديد", "ar", "كتاب جديد"),
    ("the book", "hi", "the book"),  # Hindi: no articles removed
    ("the book", "zh", "the book"),  # Chinese: no articles, Latin words stay whole
    ("«Paris», ¿Qué?", "es", "paris qué"),  # Unicode punctuation removed
    ("北京、上海。", "zh", "北 京 上 海"),
    ("2008年北京奥运会", "zh", "2008 年 北 京 奥 运 会"),
    ("New  York\tcity", "en", "new york city"),
])
def test_normalize_answer_follows_language_rules(text, lang, expected):
    assert normalize_answer(text, lang) == expected


def test_languages_outside_mlqa_get_whitespace_rules():
    assert normalize_answer("The «Кремль»", "ru") == "the кремль"


def test_mixed_segmentation_splits_cjk_characters_and_keeps_latin_words():
    assert mixed_segmentation("用Python写") == ["用", "Python", "写"]


def test_chinese_f1_is_character_level():
    # 4 predicted characters, 2 gold, 2 shared: precision 1/2, recall 1 -> F1 2/3
    assert f1_score("北京大学", "北京", "zh") == pytest.approx(2 / 3)
    # the same strings as one whitespace token each share nothing
    assert f1_score("北京大学", "北京", "en") == 0.0


def test_f1_counts_token_overlap_after_normalisation():
    assert f1_score("the big red dog", "a red dog", "en") == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    assert exact_match_score("The Dog!", "dog", "en") == 1.0


def test_empty_prediction_scores_zero():
    assert f1_score("", "Paris", "en") == 0.0
    assert exact_match_score("", "Paris", "en") == 0.0
    # as in the official script: two answers that normalise to nothing are an exact match with F1 0
    assert exact_match_score("", "the", "en") == 1.0
    assert f1_score("", "the", "en") == 0.0


def test_corpus_scores_take_the_best_gold_answer_and_average():
    scores = qa_scores(
        ["Paris", "the dog", "北京大学", ""],
        [["London", "Paris"], ["cat", "a dog"], ["北京"], ["anything"]],
        "zh",
    )
    # zh keeps English articles, so "the dog" vs "a dog": 1 of 2 tokens each -> F1 0.5
    assert scores["exact_match"] == pytest.approx(100 * 1 / 4)
    assert scores["f1"] == pytest.approx(100 * (1 + 0.5 + 2 / 3 + 0) / 4)


def test_qa_scores_checks_lengths():
    with pytest.raises(ValueError):
        qa_scores(["a"], [["a"], ["b"]], "en")
