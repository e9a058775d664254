"""Downstream examples of the synthetic world in the schemas of XNLI, PAN-X and MLQA.

Every split is generated as a list of *meanings* first (facts plus the realisation choices:
synonym, adverb, which argument is asked), from a seed that depends on the world seed, the task
and the split only. Each language then realises the same meanings, so evaluation sets are
parallel across languages, like XNLI's and MLQA's translated dev sets.

* NLI (labels ``entailment``/``neutral``/``contradiction``): the premise states a fact, at a time
  (a time adverb) or not; the hypothesis restates it at the same time (entailment), denies it
  (contradiction), or adds a time the premise does not give (neutral: the premise says nothing about
  when). Neither sentence alone decides more than 2/3 of the labels (see :func:`nli_meanings`).
  The label rests on what monolingual MLM teaches this encoder (negation and time adverbs as word
  classes); tasks that need names or verbs matched across the two sentences were not learnable in
  a one-minute fine-tuning (``analyses/synthetic-nli``).
* NER: one or two facts per sentence, words tagged IOB2 with PER/ORG/LOC (organisation nouns are
  part of the organisation's name, locative prepositions are ``O``).
* QA: a context of 3–4 affirmative facts; the question asks for the subject or the object of one
  of them, through a verb chosen independently of the context's; the answer (the entity's name)
  is unique in the context by construction.

>>> from xlingual_probe.synthetic.world import build_world, WorldConfig
>>> world = build_world(WorldConfig())
>>> rows = nli_examples(world, "validation", 3, "en")
>>> sorted(rows[0])
['label', 'text', 'text_pair']
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from xlingual_probe.synthetic.world import ADVERBS, Fact, World, sentence_text

NLI_LABELS = ["entailment", "neutral", "contradiction"]  # XNLI's order
NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]  # PAN-X's order
NEGATION_RATE = 0.3
ADVERB_RATE = 0.4


@dataclass(frozen=True)
class Said:
    """A fact with its realisation choices (synonym index, adverb key or None)."""

    fact: Fact
    synonym: int
    adverb: str | None


def _split_rng(world: World, task: str, split: str) -> random.Random:
    return random.Random(f"{task}:{world.config.seed}:{split}")


def _said(rng: random.Random, fact: Fact) -> Said:
    return Said(fact, rng.randrange(2), rng.choice(ADVERBS) if rng.random() < ADVERB_RATE else None)


def _triple(fact: Fact) -> tuple[int, int, int]:
    return fact.subject, fact.relation, fact.object


def _distinct_facts(world: World, rng: random.Random, k: int, negation_rate: float,
                    besides: tuple[Fact, ...] = ()) -> list[Fact]:
    """``k`` random facts whose (subject, relation, object) differ from each other and from ``besides``."""
    facts = list(besides)
    while len(facts) < len(besides) + k:
        fact = world.random_fact(rng, negated=rng.random() < negation_rate)
        if all(_triple(fact) != _triple(f) for f in facts):
            facts.append(fact)
    return facts[len(besides):]


def nli_meanings(world: World, split: str, n: int) -> list[tuple[list[Said], Said, int]]:
    """``n`` (premise, hypothesis, label id) meanings; labels cycle so classes are balanced.

    The hypothesis is about the premise's fact ``f`` (affirmative, with a time adverb ``a`` or none):
    entailment restates ``f`` and ``a``; contradiction denies ``f`` (keeping ``a`` if the premise has
    it, which it does half of the time); neutral states ``f`` at time ``a`` when the premise gives no
    time. So entailment premises always have an adverb and neutral ones never, every affirmative
    hypothesis has one, every negated one is a contradiction: the hypothesis alone and the premise
    alone each decide 2/3 of the labels, both together all of them. With ``nli_premise_facts`` = 2,
    half of the premises add a second, unrelated fact (no adverb) before or after ``f``.
    """
    rng = _split_rng(world, "nli", split)
    out = []
    for i in range(n):
        label = i % 3
        fact = world.random_fact(rng)
        adverb = rng.choice(ADVERBS)
        dated = label == 0 or (label == 2 and rng.random() < 0.5)
        stated = Said(fact, rng.randrange(2), adverb if dated else None)
        if label == 0:
            hyp = stated
        elif label == 1:
            hyp = replace(stated, adverb=adverb)
        else:
            hyp = replace(stated, fact=replace(fact, negated=True))
        premise = [stated]
        if world.config.nli_premise_facts > 1 and rng.random() < 0.5:
            other = _distinct_facts(world, rng, 1, 0.0, besides=(fact,))[0]
            premise.insert(rng.randrange(2), Said(other, rng.randrange(2), None))
        out.append((premise, hyp, label))
    return out


def nli_examples(world: World, split: str, n: int, lang: str) -> list[dict]:
    """Rows ``{"text", "text_pair", "label"}`` of one language (XNLI's schema)."""
    rows = []
    for premise, hyp, label in nli_meanings(world, split, n):
        clauses = [world.realise(s.fact, lang, synonym=s.synonym, adverb=s.adverb) for s in premise]
        text = sentence_text(world.conjoin(clauses, lang).words)
        pair = sentence_text(world.realise(hyp.fact, lang, synonym=hyp.synonym, adverb=hyp.adverb).words)
        rows.append({"text": text, "text_pair": pair, "label": label})
    return rows


def ner_examples(world: World, split: str, n: int, lang: str) -> list[dict]:
    """Rows ``{"tokens", "ner_tags"}`` of one language (PAN-X's schema, tag ids into NER_LABELS)."""
    rng = _split_rng(world, "ner", split)
    rows = []
    for _ in range(n):
        said = [_said(rng, f) for f in _distinct_facts(world, rng, rng.choice([1, 2]), NEGATION_RATE)]
        clause = world.conjoin([world.realise(s.fact, lang, synonym=s.synonym, adverb=s.adverb)
                                for s in said], lang)
        tags = ["O"] * len(clause.words)
        for ent, start, end in clause.spans:
            etype = world.entity_types[ent]
            tags[start:end] = [f"B-{etype}"] + [f"I-{etype}"] * (end - start - 1)
        rows.append({"tokens": clause.words + ["."],
                     "ner_tags": [NER_LABELS.index(t) for t in tags] + [0]})
    return rows


def qa_meanings(world: World, split: str, n: int) -> list[tuple[list[Said], int, str, int]]:
    """``n`` (context facts, index of the asked fact, asked role, question synonym) meanings."""
    rng = _split_rng(world, "qa", split)
    out = []
    while len(out) < n:
        facts = _distinct_facts(world, rng, rng.choice([3, 4]), 0.0)
        asked = rng.randrange(len(facts))
        role = rng.choice(["subject", "object"])
        other = "object" if role == "subject" else "subject"
        key = (facts[asked].relation, getattr(facts[asked], other))
        # the question (relation + the other argument) must pick out one fact of the context
        if sum((f.relation, getattr(f, other)) == key for f in facts) != 1:
            continue
        out.append(([_said(rng, f) for f in facts], asked, role, rng.randrange(2)))
    return out


def qa_examples(world: World, split: str, n: int, lang: str) -> list[dict]:
    """Rows ``{"id", "context", "question", "answers"}`` of one language (MLQA's schema)."""
    rows = []
    for i, (said, asked, role, synonym) in enumerate(qa_meanings(world, split, n)):
        sentences, answer_start, answer_text = [], -1, ""
        offset = 0
        for j, s in enumerate(said):
            clause = world.realise(s.fact, lang, synonym=s.synonym, adverb=s.adverb)
            text = sentence_text(clause.words)
            if j == asked:
                answer = getattr(s.fact, role)
                start, end = next((a, b) for ent, a, b in clause.spans if ent == answer)
                answer_text = " ".join(clause.words[start:end])
                answer_start = offset + len(" ".join(clause.words[:start])) + (1 if start else 0)
            sentences.append(text)
            offset += len(text) + 1
        question = world.realise(said[asked].fact, lang, synonym=synonym, ask=role)
        rows.append({"id": f"{split}-{i}-{lang}", "context": " ".join(sentences),
                     "question": sentence_text(question.words, "?"),
                     "answers": {"text": [answer_text], "answer_start": [answer_start]}})
    return rows
