"""Downstream examples of the synthetic world in the schemas of XNLI, PAN-X and MLQA.

Every split is generated as a list of *meanings* first (facts plus the realisation choices:
synonym, adverb, which argument is asked), from a seed that depends on the world seed, the task
and the split only. Each language then realises the same meanings, so evaluation sets are
parallel across languages, like XNLI's and MLQA's translated dev sets.

* NLI (labels ``entailment``/``neutral``/``contradiction``): the premise states one fact (up to
  ``WorldConfig.nli_premise_facts``; affirmative); the hypothesis restates it with the same words
  (entailment), denies it (contradiction), or keeps its relation but changes its subject or its
  object to an entity whose name shares no word with the replaced one, so that the premise says
  nothing about it (neutral; negated half of the time). The hypothesis alone decides at most 2/3
  of the labels (negation is the artefact, as in real NLI data). The new name may have another number
  of syllables (tokens) than the old one: fine-tuned encoders of this world recognise neutral pairs by
  that length difference, not by matching names (``analyses/synthetic-nli``); with same-shape names
  they stay on the 2/3 shortcut. Paraphrase (the other synonym,
  a dropped adverb) was removed: it made the task unlearnable in a one-minute fine-tuning.
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

from xlingual_probe.synthetic.world import ADVERBS, ORG_NOUNS, Fact, World, sentence_text

NLI_LABELS = ["entailment", "neutral", "contradiction"]  # XNLI's order
NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]  # PAN-X's order
NEGATION_RATE = 0.3
NLI_NEGATION_RATE = 0.5  # of neutral hypotheses (with 0, fine-tuning stuck on the negation shortcut)
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


def _distinct_facts(world: World, rng: random.Random, k: int, negation_rate: float) -> list[Fact]:
    facts: list[Fact] = []
    while len(facts) < k:
        fact = world.random_fact(rng, negated=rng.random() < negation_rate)
        if all(_triple(fact) != _triple(f) for f in facts):
            facts.append(fact)
    return facts


def _other_entity(world: World, rng: random.Random, entity: int) -> int:
    """An entity of the same type whose name shares no word with ``entity``'s (organisation nouns aside)."""
    names = set(world.entity_names[entity]) - set(ORG_NOUNS)
    while True:
        other = rng.choice(world.entities_of(world.entity_types[entity]))
        if not names & set(world.entity_names[other]):
            return other


def _neutral_variant(world: World, rng: random.Random, fact: Fact, premise: list[Fact]) -> Fact:
    """Same relation, another subject or object (a name sharing no word with the replaced one), so
    the premise says nothing about the hypothesis."""
    taken = {_triple(f) for f in premise}
    while True:
        role = rng.choice(["subject", "object"])
        new = replace(fact, **{role: _other_entity(world, rng, getattr(fact, role))},
                      negated=rng.random() < NLI_NEGATION_RATE)
        if new.subject != new.object and _triple(new) not in taken:
            return new


def nli_meanings(world: World, split: str, n: int) -> list[tuple[list[Said], Said, int]]:
    """``n`` (premise, hypothesis, label id) meanings; labels cycle so classes are balanced.

    Premises are affirmative; a hypothesis is negated in every contradiction and in half of the
    neutral pairs, so the hypothesis alone decides at most 2/3 of the labels (like the negation
    artefact of real NLI data) and the premise is needed for the rest. (With negated premises too,
    the label depends on the parity of two negations, which this encoder did not learn in a
    one-minute fine-tuning.)
    """
    rng = _split_rng(world, "nli", split)
    out = []
    for i in range(n):
        label = i % 3
        premise = [_said(rng, f) for f in _distinct_facts(world, rng, rng.randint(1, world.config.nli_premise_facts),
                                                   0.0)]
        target = rng.choice(premise)
        if label == 0:
            fact = target.fact
        elif label == 2:
            fact = replace(target.fact, negated=True)
        else:
            fact = _neutral_variant(world, rng, target.fact, [s.fact for s in premise])
        out.append((premise, Said(fact, target.synonym, target.adverb), label))
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
