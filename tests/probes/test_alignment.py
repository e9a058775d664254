"""Alignment measures on crafted embeddings, and the meter on the tiny model."""

import numpy as np
import pytest
import torch

from xlingual_probe.models import load_model
from xlingual_probe.probes import alignment as alignment_module
from xlingual_probe.probes.alignment import AlignmentMeter, margin_scores, retrieval_accuracy
from xlingual_probe.probes.cka import linear_cka
from xlingual_probe.probes.parallel import ParallelSample

RNG = np.random.default_rng(0)
X = RNG.standard_normal((10, 16))


def test_identity_is_100_and_a_derangement_is_0():
    assert retrieval_accuracy(X, X) == (100.0, 100.0)
    shifted = np.roll(np.arange(10), 1)  # every sentence paired with another one's translation
    assert retrieval_accuracy(X, X[shifted]) == (0.0, 0.0)
    assert retrieval_accuracy(X, X, method="margin") == (100.0, 100.0)
    assert retrieval_accuracy(X, X[shifted], method="margin") == (0.0, 0.0)


def test_a_known_shuffle_gives_the_known_score():
    order = np.arange(10)
    order[[0, 1]], order[[2, 3, 4]] = [1, 0], [3, 4, 2]  # a swap and a 3-cycle: 5 of 10 misplaced
    assert retrieval_accuracy(X, X[order]) == (50.0, 50.0)
    # noisy translations (cosine still nearest to their own) are found
    noisy = X + 0.05 * RNG.standard_normal(X.shape)
    assert retrieval_accuracy(X, noisy) == (100.0, 100.0)


def test_directions_differ_when_a_target_is_a_hub():
    # every source is closest to target 0 (a hub); target j != 0 still finds its source
    source = np.eye(4, 5)
    target = np.eye(4, 5) + 2 * np.eye(5)[4]  # cos(source j, target j) = 1/sqrt(5) ≈ 0.45
    target[0] = [1.0, 1.0, 1.0, 1.0, 0.0]  # cos 0.5 to every source
    s2t, t2s = retrieval_accuracy(source, target)
    assert (s2t, t2s) == (25.0, 100.0)
    assert retrieval_accuracy(source, target, method="margin") == (100.0, 100.0)


def test_margin_discounts_the_hub():
    cosine = np.array([[0.5, 0.45, 0.1], [0.6, 0.1, 0.55], [0.9, 0.2, 0.3]])
    scores = margin_scores(cosine, k=1)
    # hand computed: row maxima 0.5, 0.6, 0.9; column maxima 0.9, 0.45, 0.55
    assert scores[0, 1] == pytest.approx(0.45 / ((0.5 + 0.45) / 2))
    assert scores[1, 0] == pytest.approx(0.6 / ((0.6 + 0.9) / 2))
    assert list(scores.argmax(axis=1)) == [1, 2, 0] and list(cosine.argmax(axis=1)) == [0, 0, 0]
    assert margin_scores(cosine, k=10).shape == (3, 3)  # k capped at the candidates


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="same shape"):
        retrieval_accuracy(X, X[:5])
    with pytest.raises(ValueError, match="retrieval method"):
        retrieval_accuracy(X, X, method="bleu")


@pytest.fixture(scope="module")
def meter_and_model(tiny_model):
    torch.manual_seed(0)
    model, tokenizer = load_model(str(tiny_model), "sequence", 3)
    texts = {"en": ["the cat sees the dog .", "the bird eats .", "a lion meets the tiger in rome .",
                    "the fish does not like the horse .", "who finds the mouse ?"],
             "de": ["then caten seesen then dogen .", "then birden eatsen .", "aen lionen meetsen then tigeren inen romeen .",
                    "then fishen doesen noten likeen then horseen .", "whoen findsen then mouseen ?"]}
    sample = ParallelSample.from_texts(texts, "en", size=5)
    return AlignmentMeter(sample, tokenizer, max_length=32, batch_size=2), model


def test_meter_records_use_linear_cka(meter_and_model, monkeypatch):
    meter, model = meter_and_model
    reps = meter.representations(model)
    assert len(reps["en"]) == 2 and reps["en"][0].shape == (5, 32) and reps["en"][0].dtype == torch.float32
    calls = []
    monkeypatch.setattr(alignment_module, "linear_cka", lambda x, y, debiased=False: calls.append(debiased) or 0.5)
    meter.set_reference(reps)
    records = meter.records(7, reps)
    assert calls and all(calls)  # every CKA goes through linear_cka, debiased
    assert [(r["layer"], r["lang"]) for r in records] == [(0, "en"), (0, "de"), (1, "en"), (1, "de")]
    assert records[0]["retrieval"] is None and records[0]["cka_cross"] is None and records[0]["n"] == 5
    assert records[1]["cka_cross"] == 0.5 and records[1]["step"] == 7


def test_meter_values_match_the_definitions(meter_and_model):
    meter, model = meter_and_model
    reps = meter.representations(model)
    meter.set_reference(reps)
    records = {(r["layer"], r["lang"]): r for r in meter.records(0, reps)}
    src_rows, tgt_rows = meter.pairs["de"]
    x, y = reps["en"][1][src_rows], reps["de"][1][tgt_rows]
    assert records[(1, "de")]["cka_cross"] == pytest.approx(linear_cka(x, y, debiased=True))
    s2t, t2s = retrieval_accuracy(x, y)
    assert (records[(1, "de")]["retrieval_src2tgt"], records[(1, "de")]["retrieval"]) == (s2t, (s2t + t2s) / 2)
    assert records[(1, "de")]["cka_to_pretrained"] == pytest.approx(1.0)  # against itself
    meter.set_reference(None)
    assert meter.records(0, reps)[0]["cka_to_pretrained"] is None


def test_mean_pooling_ignores_padding(meter_and_model, tiny_model):
    # a sentence's representation is the same alone and batched with longer ones
    meter, model = meter_and_model
    batched = meter.representations(model)
    single = AlignmentMeter(meter.sample, load_model(str(tiny_model), "sequence", 3)[1], max_length=32,
                            batch_size=1).representations(model)
    for layer in range(2):
        assert torch.allclose(batched["de"][layer], single["de"][layer], atol=1e-5)
