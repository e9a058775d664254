"""Held-out halves, id-based subsamples, few-shot draws and test splits (tasks/_splits.py, finish_task_data)."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from tests.tiny import squad_json, write_grouped_xnli
from xlingual_probe.tasks import DataOptions, get_task
from xlingual_probe.tasks._splits import HALVES, half_of, hash_order, premise_group_keys, subsample_rows
from xlingual_probe.utils.errors import UserError


@pytest.fixture(scope="module")
def xnli_root(tmp_path_factory):
    return write_grouped_xnli(tmp_path_factory.mktemp("xnli-parallel"), n_dev=40, n_test=8)


def halves_by_id(data, lang):
    return dict(zip(data.eval_ids[lang], data.halves[lang]))


def test_halves_are_disjoint_cover_the_set_and_are_about_half(xnli_root):
    data = get_task("xnli").load(DataOptions(data_dir=str(xnli_root)))
    record = data.split_record()
    assert record["unit"] == "premise group" and record["seed"] == 0
    for lang in data.eval:
        selection, reporting = (set(record["languages"][lang][h]) for h in HALVES)
        assert not selection & reporting
        assert selection | reporting == set(data.eval_ids[lang]) and len(data.eval_ids[lang]) == 120
        assert 30 <= len(selection) <= 90  # 40 premise groups of 3 rows, split by a fair hash
        assert len(data.half(lang, "selection")) == len(selection)


def test_premise_groups_are_never_split_and_languages_agree(xnli_root):
    data = get_task("xnli").load(DataOptions(data_dir=str(xnli_root)))
    for lang in data.eval:
        by_premise = defaultdict(set)
        for row, half in zip(data.eval[lang]["text"], data.halves[lang]):
            by_premise[row].add(half)
        assert all(len(halves) == 1 for halves in by_premise.values())
        # parallel row for row: the same row is in the same half in every language
        assert data.halves[lang] == data.halves["en"] and data.eval_ids[lang] == data.eval_ids["en"]
    assert {"selection", "reporting"} == set(data.halves["en"])


def test_premise_groups_follow_the_source_language_and_fall_back_per_language():
    sets = {"en": {"text": ["a", "a", "a", "b", "b", "b"]}, "de": {"text": ["x", "x", "y", "z", "z", "z"]},
            "fr": {"text": ["p", "p", "q"]}}  # de: a translation slip; fr: not parallel (another length)
    keys = premise_group_keys(sets, "en")
    assert keys["de"].units == keys["en"].units == ["premise-0"] * 3 + ["premise-3"] * 3
    assert keys["fr"].units == ["premise-0", "premise-0", "premise-2"]


def test_same_ids_same_halves_whatever_the_subsample_or_seed_of_training(xnli_root):
    full = get_task("xnli").load(DataOptions(data_dir=str(xnli_root)))
    for size in (10, 25, 60):
        small = get_task("xnli").load(DataOptions(data_dir=str(xnli_root), eval_size=size, shot_seed=size))
        for lang in small.eval:
            assert len(small.eval[lang]) == size
            assert small.eval_ids[lang] == small.eval_ids["en"]  # the same ids in every parallel language
            assert all(full_half == halves_by_id(full, lang)[i] for i, full_half in halves_by_id(small, lang).items())
    # a smaller subsample is part of a larger one
    ids10 = get_task("xnli").load(DataOptions(data_dir=str(xnli_root), eval_size=10)).eval_ids["en"]
    assert set(ids10) <= set(get_task("xnli").load(DataOptions(data_dir=str(xnli_root), eval_size=25)).eval_ids["en"])
    # another data seed draws other halves
    other = get_task("xnli").load(DataOptions(data_dir=str(xnli_root), seed=1))
    assert other.halves["en"] != full.halves["en"]


def test_halves_follow_ids_not_row_order(tmp_path):
    rows = squad_json(30, "en", seed=5)
    (tmp_path / "mlqa").mkdir()
    (tmp_path / "tydiqa").mkdir()
    (tmp_path / "tydiqa" / "tydiqa.goldp.en.train.json").write_text(json.dumps(squad_json(5, "en", 1)))
    (tmp_path / "mlqa" / "dev-context-en-question-en.json").write_text(json.dumps(rows))
    first = get_task("mlqa").load(DataOptions(data_dir=str(tmp_path)))
    rows["data"][0]["paragraphs"].reverse()
    (tmp_path / "mlqa" / "dev-context-en-question-en.json").write_text(json.dumps(rows))
    reversed_ = get_task("mlqa").load(DataOptions(data_dir=str(tmp_path)))
    assert first.eval_ids["en"][::-1] == reversed_.eval_ids["en"]
    assert halves_by_id(first, "en") == halves_by_id(reversed_, "en")
    assert first.unit == "example" and first.id_name == "id column"


def test_hash_helpers():
    assert half_of("premise-3", 0) == half_of("premise-3", 0) in HALVES
    assert hash_order(["a", "b", "c"], "x", 1) == hash_order(["a", "b", "c"], "x", 1)
    assert subsample_rows(["a", "b", "c", "d"], [0, 1, 2, 3], None, 0) == [0, 1, 2, 3]
    kept = subsample_rows(["a", "b", "c", "d"], [0, 1, 2, 3], 2, 0)
    assert kept == sorted(kept) and len(kept) == 2
    with pytest.raises(UserError, match="positive"):
        subsample_rows(["a"], [0], 0, 0)


def test_few_shot_is_drawn_per_seed_and_removed_from_both_halves(xnli_root):
    shots = {}
    for seed in (1, 2):
        data = get_task("xnli").load(DataOptions(data_dir=str(xnli_root), few_shot=4, shot_seed=seed))
        shots[seed] = data.shots
        assert set(data.shots) == {"de", "es"} and all(len(ids) == 4 for ids in data.shots.values())
        assert len(data.train) == 96 + 2 * 4
        assert len(data.eval["en"]) == 120  # the source keeps its whole set
        rows = get_task("xnli").load(DataOptions(data_dir=str(xnli_root), test=False)).eval
        for lang, ids in data.shots.items():
            premises = {rows[lang]["text"][int(i)] for i in ids}
            # every row of a shot's premise group left the evaluation set, in both halves
            assert not premises & set(data.eval[lang]["text"])
            assert set(data.eval_ids[lang]).isdisjoint(ids)
            assert len(data.eval[lang]) == 120 - 3 * len(premises)  # the fixture's premises are distinct
            assert halves_by_id(data, lang).items() <= halves_by_id(get_task("xnli").load(
                DataOptions(data_dir=str(xnli_root))), lang).items()
        # the shots do not depend on the evaluation subsample
        small = get_task("xnli").load(DataOptions(data_dir=str(xnli_root), few_shot=4, shot_seed=seed, eval_size=9))
        assert small.shots == data.shots
    assert shots[1] != shots[2]
    assert shots[1]["de"] != shots[1]["es"]  # each language draws its own


def test_xnli_test_split_from_the_sibling_folder(xnli_root):
    data = get_task("xnli").load(DataOptions(data_dir=str(xnli_root)))
    assert list(data.test) == ["en", "de", "es"] and len(data.test["de"]) == 24 and data.test_note is None
    assert sorted(set(data.test["en"]["label"])) == [0, 1, 2]
    sub = get_task("xnli").load(DataOptions(data_dir=str(xnli_root / "xnli"), test_size=6))  # the xnli folder itself
    assert all(len(ds) == 6 for ds in sub.test.values()) and sub.test_ids["de"] == sub.test_ids["en"]
    assert get_task("xnli").load(DataOptions(data_dir=str(xnli_root), test=False)).test == {}


@pytest.mark.parametrize("content, message", [
    ("a premise\ta hypothesis\n", "no label column: test labels are missing or constant"),
    ("a premise\ta hypothesis\t\n", "no label column: test labels are missing or constant"),
    ("p\th1\tcontradiction\np\th2\tcontradiction\n", "every test label is 2: test labels are missing or constant"),
])
def test_stripped_or_constant_test_labels_are_refused(tmp_path, content, message):
    root = write_grouped_xnli(tmp_path, n_dev=4, n_test=2)
    (root / "xnli_test" / "test-de.tsv").write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message) as refused:
        get_task("xnli").load(DataOptions(data_dir=str(root), test=True))
    assert "\n" not in str(refused.value) and "test-de.tsv" in str(refused.value)
    # by default a refused file means no test split, and the run records why
    data = get_task("xnli").load(DataOptions(data_dir=str(root)))
    assert data.test == {} and message in data.test_note


def test_asking_for_a_test_split_a_task_does_not_have(tmp_path):
    root = write_grouped_xnli(tmp_path, n_dev=4, n_test=2)
    for path in (root / "xnli_test").iterdir():
        path.unlink()
    assert get_task("xnli").load(DataOptions(data_dir=str(root))).test == {}
    with pytest.raises(UserError, match="has no labelled test split here"):
        get_task("xnli").load(DataOptions(data_dir=str(root), test=True))


def test_mlqa_and_squad_json_test_files(tmp_path):
    (tmp_path / "mlqa").mkdir()
    (tmp_path / "tydiqa").mkdir()
    (tmp_path / "tydiqa" / "tydiqa.goldp.en.train.json").write_text(json.dumps(squad_json(5, "en", 1)))
    for lang in ("en", "de"):
        (tmp_path / "mlqa" / f"dev-context-{lang}-question-{lang}.json").write_text(json.dumps(squad_json(6, lang, 2)))
        (tmp_path / "mlqa" / f"test-context-{lang}-question-{lang}.json").write_text(json.dumps(squad_json(4, lang, 3)))
    data = get_task("mlqa").load(DataOptions(data_dir=str(tmp_path)))
    assert {lang: len(ds) for lang, ds in data.test.items()} == {"en": 4, "de": 4}
    assert data.test_ids["de"] == data.test["de"]["id"]
    stripped = squad_json(4, "de", 3)
    for paragraph in stripped["data"][0]["paragraphs"]:
        paragraph["qas"][0]["answers"] = []
    (tmp_path / "mlqa" / "test-context-de-question-de.json").write_text(json.dumps(stripped))
    with pytest.raises(UserError, match="has no answers: test labels are missing"):
        get_task("mlqa").load(DataOptions(data_dir=str(tmp_path), test=True))
    # xquad has one labelled split, the evaluation set: no separate test split
    (tmp_path / "xquad").mkdir()
    (tmp_path / "xquad" / "xquad.en.json").write_text(json.dumps(squad_json(6, "en", 2)))
    assert get_task("xquad").load(DataOptions(data_dir=str(tmp_path))).test == {}
