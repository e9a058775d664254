"""Selecting, freezing, re-initialising and grouping parameters by name."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.models.models_tiny import FAMILIES, HEAD_CLASSES, family_model
from xlingual_probe.models import (
    ModelMap,
    build_param_groups,
    freeze_parameters,
    frozen,
    get_model_map,
    reinitialize,
    reinitialized,
    select_parameters,
)
from xlingual_probe.utils.errors import UserError


def pretrained(family: str, tmp_path) -> nn.Module:
    """A tiny model as ``from_pretrained`` returns it: every tensor flagged ``_is_hf_initialized``
    (the transformers v5 mark that makes its init helpers skip a tensor), values far from init."""
    model = family_model(family, "token")
    with torch.no_grad():
        for param in model.parameters():
            param.add_(1.0)
    model.save_pretrained(tmp_path)
    return HEAD_CLASSES["token"].from_pretrained(tmp_path)


# ---------------------------------------------------------------- select


def test_select_parameters_layers_and_components(xlmr_map):
    m = xlmr_map
    assert select_parameters(m, [0], "all") == m.layers[0].attention + m.layers[0].ffn
    assert select_parameters(m, [-1], "attention") == m.layers[1].attention
    assert select_parameters(m, None, "ffn") == m.layers[0].ffn + m.layers[1].ffn
    assert select_parameters(m, [1, -1, 0], "ffn") == m.layers[0].ffn + m.layers[1].ffn  # sorted, no repeats
    assert select_parameters(m, None, "embeddings") == m.embeddings
    assert select_parameters(m, None, "head") == m.head


@pytest.mark.parametrize("layers, component, message", [
    ([2], "all", "layer 2 out of range"), ([-3], "ffn", "layer -3 out of range"),
    (None, "mlp", "unknown component 'mlp'"), ([0], "embeddings", "not part of a layer"),
])
def test_select_parameters_rejects_bad_input(xlmr_map, layers, component, message):
    with pytest.raises(UserError, match=message):
        select_parameters(xlmr_map, layers, component)


@pytest.fixture
def xlmr_map() -> ModelMap:
    return get_model_map(family_model("xlm-roberta"))


# ---------------------------------------------------------------- freeze


def test_freeze_and_frozen_context_restore_flags():
    model = family_model("bert")
    model_map = get_model_map(model)
    names = select_parameters(model_map, [0], "attention")
    already = model_map.embeddings[0]
    freeze_parameters(model, [already])
    params = dict(model.named_parameters())
    with frozen(model, names + [already]):
        assert not any(params[n].requires_grad for n in names + [already])
        assert params[model_map.layers[0].ffn[0]].requires_grad
    assert all(params[n].requires_grad for n in names)
    assert not params[already].requires_grad  # frozen before the block, frozen after it
    with pytest.raises(UserError, match="no parameter"):
        freeze_parameters(model, ["nope.weight"])


def test_frozen_restores_flags_after_an_error():
    model = nn.Linear(2, 2)
    with pytest.raises(RuntimeError), frozen(model, ["weight"]):
        raise RuntimeError
    assert model.weight.requires_grad


# ---------------------------------------------------------------- re-initialise


@pytest.mark.parametrize("family", FAMILIES)
def test_reinitialize_really_resets_loaded_weights(family, tmp_path):
    model = pretrained(family, tmp_path)
    assert all(getattr(p, "_is_hf_initialized", False) for p in model.parameters())
    model_map = get_model_map(model)
    std = model.config.initializer_range
    chosen = select_parameters(model_map, [-1], "all") + select_parameters(model_map, None, "embeddings")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    torch.manual_seed(0)
    reinitialize(model, model_map, chosen)
    modules = dict(model.named_modules())
    for name, param in model.named_parameters():
        if name not in chosen:
            assert torch.equal(param, before[name]), name
            continue
        assert not torch.equal(param, before[name]), name
        module, leaf = modules[name.rpartition(".")[0]], name.rpartition(".")[2]
        if isinstance(module, nn.LayerNorm):
            assert torch.all(param == (1.0 if leaf == "weight" else 0.0)), name
        elif leaf == "bias":
            assert torch.all(param == 0.0), name
        else:
            values = param.detach()
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                assert torch.all(values[module.padding_idx] == 0.0), name
                values = values[torch.arange(len(values)) != module.padding_idx]
            assert abs(values.mean().item()) < 0.01, name
            assert values.std().item() == pytest.approx(std, rel=0.25), name
    # the v5 "already initialised" marks are put back, so later hub code behaves as before
    assert all(getattr(p, "_is_hf_initialized", False) for p in model.parameters())


def test_reinitialize_changes_only_selected_tensors_of_a_module(tmp_path):
    model = pretrained("xlm-roberta", tmp_path)
    model_map = get_model_map(model)
    query = model.roberta.encoder.layer[0].attention.self.query
    bias = query.bias.detach().clone()
    weight = query.weight.detach().clone()
    assert reinitialize(model, model_map, ["roberta.encoder.layer.0.attention.self.query.weight"]) == [
        "roberta.encoder.layer.0.attention.self.query"]
    assert torch.equal(query.bias, bias)
    assert not torch.equal(query.weight, weight)


def test_reinitialize_is_seeded_by_torch_global_rng():
    results = []
    for _ in range(2):
        model = family_model("bert")
        model_map = get_model_map(model)
        torch.manual_seed(123)
        reinitialize(model, model_map, select_parameters(model_map, [1], "ffn"))
        results.append(model.bert.encoder.layer[1].intermediate.dense.weight.detach().clone())
    assert torch.equal(*results)


def test_reinitialized_context_restores_values(tmp_path):
    model = pretrained("bert", tmp_path)
    model_map = get_model_map(model)
    names = select_parameters(model_map, [0], "attention")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with reinitialized(model, model_map, names) as modules:
        assert "bert.encoder.layer.0.attention.output.LayerNorm" in modules
        assert torch.all(model.bert.encoder.layer[0].attention.output.LayerNorm.weight == 1.0)
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_reinitialize_refuses_what_init_weights_does_not_set():
    model = family_model("xlm-roberta")
    model.classifier.register_parameter("scale", nn.Parameter(torch.full((2,), 3.0)))
    model_map = ModelMap("hand-made", head=[n for n, _ in model.named_parameters()])
    with pytest.raises(UserError, match="does not initialise classifier.scale"):
        reinitialize(model, model_map, ["classifier.scale"])
    assert torch.all(model.classifier.scale == 3.0)  # restored, not left as NaN
    with pytest.raises(UserError, match="not in the model map"):
        reinitialize(model, ModelMap("empty"), ["classifier.scale"])


# ---------------------------------------------------------------- parameter groups


def test_build_param_groups_membership_order_and_sets():
    model = family_model("xlm-roberta")
    model_map = get_model_map(model)
    sets = {"slow": select_parameters(model_map, [0], "all"), "fast": select_parameters(model_map, [-1], "attention")}
    freeze_parameters(model, model_map.embeddings)
    groups, table = build_param_groups(model, sets)
    assert [g["name"] for g in groups] == ["slow", "fast", "rest"]
    assert [g["set"] for g in groups] == ["slow", "fast", "rest"]
    assert [g["lr_scale"] for g in groups] == [1.0, 1.0, 1.0]
    assert all(g["weight_decay"] == 0.0 for g in groups)
    assert table["slow"] == sets["slow"] and table["fast"] == sets["fast"]
    assert sorted(table["rest"]) == sorted(model_map.layers[1].ffn + model_map.head)  # frozen embeddings out
    params = dict(model.named_parameters())
    for group in groups:
        assert group["params"] == [params[n] for n in table[group["name"]]]
    optimizer = torch.optim.AdamW(groups, lr=1e-3)
    assert [g["name"] for g in optimizer.param_groups] == ["slow", "fast", "rest"]


def test_build_param_groups_weight_decay_split():
    model = family_model("bert")
    model_map = get_model_map(model)
    groups, table = build_param_groups(model, {"top": select_parameters(model_map, [-1], "all")},
                                       weight_decay=0.01)
    assert [(g["name"], g["set"], g["weight_decay"]) for g in groups] == [
        ("top", "top", 0.01), ("top/no_decay", "top", 0.0), ("rest", "rest", 0.01), ("rest/no_decay", "rest", 0.0)]
    assert "bert.encoder.layer.1.attention.output.LayerNorm.weight" in table["top/no_decay"]
    assert "bert.encoder.layer.1.output.dense.bias" in table["top/no_decay"]
    assert "bert.encoder.layer.1.output.dense.weight" in table["top"]
    assert all(params.ndim == 2 for g in groups if g["weight_decay"] > 0 for params in g["params"])
    assert sum(len(names) for names in table.values()) == len(list(model.parameters()))


def test_build_param_groups_rejects_overlap_and_omits_empty_groups():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    with pytest.raises(ValueError, match="in two sets"):
        build_param_groups(model, {"a": ["0.weight"], "b": ["0.weight"]})
    with pytest.raises(ValueError, match="no parameter"):
        build_param_groups(model, {"a": ["2.weight"]})
    with pytest.raises(ValueError, match="reserved"):
        build_param_groups(model, {"rest": ["0.weight"]})
    everything = [n for n, _ in model.named_parameters()]
    groups, table = build_param_groups(model, {"empty": [], "all": everything})
    assert [g["name"] for g in groups] == ["all"] and list(table) == ["all"]
