"""Gradient accumulation: the update of micro-batches equals the update of the whole batch."""

import json
import shutil

import pytest

from tests.tiny import ner_sentences, tiny_config
from xlingual_probe.training import TrainConfig, train
from xlingual_probe.training.batches import micro_batch_indices
from xlingual_probe.utils import UserError, read_jsonl


@pytest.fixture(scope="module")
def no_dropout_model(tiny_model, tmp_path_factory):
    """The tiny BERT without dropout: its forward pass draws no random numbers, so accumulation is exact."""
    folder = tmp_path_factory.mktemp("no-dropout") / "model"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_micro_batches_cover_the_batch_in_order():
    assert micro_batch_indices(list(range(16)), 4) == [list(range(i, i + 4)) for i in (0, 4, 8, 12)]
    assert micro_batch_indices([5, 6, 7], 4) == [[5], [6], [7]]  # the short last batch of an epoch
    assert micro_batch_indices([1, 2], 1) == [[1, 2]]


@pytest.fixture(scope="module")
def uneven_data(tiny_data, tmp_path_factory):
    """The fixture data, with NER training sentences of 6, 12 and 18 words (different numbers of labelled tokens)."""
    root = tmp_path_factory.mktemp("uneven") / "data"
    shutil.copytree(tiny_data, root)
    sentences = ner_sentences(120, "en", 1)
    merged, start = [], 0
    while start < len(sentences):  # sentences of 1, 2, 3, 1, 2, 3, ... fixture sentences
        size = 1 + len(merged) % 3
        merged.append([pair for sentence in sentences[start:start + size] for pair in sentence])
        start += size
    (root / "panx" / "train-en.tsv").write_text(
        "\n\n".join("\n".join(f"{t}\t{g}" for t, g in s) for s in merged) + "\n", encoding="utf-8")
    return root


@pytest.mark.parametrize("task", ["xnli", "panx"])
def test_accumulated_run_equals_the_unaccumulated_run(no_dropout_model, uneven_data, tmp_path, task):
    # 34 examples in batches of 12: the third batch of each epoch has 10, cut into micro-batches of 3, 3, 3, 1;
    # NER sentences differ in labelled tokens: a plain mean of the micro-batch losses would get both wrong
    common = {"task": task, "max_steps": 6, "eval_every": 3, "batch_size": 12, "train_size": 34, "eval_size": 16,
              "max_length": 64}
    whole = train(tiny_config(no_dropout_model, uneven_data, tmp_path / "whole", **common), show_progress=False)
    parts = train(tiny_config(no_dropout_model, uneven_data, tmp_path / "parts", grad_accum=4, **common),
                  show_progress=False)
    # the loss of update t is computed with the weights after t-1 updates: equal losses = equal updates
    losses = [r["loss"] for r in read_jsonl(tmp_path / "whole/steps.jsonl")]
    assert [r["loss"] for r in read_jsonl(tmp_path / "parts/steps.jsonl")] == pytest.approx(losses, rel=1e-5)
    assert len(set(losses)) == len(losses)
    for which in ("best", "final"):
        assert parts[which]["metrics"] == pytest.approx(whole[which]["metrics"], abs=1e-6)


def test_batch_not_divisible_by_accumulation_is_refused():
    with pytest.raises(UserError, match="--batch-size 32 is not divisible by --grad-accum 3"):
        TrainConfig(model="m", task="xnli", out="x", batch_size=32, grad_accum=3)
    with pytest.raises(UserError, match="--grad-accum must be >= 1"):
        TrainConfig(model="m", task="xnli", out="x", grad_accum=0)
