"""Labels of the synthetic tasks match the meanings they were generated from; the tasks load and encode."""

from __future__ import annotations

from collections import Counter

import pytest

from xlingual_probe.synthetic import NER_LABELS, build_tokenizer
from xlingual_probe.synthetic.examples import (
    ner_examples,
    nli_examples,
    nli_meanings,
    qa_examples,
    qa_meanings,
)
from xlingual_probe.synthetic.world import ADVERBS, WorldConfig, build_world
from xlingual_probe.tasks import DataOptions
from xlingual_probe.tasks._base import TASKS
from xlingual_probe.tasks.synthetic import SyntheticNERTask, SyntheticNLITask, SyntheticQATask
from xlingual_probe.utils.errors import UserError


def _triple(fact):
    return fact.subject, fact.relation, fact.object


def test_nli_label_matches_the_meaning_relation(world):
    meanings = nli_meanings(world, "validation", 300)
    assert [label for *_, label in meanings].count(0) == 100
    for premise, hyp, label in meanings:
        stated = [s for s in premise if _triple(s.fact) == _triple(hyp.fact)]
        assert len(stated) == 1 and not any(s.fact.negated for s in premise)
        stated = stated[0]
        if label == 0:  # the same fact at the same time
            assert hyp == stated
        elif label == 2:  # denied, at the premise's time if it gives one
            assert hyp.fact.negated and hyp.adverb == stated.adverb
        else:  # a time the premise does not give
            assert not hyp.fact.negated and stated.adverb is None and hyp.adverb is not None


def _best_single_sentence_accuracy(features_and_labels) -> float:
    """Accuracy of the best classifier that sees only the given features (majority label per value)."""
    counts = Counter(features_and_labels)
    best = Counter()
    for (feature, _), count in counts.items():
        best[feature] = max(best[feature], count)
    return sum(best.values()) / sum(counts.values())


def test_nli_label_needs_the_premise_and_the_hypothesis(world):
    meanings = nli_meanings(world, "train", 3000)
    by_hypothesis = [((h.fact.negated, h.adverb is not None), label) for _, h, label in meanings]
    by_premise = [(tuple(s.adverb for s in premise), label) for premise, _, label in meanings]
    assert _best_single_sentence_accuracy(by_hypothesis) == pytest.approx(2 / 3, abs=0.02)
    assert _best_single_sentence_accuracy(by_premise) == pytest.approx(2 / 3, abs=0.02)
    both = [((p, h), label) for (p, label), (h, _) in zip(by_premise, by_hypothesis)]
    assert _best_single_sentence_accuracy(both) == 1


def test_nli_premises_add_an_unrelated_fact_half_of_the_time_if_asked():
    assert all(len(p) == 1 for p, _, _ in nli_meanings(build_world(WorldConfig(nli_premise_facts=1)), "train", 300))
    meanings = nli_meanings(build_world(WorldConfig(nli_premise_facts=2)), "train", 1000)
    two = [premise for premise, _, _ in meanings if len(premise) == 2]
    assert 0.4 < len(two) / len(meanings) < 0.6 and all(len(p) <= 2 for p, _, _ in meanings)
    assert all(sum(s.adverb is not None for s in premise) <= 1 for premise in two)
    with pytest.raises(ValueError, match="nli_premise_facts"):
        build_world(WorldConfig(nli_premise_facts=3))


@pytest.mark.parametrize("lang", ["en", "n5"])
def test_nli_text_realises_the_meaning(world, lang):
    rows = nli_examples(world, "validation", 30, lang)
    for row, (premise, hyp, label) in zip(rows, nli_meanings(world, "validation", 30)):
        assert row["label"] == label
        assert row["text_pair"] == " ".join(world.realise(hyp.fact, lang, synonym=hyp.synonym,
                                                          adverb=hyp.adverb).words) + "."
        if hyp.fact.negated:
            assert world.word("not", lang) in row["text_pair"][:-1].split()


@pytest.mark.parametrize("premise_facts", [1, 2])
def test_nli_entailment_restates_contradiction_denies_neutral_adds_a_time(premise_facts):
    world = build_world(WorldConfig(nli_premise_facts=premise_facts))
    rows = nli_examples(world, "train", 600, "en")
    neg, and_ = world.word("not", "en"), world.word("and", "en")
    adverbs = {world.word(a, "en") for a in ADVERBS}
    for row in rows:
        premise, hyp = row["text"][:-1].split(), row["text_pair"][:-1].split()
        clauses = [c.split() for c in " ".join(premise).split(f" {and_} ")]
        if row["label"] == 0:
            assert hyp in clauses
        elif row["label"] == 2:
            assert neg in hyp and [w for w in hyp if w != neg] in clauses
        else:
            assert hyp[-1] in adverbs and hyp[:-1] in clauses and not adverbs & set(premise)


@pytest.mark.parametrize("lang", ["en", "n3", "n5"])
def test_ner_tags_align_with_entity_names(world, lang):
    names = {tuple(world.name_words(e, lang)): world.entity_types[e] for e in range(len(world.entity_types))}
    for row in ner_examples(world, "validation", 100, lang):
        tags = [NER_LABELS[t] for t in row["ner_tags"]]
        assert len(tags) == len(row["tokens"])
        i, found = 0, 0
        while i < len(tags):
            if tags[i].startswith("B-"):
                etype, j = tags[i][2:], i + 1
                while j < len(tags) and tags[j] == f"I-{etype}":
                    j += 1
                assert names.get(tuple(row["tokens"][i:j])) == etype
                found += 1
                i = j
            else:
                assert not tags[i].startswith("I-")
                i += 1
        assert found >= 2


@pytest.mark.parametrize("lang", ["en", "n4", "n5"])
def test_qa_answer_start_points_at_the_answer(world, lang):
    rows = qa_examples(world, "validation", 100, lang)
    for row, (said, asked, role, _) in zip(rows, qa_meanings(world, "validation", 100)):
        text, start = row["answers"]["text"][0], row["answers"]["answer_start"][0]
        assert row["context"][start:start + len(text)] == text
        assert text == " ".join(world.name_words(getattr(said[asked].fact, role), lang))
        assert row["question"].endswith("?")
        wh = {world.word(w, lang) for w in ("who", "where", "what")}
        assert wh & set(row["question"][:-1].split())


@pytest.mark.parametrize("name", ["synthetic-nli", "synthetic-ner", "synthetic-qa"])
def test_tasks_are_registered_and_load(name):
    task = TASKS.get(name)()
    data = task.load(DataOptions(train_size=40, eval_size=10, langs=["n5", "n1"], few_shot=2))
    assert list(data.eval) == ["en", "n5", "n1"]
    assert len(data.train) == 44 and all(len(ds) == 10 for ds in data.eval.values())
    tok = build_tokenizer()
    features = task.encode(data.eval["n5"], tok, train=False, max_length=128)
    assert len(features) >= 10
    train = task.encode(data.train, tok, train=True, max_length=128)
    assert len(train) >= 44


def test_task_options_are_checked():
    with pytest.raises(UserError):
        SyntheticNLITask().load(DataOptions(langs=["de"]))


def test_test_split_differs_from_validation():
    opts = DataOptions(train_size=10, eval_size=10, langs=["n1"])
    data = SyntheticNERTask().load(opts)
    assert list(data.test) == ["en", "n1"] and len(data.test["n1"]) == 10  # the evaluation size by default
    assert data.eval["n1"]["tokens"] != data.test["n1"]["tokens"]
    assert len(SyntheticNERTask().load(DataOptions(train_size=10, eval_size=10, test_size=4)).test["en"]) == 4
    assert SyntheticNERTask().load(DataOptions(train_size=10, eval_size=10, test=False)).test == {}
    assert SyntheticQATask().load(opts).labels is None
