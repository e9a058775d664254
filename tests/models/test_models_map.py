"""Parameter maps: built-in adapters, the generic fallback, and the refusal of what cannot be placed."""

from __future__ import annotations

import pytest
import torch
import transformers as T
from torch import nn

from tests.models.models_tiny import FAMILIES, HEAD_CLASSES, NUM_LAYERS, family_config, family_model
from xlingual_probe.models import (
    ADAPTERS,
    LayerMap,
    ModelMap,
    check_model_map,
    classify_block_parameter,
    format_model_map,
    get_model_map,
)
from xlingual_probe.utils.errors import UserError

# (family, base prefix, layer list, attention names, ffn names) relative to a layer
KNOWN = {
    "bert": ("bert.", "encoder.layer", ["attention.self.query.weight", "attention.output.LayerNorm.weight"],
             ["intermediate.dense.weight", "output.dense.bias", "output.LayerNorm.weight"]),
    "roberta": ("roberta.", "encoder.layer", ["attention.self.value.bias", "attention.output.dense.weight"],
                ["output.LayerNorm.bias"]),
    "xlm-roberta": ("roberta.", "encoder.layer", ["attention.self.key.weight"], ["intermediate.dense.bias"]),
    "xlm-roberta-xl": ("roberta.", "encoder.layer", ["attention.self_attn_layer_norm.weight"],
                       ["LayerNorm.weight", "output.dense.bias"]),  # pre-LayerNorm: each block's own norm
    "electra": ("electra.", "encoder.layer", ["attention.output.LayerNorm.bias"], ["output.dense.weight"]),
    "deberta-v2": ("deberta.", "encoder.layer", ["attention.self.query_proj.weight",
                                                 "attention.output.LayerNorm.weight"],
                   ["intermediate.dense.weight", "output.LayerNorm.weight"]),
    "distilbert": ("distilbert.", "transformer.layer", ["attention.q_lin.weight", "attention.out_lin.bias",
                                                        "sa_layer_norm.weight"],
                   ["ffn.lin1.weight", "ffn.lin2.bias", "output_layer_norm.weight"]),
}
# head parameters inside the base model besides the pooler: XL's final LayerNorm follows the last layer
BASE_HEAD = {"xlm-roberta-xl": "encoder.LayerNorm."}
SHARED_EMBEDDINGS = {"deberta-v2": ["deberta.encoder.rel_embeddings.weight", "deberta.encoder.LayerNorm.weight"],
                     "electra": ["electra.embeddings_project.weight"]}


def test_every_family_is_registered():
    assert set(FAMILIES) <= set(ADAPTERS.names())


@pytest.mark.parametrize("head", list(HEAD_CLASSES))
@pytest.mark.parametrize("family", FAMILIES)
def test_builtin_map_places_every_parameter_once(family, head):
    model = family_model(family, head)
    model_map = get_model_map(model)
    names = [n for n, _ in model.named_parameters()]
    assert sorted(model_map.names()) == sorted(names)  # each exactly once
    assert model_map.family == family
    assert model_map.num_layers == NUM_LAYERS
    base, layers, attention, ffn = KNOWN[family]
    for i, layer in enumerate(model_map.layers):
        for rel in attention:
            assert f"{base}{layers}.{i}.{rel}" in layer.attention
        for rel in ffn:
            assert f"{base}{layers}.{i}.{rel}" in layer.ffn
        assert all(n.startswith(f"{base}{layers}.{i}.") for n in layer.names())
    assert f"{base}embeddings.word_embeddings.weight" in model_map.embeddings
    assert set(SHARED_EMBEDDINGS.get(family, [])) <= set(model_map.embeddings)
    head_names = {"sequence": "classifier", "token": "classifier", "qa": "qa_outputs"}[head]
    assert any(n.startswith(head_names) for n in model_map.head)
    inside_base = [n[len(base):] for n in model_map.head if n.startswith(base)]
    assert all(n.startswith(("pooler.", BASE_HEAD.get(family, "pooler."))) for n in inside_base)


def test_distilbert_pre_classifier_is_head():
    model_map = get_model_map(family_model("distilbert"))
    assert {"pre_classifier.weight", "classifier.weight"} <= set(model_map.head)


@pytest.mark.parametrize("family", FAMILIES)
def test_bare_base_model_keeps_pooler_in_head(family):
    model = T.AutoModel.from_config(family_config(family))
    model_map = get_model_map(model)
    assert sorted(model_map.names()) == sorted(n for n, _ in model.named_parameters())
    assert model_map.head == [n for n, _ in model.named_parameters()
                              if n.startswith(("pooler.", BASE_HEAD.get(family, "pooler.")))]


@pytest.mark.parametrize("family", ["bert", "roberta", "xlm-roberta", "electra", "distilbert"])
def test_generic_fallback_agrees_with_builtin_adapters(family):
    model = family_model(family, "token")
    assert get_model_map(model, family="generic").layers == get_model_map(model).layers
    assert get_model_map(model, family="generic").embeddings == get_model_map(model).embeddings


def test_generic_fallback_on_unknown_model_type():
    config = T.MPNetConfig(vocab_size=100, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=64)
    model = T.AutoModelForSequenceClassification.from_config(config)
    assert config.model_type not in ADAPTERS
    model_map = get_model_map(model)
    assert model_map.family == "generic (mpnet)"
    assert model_map.num_layers == 3
    layer = model_map.layers[1]
    assert "mpnet.encoder.layer.1.attention.attn.q.weight" in layer.attention
    assert "mpnet.encoder.layer.1.attention.LayerNorm.weight" in layer.attention
    assert "mpnet.encoder.layer.1.output.LayerNorm.weight" in layer.ffn
    assert "mpnet.encoder.layer.1.intermediate.dense.weight" in layer.ffn
    # shared relative position table sits after the layers but is an embedding, not head
    assert "mpnet.encoder.relative_attention_bias.weight" in model_map.embeddings
    assert model_map.head == ["classifier.dense.weight", "classifier.dense.bias",
                              "classifier.out_proj.weight", "classifier.out_proj.bias"]


class _Block(nn.Module):
    def __init__(self, unclear: bool = False):
        super().__init__()
        self.self_attn = nn.Linear(4, 4)
        self.input_layernorm = nn.LayerNorm(4)
        self.mlp = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 4))
        self.post_attention_layernorm = nn.LayerNorm(4)
        if unclear:
            self.dense = nn.Linear(4, 4)


class _Toy(nn.Module):
    def __init__(self, unclear: bool = False):
        super().__init__()
        self.embed_tokens = nn.Embedding(10, 4)
        self.layers = nn.ModuleList([_Block(unclear) for _ in range(3)])
        self.norm = nn.LayerNorm(4)
        self.score = nn.Linear(4, 2)


def test_generic_fallback_on_a_plain_module():
    model_map = get_model_map(_Toy())
    assert model_map.num_layers == 3
    assert model_map.layers[0].attention == ["layers.0.self_attn.weight", "layers.0.self_attn.bias",
                                             "layers.0.input_layernorm.weight", "layers.0.input_layernorm.bias"]
    assert "layers.2.post_attention_layernorm.weight" in model_map.layers[2].ffn
    assert model_map.embeddings == ["embed_tokens.weight"]
    assert model_map.head == ["norm.weight", "norm.bias", "score.weight", "score.bias"]


def test_generic_fallback_refuses_unclassifiable_parameter():
    with pytest.raises(UserError, match=r"layers\.0\.dense\.weight.*built-in families: bert, deberta-v2"):
        get_model_map(_Toy(unclear=True))


def test_generic_fallback_refuses_layers_split_over_lists():
    config = T.XLMConfig(vocab_size=100, emb_dim=16, n_layers=2, n_heads=2)
    with pytest.raises(UserError, match="several lists"):
        get_model_map(T.AutoModelForSequenceClassification.from_config(config))


def test_generic_fallback_refuses_model_without_layers():
    with pytest.raises(UserError, match="cannot find the transformer layers"):
        get_model_map(nn.Linear(2, 2))


def test_adapter_refuses_unknown_parameter():
    model = family_model("bert")
    model.bert.encoder.register_parameter("extra", nn.Parameter(torch.zeros(2)))
    with pytest.raises(UserError, match="does not know parameter 'bert.encoder.extra'"):
        get_model_map(model)


def test_check_model_map_reports_gaps_and_doubles():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    good = ModelMap("toy", embeddings=["0.weight", "0.bias"], head=["1.weight", "1.bias"])
    assert check_model_map(model, good) is good
    with pytest.raises(UserError, match=r"unassigned: 1\.bias"):
        check_model_map(model, ModelMap("toy", embeddings=["0.weight", "0.bias"], head=["1.weight"]))
    doubled = ModelMap("toy", embeddings=["0.weight", "0.bias"], layers=[LayerMap(["1.weight"], ["1.bias"])],
                       head=["1.weight"])
    with pytest.raises(UserError, match=r"assigned twice: 1\.weight"):
        check_model_map(model, doubled)


@pytest.mark.parametrize("name, block", [
    ("attention.output.LayerNorm.weight", "attention"), ("output.LayerNorm.weight", "ffn"),
    ("sa_layer_norm.weight", "attention"), ("output_layer_norm.bias", "ffn"),
    ("ln_1.weight", "attention"), ("ln_2.weight", "ffn"), ("attn.c_attn.weight", "attention"),
    ("mlp.c_fc.weight", "ffn"), ("input_layernorm.weight", "attention"),
    ("post_attention_layernorm.weight", "ffn"), ("self_attn.o_proj.weight", "attention"),
    ("mlp.down_proj.weight", "ffn"), ("dense.weight", None), ("LayerNorm.weight", None),
])
def test_classify_block_parameter(name, block):
    assert classify_block_parameter(name) == block


def test_format_model_map_lists_every_unit():
    xlmr = family_model("xlm-roberta")
    text = format_model_map(xlmr, get_model_map(xlmr))
    lines = text.splitlines()
    assert lines[0].startswith("family: xlm-roberta    layers: 2")
    units = [line.split("  ")[0].strip() for line in lines[2:]]
    assert units == ["embeddings", "layer 0 attention", "layer 0 ffn", "layer 1 attention", "layer 1 ffn",
                     "head", "total"]
    total = sum(p.numel() for p in xlmr.parameters())
    assert f"{total:,}" in lines[-1] and lines[-1].endswith("100.0%")
