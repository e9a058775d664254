"""The synthetic world: determinism, graded distances, tokenizer round trip."""

from __future__ import annotations

from xlingual_probe.synthetic import (
    WorldConfig,
    build_tokenizer,
    build_world,
    ner_examples,
    nli_examples,
    qa_examples,
)
from xlingual_probe.synthetic.pretrain import corpus_sentences
from xlingual_probe.synthetic.world import SYLLABLES, Fact


def test_generation_is_deterministic(world):
    again = build_world(WorldConfig())
    assert again.lexicon == world.lexicon
    for gen in (nli_examples, ner_examples, qa_examples):
        assert gen(world, "validation", 20, "n3") == gen(again, "validation", 20, "n3")
    assert corpus_sentences(world, "n2", 50) == corpus_sentences(again, "n2", 50)


def test_seed_and_split_change_the_data(world):
    other = build_world(WorldConfig(seed=1))
    assert other.lexicon["en"] != world.lexicon["en"]
    assert nli_examples(world, "validation", 20, "en") != nli_examples(world, "test", 20, "en")
    assert nli_examples(world, "train", 20, "en") != nli_examples(world, "validation", 20, "en")


def test_evaluation_sets_are_parallel(world):
    en = nli_examples(world, "validation", 30, "en")
    n5 = nli_examples(world, "validation", 30, "n5")
    assert [r["label"] for r in en] == [r["label"] for r in n5]
    assert [r["text"] for r in en] != [r["text"] for r in n5]


def _changed_share(world, lang: str) -> float:
    changed = total = 0
    for key, word in world.lexicon[lang].items():
        if key in world.anchors:
            continue
        src = world.lexicon["en"][key]
        pairs = list(zip([src[i:i + 2] for i in range(0, len(src), 2)], [word[i:i + 2] for i in range(0, len(word), 2)]))
        changed += sum(a != b for a, b in pairs)
        total += len(pairs)
    return changed / total


def test_distance_grows_with_the_mutation_rate(world):
    shares = [_changed_share(world, spec.code) for spec in world.config.languages]
    assert shares[0] == 0.0
    assert shares == sorted(shares)
    for spec, share in zip(world.config.languages, shares):
        assert abs(share - spec.mutation) < 0.08, (spec.code, share)


def test_words_are_syllable_strings_and_anchors_are_shared(world):
    for lang in world.languages:
        for word in world.lexicon[lang].values():
            assert len(word) % 2 == 0 and all(word[i:i + 2] in SYLLABLES for i in range(0, len(word), 2))
    anchor = next(iter(world.anchors))
    assert len({world.lexicon[lang][anchor] for lang in world.languages}) == 1


def test_word_order_and_negation_follow_the_language(world):
    loc = world.entities_of("LOC")[0]
    person = world.entities_of("PER")[0]
    fact = Fact(person, 0, loc, negated=True)  # visits: person -> place
    for lang in world.languages:
        spec = world.specs[lang]
        clause = world.realise(fact, lang)
        positions = {e: a for e, a, _ in clause.spans}
        verb = clause.words.index(world.word("visits.0", lang))
        order = sorted([("S", positions[person]), ("O", positions[loc] - 1), ("V", verb)], key=lambda x: x[1])
        if spec.negation == "pre":
            assert clause.words[verb - 1] == world.word("not", lang)
        else:
            assert clause.words[verb + 1] == world.word("not", lang)
        assert "".join(slot for slot, _ in order) == spec.order, lang


def test_tokenizer_round_trip_and_shared_pieces(world):
    tok = build_tokenizer()
    for lang in world.languages:
        for text in corpus_sentences(world, lang, 50):
            ids = tok(text)["input_ids"]
            assert tok.unk_token_id not in ids
            assert tok.decode(ids, skip_special_tokens=True) == text
    # cognates share the syllables that did not mutate
    key = "visits.0"
    src, tgt = world.word(key, "en"), world.word(key, "n1")
    shared = set(tok.tokenize(src)) & set(tok.tokenize(tgt))
    assert (src == tgt) <= (shared == set(tok.tokenize(src)))
    pair = tok("kalo mi.", "ra.")["input_ids"]
    assert tok.convert_ids_to_tokens(pair) == ["<s>", "ka", "##lo", "mi", ".", "</s>", "</s>", "ra", ".", "</s>"]


def test_tokenizer_saves_and_loads(tmp_path):
    from transformers import AutoTokenizer

    tok = build_tokenizer()
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "kalomi rasu zovuko."
    assert loaded(text)["input_ids"] == tok(text)["input_ids"]
    assert loaded.is_fast and loaded.mask_token == "<mask>" and loaded.pad_token_id == 1
