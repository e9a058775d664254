"""A best-effort parameter map for encoder families without a built-in adapter.

Most encoders keep their transformer layers in one ``nn.ModuleList`` of identical blocks and name the
parts of a block after what they do (``attention``, ``self_attn``, ``q_proj`` ... versus ``mlp``,
``intermediate``, ``fc1`` ...). :func:`generic_model_map` relies on exactly that: the list of blocks with
the most parameters is the layer stack, each block parameter goes to attention or feed-forward by the
first part of its name that says which, parameters before the stack are embeddings and parameters after
it are the head (except shared position tables such as MPNet's ``relative_attention_bias``, which are
embeddings wherever they sit).

When a name says nothing (``3.dense.weight``), or the layers are spread over several parallel lists
(XLM's ``attentions.i`` / ``ffns.i``), it refuses with a :class:`UserError` instead of guessing: a wrong
map would silently corrupt every layer-wise experiment.
"""

from __future__ import annotations

from typing import Literal

from torch import nn

from xlingual_probe.models._map import LayerMap, ModelMap
from xlingual_probe.utils.errors import UserError

Block = Literal["attention", "ffn"]

# LayerNorms named by their position rather than by a parent module ("LayerNorms go with their block").
_ATTENTION_NORMS = {
    "sa_layer_norm", "ln_1", "ln1", "input_layernorm", "self_attn_layer_norm", "attention_norm",
    "attn_norm", "attn_layer_norm", "attention_layernorm", "norm1", "layer_norm1", "attn_ln", "ln_attn",
    "layernorm_before", "pre_attention_layernorm",
}
_FFN_NORMS = {
    "output_layer_norm", "ln_2", "ln2", "post_attention_layernorm", "final_layer_norm", "ffn_norm",
    "ffn_layer_norm", "norm2", "layer_norm2", "mlp_ln", "ln_mlp", "mlp_norm", "layernorm_after",
    "pre_feedforward_layernorm", "post_feedforward_layernorm",
}
_ATTENTION_PARTS = {
    "attention", "attn", "self_attn", "self_attention", "selfattention", "self", "q_proj", "k_proj",
    "v_proj", "o_proj", "qkv_proj", "query", "key", "value", "query_proj", "key_proj", "value_proj",
    "q_lin", "k_lin", "v_lin", "out_lin", "qkv", "query_key_value", "wqkv", "wq", "wk", "wv", "c_attn",
    "q", "k", "v", "o",
}
_FFN_PARTS = {
    "mlp", "ffn", "feed_forward", "feedforward", "densereludense", "intermediate", "output", "fc1", "fc2",
    "fc_in", "fc_out", "dense_h_to_4h", "dense_4h_to_h", "lin1", "lin2", "up_proj", "down_proj",
    "gate_proj", "gate_up_proj", "w1", "w2", "w3", "wi", "wi_0", "wi_1", "wo", "c_fc",
}


def classify_block_parameter(name: str) -> Block | None:
    """Attention or feed-forward, from a parameter name relative to its block (``None``: can't tell).

    The outermost part of the name that is recognised decides, so ``attention.output.LayerNorm``
    is attention while ``output.LayerNorm`` is feed-forward.

    >>> classify_block_parameter("attention.output.LayerNorm.weight")
    'attention'
    >>> classify_block_parameter("output.LayerNorm.weight"), classify_block_parameter("post_attention_layernorm.weight")
    ('ffn', 'ffn')
    >>> classify_block_parameter("dense.weight") is None
    True
    """
    parts = [p.lower() for p in name.split(".")]
    for part in parts:
        if part in _ATTENTION_NORMS:
            return "attention"
        if part in _FFN_NORMS:
            return "ffn"
        if part in _ATTENTION_PARTS:
            return "attention"
        if part in _FFN_PARTS:
            return "ffn"
        if "attn" in part or "attention" in part:
            return "attention"
        if any(hint in part for hint in ("mlp", "ffn", "feed_forward", "feedforward")):
            return "ffn"
    return None


def _is_embedding_like(name: str) -> bool:
    parts = [p.lower() for p in name.split(".")]
    return any("embed" in p or "relative" in p or "position" in p or p in ("wte", "wpe") for p in parts)


def find_layer_list(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The layer stack: the ``nn.ModuleList`` of same-class blocks with the most parameters.

    Raises:
        UserError: if there is none, or if several lists of the same length compete (layers split
            into parallel lists).
    """
    candidates = []
    for path, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        classes = {type(child) for child in module}
        if len(classes) != 1 or issubclass(classes.pop(), (nn.ModuleList, nn.ModuleDict)):
            continue
        size = sum(p.numel() for p in module.parameters())
        if size:
            candidates.append((size, path, module))
    if not candidates:
        raise UserError(f"cannot find the transformer layers of {type(model).__name__}: "
                        "no list of identical blocks with parameters")
    _, path, blocks = max(candidates, key=lambda c: c[0])
    rivals = [p for _, p, m in candidates
              if p != path and len(m) == len(blocks) and not p.startswith(path + ".")]
    if rivals:
        raise UserError(f"the layers of {type(model).__name__} seem split over several lists "
                        f"({', '.join([path, *rivals])}); the generic map cannot join them")
    return path, blocks


def _base_model(model: nn.Module) -> tuple[str, nn.Module]:
    base = getattr(model, "base_model", model)
    for path, module in model.named_modules():
        if module is base:
            return (path + "." if path else ""), base
    return "", model


def generic_model_map(model: nn.Module) -> ModelMap:
    """Build a :class:`ModelMap` from module structure and parameter names alone.

    Raises:
        UserError: naming the first parameter it cannot place (see the module docstring).
    """
    model_type = getattr(getattr(model, "config", None), "model_type", None) or type(model).__name__
    path, blocks = find_layer_list(model)
    layers = [LayerMap() for _ in blocks]
    embeddings: list[str] = []
    head: list[str] = []
    prefix = path + "."
    for name, _ in model.named_parameters():
        if not name.startswith(prefix):
            continue
        index, rest = name[len(prefix):].split(".", 1)
        block = classify_block_parameter(rest)
        if block is None:
            raise UserError(f"cannot tell whether parameter {name!r} of {model_type} belongs to the "
                            "attention or the feed-forward block of its layer")
        getattr(layers[int(index)], block).append(name)

    # Outside the blocks, position decides: what the base model registers before the layer stack is
    # embeddings, what comes after (pooler, final norm) and everything outside it (task head) is head.
    base_prefix, base = _base_model(model)
    seen_blocks = False
    base_names = set()
    for rel, _ in base.named_parameters():
        name = base_prefix + rel
        base_names.add(name)
        if name.startswith(prefix):
            seen_blocks = True
        elif not seen_blocks or _is_embedding_like(rel):
            embeddings.append(name)
        else:
            head.append(name)
    head += [name for name, _ in model.named_parameters() if name not in base_names]
    return ModelMap(
        family=f"generic ({model_type})",
        embeddings=embeddings,
        layers=layers,
        head=head,
    )
