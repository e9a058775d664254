"""Loading a model with a task head from a local folder, and the errors a user sees instead of tracebacks."""

from __future__ import annotations

import pytest
import torch
import transformers as T
from tokenizers import Tokenizer, models, pre_tokenizers

from xlingual_probe.models import get_model_map, load_model
from xlingual_probe.utils.errors import UserError

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", "hallo", "welt"]


def save_tiny_checkpoint(folder, *, pad: bool = True, dtype=torch.float32) -> None:
    tokenizer = Tokenizer(models.WordLevel({t: i for i, t in enumerate(VOCAB)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    special = {"pad_token": "[PAD]"} if pad else {}
    T.PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", cls_token="[CLS]",
                              sep_token="[SEP]", **special).save_pretrained(folder)
    config = T.BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=32, max_position_embeddings=32)
    T.BertModel(config).to(dtype).save_pretrained(folder)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-bert")
    save_tiny_checkpoint(folder, dtype=torch.float16)
    return str(folder)


@pytest.mark.parametrize("head, cls, out", [
    ("sequence", T.BertForSequenceClassification, "classifier"),
    ("token", T.BertForTokenClassification, "classifier"),
    ("qa", T.BertForQuestionAnswering, "qa_outputs"),
])
def test_load_model_heads(checkpoint, head, cls, out):
    model, tokenizer = load_model(checkpoint, head, 3)
    assert type(model) is cls
    assert getattr(model, out).out_features == (2 if head == "qa" else 3)
    assert next(model.parameters()).dtype == torch.float32  # not the checkpoint's float16
    assert tokenizer.is_fast and tokenizer.pad_token == "[PAD]"
    assert get_model_map(model).num_layers == 2
    batch = tokenizer(["hello world", "hallo"], padding=True, return_tensors="pt")
    model(**batch)


def test_load_model_sets_label_names(checkpoint):
    model, _ = load_model(checkpoint, "token", 3, labels=["O", "B-PER", "I-PER"])
    assert model.config.id2label == {0: "O", 1: "B-PER", 2: "I-PER"}
    assert model.config.label2id == {"O": 0, "B-PER": 1, "I-PER": 2}
    with pytest.raises(UserError, match="2 label names given for 3 labels"):
        load_model(checkpoint, "token", 3, labels=["O", "B-PER"])


def test_load_model_pads_with_a_special_token_when_there_is_no_pad_token(tmp_path):
    save_tiny_checkpoint(tmp_path, pad=False)
    _, tokenizer = load_model(str(tmp_path), "sequence", 2)
    assert tokenizer.pad_token == "[SEP]"


def test_load_model_errors_are_user_errors(tmp_path, checkpoint):
    with pytest.raises(UserError, match="model folder not found"):
        load_model(str(tmp_path / "missing"), "sequence", 2)
    with pytest.raises(UserError, match="HF_HUB_OFFLINE"):
        load_model(str(tmp_path), "sequence", 2)  # a folder without a model in it
    with pytest.raises(UserError, match="unknown head 'span'"):
        load_model(checkpoint, "span", 2)


@pytest.mark.parametrize("with_pooler", [True, False])
def test_load_pretrained_reports_what_the_checkpoint_did_not_hold(tmp_path, with_pooler):
    from tests.models.models_tiny import family_config, save_checkpoint
    from xlingual_probe.models import load_pretrained

    # multilingual-e5 ships without pooler weights; mBERT with them
    folder = save_checkpoint(T.BertModel(family_config("bert"), add_pooling_layer=with_pooler), tmp_path)
    loaded = load_pretrained(folder, "sequence", 3)
    pooler = {"bert.pooler.dense.weight", "bert.pooler.dense.bias"}
    assert loaded.new_parameters == {"classifier.weight", "classifier.bias"} | (set() if with_pooler else pooler)
    assert load_pretrained(folder, "qa", 2).new_parameters == {"qa_outputs.weight", "qa_outputs.bias"}  # no pooler
