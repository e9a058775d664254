"""A controlled multilingual world: one meaning space, several languages at graded distances.

Why it exists: real cross-lingual transfer needs a multilingual encoder and benchmark data, both
large. This world gives the toolkit a small stand-in in which transfer really happens and its
amount is set by construction, so the gap, layer sweeps, CKA and the slow-and-fast policies have
something real to measure on a laptop.

Method:
    * **Meaning space** (shared by all languages): people, places and organisations (entities
      with a type), typed relations between them (``visits``: person → place, ``hires``:
      organisation → person, ...), each expressed by two synonymous verbs, time adverbs, and
      negation. A *fact* is ``(subject, relation, object, negated)``.
    * **Shared syllable inventory**: every word of every language is a sequence of CV syllables
      (15 consonants × 5 vowels). The source language ``en`` draws a root of 2–3 syllables for
      every lexical item (content and function words). A target language copies each root and
      replaces each syllable with a different random syllable with probability ``mutation`` (its
      cognate distance ``d``). Entity names are *anchors*: a share ``anchor_share`` of them is
      spelled identically in every language, the rest are mutated like other words. Because the
      tokenizer splits words into syllables (see :mod:`xlingual_probe.synthetic.pretrain`), the
      syllables a target word still shares with its source cognate are the channel of transfer.
    * **Grammar per language**: constituent order (``SVO``, ``SOV``, ``VSO``, ...), position of
      the negation particle (before or after the verb), position of adverbs (sentence-initial or
      final), and where question words go (fronted or in situ). Places take a locative
      preposition, organisations end with an organisation noun (``bank``, ``club``, ...).

Default languages (source first, targets near → far): ``en`` (d = 0), ``n1`` (0.1), ``n2`` (0.2),
``n3`` (0.3, negation after the verb), ``n4`` (0.45, SOV), ``n5`` (0.6, VSO, adverbs first,
questions in situ). Everything is seeded: the same :class:`WorldConfig` always yields the same
words, sentences and datasets.

>>> world = build_world(WorldConfig())
>>> world.languages
['en', 'n1', 'n2', 'n3', 'n4', 'n5']
>>> fact = Fact(subject=0, relation=0, object=world.entities_of("LOC")[0], negated=False)
>>> len(world.realise(fact, "en").words) > 2
True
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from typing import Literal

CONSONANTS = "ptkbdgmnslrvzfh"
VOWELS = "aeiou"
SYLLABLES = [c + v for c in CONSONANTS for v in VOWELS]
PUNCTUATION = [".", "?", ","]
ENTITY_TYPES = ("PER", "ORG", "LOC")
WORLD_VERSION = 3  # bump when generation changes, so cached checkpoints are rebuilt

# relation name, subject type, object type (names are for people reading; surface forms are generated)
RELATIONS: list[tuple[str, str, str]] = [
    ("visits", "PER", "LOC"), ("lives_in", "PER", "LOC"), ("leaves", "PER", "LOC"),
    ("works_for", "PER", "ORG"), ("founded", "PER", "ORG"), ("supports", "PER", "ORG"),
    ("knows", "PER", "PER"), ("meets", "PER", "PER"), ("hires", "ORG", "PER"),
    ("builds_in", "ORG", "LOC"), ("buys", "ORG", "ORG"), ("sues", "ORG", "ORG"),
]
FUNCTION_WORDS = ["not", "and", "in", "who", "where", "what"]
ADVERBS = ["yesterday", "today", "often", "rarely", "again", "soon"]
ORG_NOUNS = ["bank", "club", "party", "company"]


@dataclass(frozen=True)
class LanguageSpec:
    """One language of the world.

    Attributes:
        code: language code (the source is ``en`` to match ``DataOptions.source_lang``).
        mutation: probability that each syllable of a source root is replaced (0 = the source).
        order: order of subject, verb and object, a permutation of ``"SVO"``.
        negation: the negation particle goes ``"pre"`` (before) or ``"post"`` (after) the verb.
        adverb: time adverbs go ``"final"`` or ``"initial"`` in the clause.
        wh_front: question words are fronted (True) or stay in the questioned slot (False).
    """

    code: str
    mutation: float = 0.0
    order: str = "SVO"
    negation: Literal["pre", "post"] = "pre"
    adverb: Literal["final", "initial"] = "final"
    wh_front: bool = True


DEFAULT_LANGUAGES: tuple[LanguageSpec, ...] = (
    LanguageSpec("en", 0.0),
    LanguageSpec("n1", 0.1),
    LanguageSpec("n2", 0.2),
    LanguageSpec("n3", 0.3, negation="post"),
    LanguageSpec("n4", 0.45, order="SOV"),
    LanguageSpec("n5", 0.6, order="VSO", adverb="initial", wh_front=False),
)


@dataclass(frozen=True)
class PretrainConfig:
    """Encoder, tokenizer-independent pre-training settings (MLM on monolingual text only).

    Defaults (preset ``default``: 12 layers, XLM-R base's depth) pre-train in 3 minutes on 2 CPU
    cores (MLM loss 4.9 → 1.5). Measured on synthetic-nli (direct fine-tuning, 400 updates at lr
    5e-4, 6,000 pairs, 32 s, seeds 1–3): source 100%, targets n1–n5 about 99, 99, 98, 86 and 36%.

    Attributes:
        layers: transformer layers.
        hidden: hidden size.
        heads: attention heads.
        ffn_mult: feed-forward size as a multiple of ``hidden``.
        sentences_per_language: monolingual corpus size per language (no parallel text).
        seq_len: sentences of one language are packed into sequences of at most this many tokens
            (passages are cut to it).
        steps: MLM updates.
        batch_size: sequences per update.
        lr: peak AdamW learning rate (linear warm-up, then linear decay to 0).
        warmup: warm-up updates.
        weight_decay: AdamW weight decay.
        mask_prob: share of tokens selected for MLM (80% ``<mask>``, 10% random, 10% kept).
        dropout: hidden and attention dropout of the encoder (saved in its config, so fine-tuning
            uses it too); 0 because this tiny model underfits, and dropout slowed MLM down.
        seed: seed of initialisation, masking and batching.
    """

    layers: int = 12
    hidden: int = 64
    heads: int = 4
    ffn_mult: int = 4
    sentences_per_language: int = 4000
    seq_len: int = 32  # 64 (several sentences per sequence) stayed near the unigram loss for 1000 updates
    steps: int = 2000
    batch_size: int = 32
    lr: float = 2e-3
    warmup: int = 200
    weight_decay: float = 0.01
    mask_prob: float = 0.15
    dropout: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class WorldConfig:
    """Everything that determines a world, its corpus and its pre-trained encoder.

    Attributes:
        seed: seed of the lexicon and of every generated dataset.
        languages: the languages, source first.
        n_given_names: person given names (persons are given name + optional family name).
        n_family_names: person family names.
        n_persons: distinct persons.
        n_places: distinct places.
        n_orgs: distinct organisations (name + organisation noun).
        anchor_share: share of entity-name roots spelled identically in every language.
        nli_train / nli_eval: NLI examples in the train split / each evaluation split.
        nli_premise_facts: 1, or 2 for premises that add an unrelated fact half of the time.
        ner_train / ner_eval: NER sentences in the train split / each evaluation split.
        qa_train / qa_eval: QA questions in the train split / each evaluation split.
        pretrain: the encoder and its pre-training.
    """

    seed: int = 0
    languages: tuple[LanguageSpec, ...] = DEFAULT_LANGUAGES
    n_given_names: int = 40
    n_family_names: int = 30
    n_persons: int = 80
    n_places: int = 40
    n_orgs: int = 30
    anchor_share: float = 0.5
    nli_train: int = 6000
    nli_eval: int = 600
    nli_premise_facts: int = 1
    ner_train: int = 4000
    ner_eval: int = 600
    qa_train: int = 4000
    qa_eval: int = 600
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> WorldConfig:
        data = dict(data)
        data["languages"] = tuple(LanguageSpec(**spec) for spec in data["languages"])
        data["pretrain"] = PretrainConfig(**data["pretrain"])
        return cls(**data)

    def config_hash(self) -> str:
        """A short stable hash of the config (keys the cached checkpoint)."""
        payload = json.dumps({"version": WORLD_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Fact:
    """A meaning: ``subject`` and ``object`` are entity ids, ``relation`` an index of RELATIONS."""

    subject: int
    relation: int
    object: int
    negated: bool = False


@dataclass
class Clause:
    """A realised clause: its words and the ``(entity, start, end)`` word span of each entity mention."""

    words: list[str]
    spans: list[tuple[int, int, int]]
    answer: int | None = None  # for questions: the entity asked for


def _mutate(root: list[str], rate: float, rng: random.Random) -> list[str]:
    return [rng.choice([s for s in SYLLABLES if s != syl]) if rng.random() < rate else syl for syl in root]


class World:
    """The lexicon of every language plus realisation of facts; build it with :func:`build_world`."""

    def __init__(self, config: WorldConfig):
        self.config = config
        self.specs = {spec.code: spec for spec in config.languages}
        if len(self.specs) != len(config.languages):
            raise ValueError("language codes must be unique")
        if config.nli_premise_facts not in (1, 2):
            raise ValueError(f"nli_premise_facts must be 1 or 2, not {config.nli_premise_facts}")
        rng = random.Random(f"lexicon:{config.seed}")
        # entities: (type, tuple of name-root keys); persons combine given + optional family names
        self.entity_types: list[str] = []
        self.entity_names: list[tuple[str, ...]] = []
        persons = set()
        while len(persons) < config.n_persons:
            given = f"given{rng.randrange(config.n_given_names)}"
            family = f"family{rng.randrange(config.n_family_names)}" if rng.random() < 0.5 else None
            persons.add((given,) if family is None else (given, family))
        for name in sorted(persons):
            self._add_entity("PER", name)
        for i in range(config.n_places):
            self._add_entity("LOC", (f"place{i}",))
        for i in range(config.n_orgs):
            self._add_entity("ORG", (f"org{i}", ORG_NOUNS[i % len(ORG_NOUNS)]))
        keys = ([f"given{i}" for i in range(config.n_given_names)]
                + [f"family{i}" for i in range(config.n_family_names)]
                + [f"place{i}" for i in range(config.n_places)] + [f"org{i}" for i in range(config.n_orgs)])
        names = set(keys)
        keys += ORG_NOUNS + FUNCTION_WORDS + ADVERBS
        keys += [f"{rel}.{k}" for rel, _, _ in RELATIONS for k in (0, 1)]
        roots: dict[str, list[str]] = {}
        seen: set[str] = set()
        for key in keys:
            while True:
                n = 1 if key in FUNCTION_WORDS else (rng.choice([2, 3]) if key not in names else rng.choice([2, 2, 3]))
                root = [rng.choice(SYLLABLES) for _ in range(n)]
                if "".join(root) not in seen:
                    break
            seen.add("".join(root))
            roots[key] = root
        anchors = {key for key in sorted(names) if rng.random() < config.anchor_share}
        # lexicon[lang][key] = surface word
        self.lexicon: dict[str, dict[str, str]] = {}
        for spec in config.languages:
            lang_rng = random.Random(f"mutate:{config.seed}:{spec.code}")
            self.lexicon[spec.code] = {
                key: "".join(root if key in anchors else _mutate(root, spec.mutation, lang_rng))
                for key, root in roots.items()
            }
        self.anchors = anchors
        self.by_type = {t: [i for i, et in enumerate(self.entity_types) if et == t] for t in ENTITY_TYPES}

    def _add_entity(self, etype: str, name: tuple[str, ...]) -> None:
        self.entity_types.append(etype)
        self.entity_names.append(name)

    @property
    def languages(self) -> list[str]:
        return [spec.code for spec in self.config.languages]

    @property
    def source(self) -> str:
        return self.config.languages[0].code

    def entities_of(self, etype: str) -> list[int]:
        return self.by_type[etype]

    def word(self, key: str, lang: str) -> str:
        return self.lexicon[lang][key]

    def name_words(self, entity: int, lang: str) -> list[str]:
        """The surface words of an entity's name (what NER tags and QA answers)."""
        return [self.lexicon[lang][key] for key in self.entity_names[entity]]

    def random_fact(self, rng: random.Random, relation: int | None = None, negated: bool = False) -> Fact:
        rel = rng.randrange(len(RELATIONS)) if relation is None else relation
        _, stype, otype = RELATIONS[rel]
        subj = rng.choice(self.by_type[stype])
        obj = rng.choice([e for e in self.by_type[otype] if e != subj])
        return Fact(subj, rel, obj, negated)

    def realise(self, fact: Fact, lang: str, *, synonym: int = 0, adverb: str | None = None,
                ask: Literal["subject", "object"] | None = None) -> Clause:
        """Words of ``fact`` in ``lang`` (no final punctuation).

        Args:
            synonym: which of the relation's two verbs to use (the paraphrase channel).
            adverb: a key of ADVERBS to add, or None.
            ask: turn the clause into a question about that argument (wh-word per language).
        """
        spec, lex = self.specs[lang], self.lexicon[lang]
        rel_name, _, otype = RELATIONS[fact.relation]
        verb = [lex[f"{rel_name}.{synonym}"]]
        if fact.negated:
            verb = [lex["not"]] + verb if spec.negation == "pre" else verb + [lex["not"]]
        slots: dict[str, list[str] | None] = {"V": verb}
        ents = {"S": fact.subject, "O": fact.object}
        wh = None
        for slot, ent in ents.items():
            words = self.name_words(ent, lang)
            etype = self.entity_types[ent]
            if ask is not None and slot == ("S" if ask == "subject" else "O"):
                wh = lex[{"PER": "who", "LOC": "where", "ORG": "what"}[etype]]
                slots[slot] = None if spec.wh_front else [wh]
                continue
            slots[slot] = ([lex["in"]] + words) if slot == "O" and otype == "LOC" else words
        words: list[str] = []
        spans: list[tuple[int, int, int]] = []
        if wh is not None and spec.wh_front:
            words.append(wh)
        if adverb is not None and spec.adverb == "initial":
            words.append(lex[adverb])
        for slot in spec.order:
            part = slots[slot]
            if part is None:
                continue
            if slot in ents and part != [wh]:
                ent = ents[slot]
                n = len(self.entity_names[ent])
                spans.append((ent, len(words) + len(part) - n, len(words) + len(part)))
            words.extend(part)
        if adverb is not None and spec.adverb == "final":
            words.append(lex[adverb])
        answer = None if ask is None else ents["S" if ask == "subject" else "O"]
        return Clause(words, spans, answer)

    def conjoin(self, clauses: list[Clause], lang: str) -> Clause:
        """Join clauses with the language's ``and`` (entity spans shifted accordingly)."""
        words: list[str] = []
        spans: list[tuple[int, int, int]] = []
        for i, clause in enumerate(clauses):
            if i:
                words.append(self.lexicon[lang]["and"])
            spans.extend((ent, a + len(words), b + len(words)) for ent, a, b in clause.spans)
            words.extend(clause.words)
        return Clause(words, spans)


def build_world(config: WorldConfig | None = None) -> World:
    """Generate the lexicon of every language of ``config`` (the default world if None).

    >>> w = build_world(WorldConfig(seed=3))
    >>> w.word("not", "en") == build_world(WorldConfig(seed=3)).word("not", "en")
    True
    """
    return World(config or WorldConfig())


def sentence_text(words: list[str], end: str = ".") -> str:
    """Words joined by spaces, with the final punctuation attached (``"mara visits paris."``)."""
    return " ".join(words) + end
