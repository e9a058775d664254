"""Tiny random models of every built-in family (vocab 100, hidden 32, 2 layers): built in milliseconds.

A plain module, not conftest.py: tests/conftest.py already has a ``tiny_model`` fixture (a saved BERT).
"""

from __future__ import annotations

import transformers as T

FAMILIES = ["bert", "roberta", "xlm-roberta", "xlm-roberta-xl", "electra", "deberta-v2", "distilbert"]
HEAD_CLASSES = {
    "sequence": T.AutoModelForSequenceClassification,
    "token": T.AutoModelForTokenClassification,
    "qa": T.AutoModelForQuestionAnswering,
}
NUM_LAYERS = 2


def family_config(family: str, **extra) -> T.PretrainedConfig:
    common = dict(vocab_size=100, hidden_size=32, num_hidden_layers=NUM_LAYERS, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=64, **extra)
    if family == "distilbert":
        return T.DistilBertConfig(vocab_size=100, dim=32, n_layers=NUM_LAYERS, n_heads=2, hidden_dim=64,
                                  max_position_embeddings=64, **extra)
    if family == "electra":
        return T.ElectraConfig(embedding_size=16, **common)
    if family == "deberta-v2":
        # mDeBERTa-v3 settings: shared relative position embeddings with their own LayerNorm
        return T.DebertaV2Config(relative_attention=True, position_buckets=8, norm_rel_ebd="layer_norm",
                                 share_att_key=True, pos_att_type=["p2c", "c2p"], position_biased_input=False,
                                 **common)
    return {"bert": T.BertConfig, "roberta": T.RobertaConfig, "xlm-roberta": T.XLMRobertaConfig,
            "xlm-roberta-xl": T.XLMRobertaXLConfig}[family](**common)


def family_model(family: str, head: str = "sequence", **extra) -> T.PreTrainedModel:
    return HEAD_CLASSES[head].from_config(family_config(family, **extra))


def save_checkpoint(model: T.PreTrainedModel, folder) -> str:
    """Save ``model`` with a small fast WordPiece-free tokenizer, as a loadable local checkpoint."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world"]
    tokenizer = Tokenizer(models.WordLevel({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    T.PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
                              pad_token="[PAD]").save_pretrained(folder)
    model.save_pretrained(folder)
    return str(folder)
