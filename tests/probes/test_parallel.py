"""Parallel samples: detection and refusal, deduplication, few-shot removal, ids."""

import json
from pathlib import Path

import datasets
import pytest

from xlingual_probe.probes.parallel import ParallelSample, parallel_sample, repeat_agreement
from xlingual_probe.tasks import DataOptions, TaskData, get_task
from xlingual_probe.utils import UserError

SHARED_XNLI = Path(__file__).resolve().parents[3] / "shared" / "data" / "xnli"


@pytest.fixture(scope="module")
def parallel_xnli(parallel_data):
    return parallel_data / "xnli"


def load(task, data_dir, **opts):
    return get_task(task).load(DataOptions(data_dir=str(data_dir), **opts))


def test_xnli_sample_same_rows_in_every_language_premises_once(parallel_xnli):
    data = load("xnli", parallel_xnli)
    sample = parallel_sample(get_task("xnli"), data, size=20, seed=3)
    assert sample.field == "premise" and sample.column == "text" and sample.parallel == "rows"
    assert sample.pairs["de"] == sample.pairs["es"] == sample.keys["en"] and len(sample.pairs["de"]) == 20
    assert len(set(sample.texts["en"])) == 20  # repeated premises count once
    _, tgt = sample.pair_indices("de")
    premises = data.eval["de"]["text"]
    assert all(sample.texts["de"][j] == premises[int(key)] for j, key in zip(tgt, sample.pairs["de"]))
    # the seed changes the sample, not its size; the same seed gives the same sample
    assert parallel_sample(get_task("xnli"), data, size=20, seed=3) == sample
    assert parallel_sample(get_task("xnli"), data, size=20, seed=4).pairs != sample.pairs
    hypotheses = parallel_sample(get_task("xnli"), data, field="hypothesis", size=500)
    assert hypotheses.column == "text_pair" and len(hypotheses.pairs["de"]) <= 48


def test_few_shot_rows_leave_every_language(parallel_xnli):
    full = load("xnli", parallel_xnli)
    shot = load("xnli", parallel_xnli, few_shot=5)
    # each target language draws its own shots (tasks._splits); their premise groups leave its dev set
    moved = {lang: set(range(48)) - set(shot.eval_rows[lang]) for lang in ("de", "es")}
    for lang, rows in moved.items():
        assert {int(i) for i in shot.shots[lang]} <= rows and len(rows) >= 5
    assert len(shot.eval_rows["en"]) == 48  # the source keeps its dev set
    sample = parallel_sample(get_task("xnli"), shot, size=100)
    # a row trained on in any language is left out of every language's sample
    assert not {int(k) for keys in sample.keys.values() for k in keys} & (moved["de"] | moved["es"])
    assert len(parallel_sample(get_task("xnli"), full, size=100).keys["en"]) > len(sample.keys["en"])


def test_rows_survive_subsampling(parallel_xnli):
    data = load("xnli", parallel_xnli, eval_size=20)
    assert data.eval_rows["en"] == data.eval_rows["de"] and len(data.eval_rows["en"]) == 20
    premises = load("xnli", parallel_xnli).eval["de"]["text"]
    assert data.eval["de"]["text"] == [premises[r] for r in data.eval_rows["de"]]
    assert data.split_sizes == {"en": 48, "de": 48, "es": 48}


def test_non_parallel_sets_are_refused_with_one_line(tiny_data):
    # the tiny fixture's dev sets are independent draws per language: their repeats do not coincide
    with pytest.raises(UserError, match="not translations of each other") as err:
        parallel_sample(get_task("xnli"), load("xnli", tiny_data), size=10)
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="not parallel.*--parallel"):
        parallel_sample(get_task("panx"), load("panx", tiny_data), size=10)
    with pytest.raises(UserError, match="no example id of de, es is shared with en"):
        parallel_sample(get_task("mlqa"), load("mlqa", tiny_data), size=10)


def test_declared_parallel_rows_are_checked(tmp_path):
    task = get_task("classification")
    same = {lang: datasets.Dataset.from_dict({"text": [f"{w}{lang}" for w in "abcdefgh"], "label": [0] * 8})
            for lang in ("en", "de")}
    data = TaskData(train=same["en"], eval=same)
    with pytest.raises(UserError, match="not parallel.*--parallel"):
        parallel_sample(task, data)
    assert len(parallel_sample(task, data, declared_parallel=True).pairs["de"]) == 8
    uneven = TaskData(train=same["en"], eval=same, split_sizes={"en": 8, "de": 9})
    with pytest.raises(UserError, match="differ in size"):
        parallel_sample(task, uneven, declared_parallel=True)
    with pytest.raises(UserError, match="no text field 'premise'"):
        parallel_sample(task, data, field="premise", declared_parallel=True)


def test_ids_pair_per_target_and_skip_trained_ids():
    questions = {"en": {f"q{i}": f"question {i}" for i in range(10)},
                 "de": {f"q{i}": f"frage {i}" for i in range(0, 10, 2)},  # MLQA: fewer in each target
                 "es": {f"q{i}": f"pregunta {i}" for i in range(5)}}

    def qa(rows):
        return datasets.Dataset.from_dict({"id": list(rows), "question": list(rows.values()),
                                           "context": ["c"] * len(rows)})

    train = datasets.Dataset.from_dict({"id": ["q0", "t1"], "question": ["x", "y"], "context": ["c", "c"]})
    data = TaskData(train=train, eval={lang: qa(rows) for lang, rows in questions.items()})
    sample = parallel_sample(get_task("mlqa"), data, size=100)
    assert sample.parallel == "ids"
    assert set(sample.pairs["de"]) == {"q2", "q4", "q6", "q8"}  # q0 was trained on (few-shot)
    assert set(sample.pairs["es"]) == {"q1", "q2", "q3", "q4"}
    assert set(sample.keys["en"]) == {"q1", "q2", "q3", "q4", "q6", "q8"}
    src, tgt = sample.pair_indices("de")
    assert [sample.texts["en"][i].split()[-1] for i in src] == [sample.texts["de"][j].split()[-1] for j in tgt]


def test_repeat_agreement_and_from_texts():
    assert repeat_agreement(["a", "b"], ["A", "B"]) == (None, 0)
    assert repeat_agreement(["a", "a", "b", "b"], ["A", "A", "B", "C"]) == (0.5, 4)
    with pytest.raises(UserError, match="same length"):
        ParallelSample.from_texts({"en": ["a", "b"], "de": ["A"]})
    with pytest.raises(UserError, match="too few distinct"):
        ParallelSample.from_texts({"en": ["a", "a", "b", "b"], "de": ["A", "A", "B", "B"]})
    with pytest.raises(UserError, match="target language"):
        ParallelSample.from_texts({"en": ["a", "b", "c", "d"]})
    sample = ParallelSample.from_texts({"en": list("abcdef"), "de": list("ABCDEF")}, size=4)
    assert json.loads(json.dumps(sample.describe()))["n"] == {"de": 4}


@pytest.mark.skipif(not SHARED_XNLI.is_dir(), reason="needs ../shared/data/xnli")
def test_real_xnli_dev_passes_the_repeat_check():
    # 15-way parallel, but Urdu's dev file gives two different English premises (3 rows each) the same text
    data = get_task("xnli").load(DataOptions(data_dir=str(SHARED_XNLI), langs=["ur", "de"]))
    share, involved = repeat_agreement(data.eval["en"]["text"], data.eval["ur"]["text"])
    assert involved == 2490 and share == pytest.approx(2484 / 2490)
    assert repeat_agreement(data.eval["en"]["text"], data.eval["de"]["text"]) == (1.0, 2490)
    sample = parallel_sample(get_task("xnli"), data, size=256)
    assert {len(keys) for keys in sample.pairs.values()} == {256}
