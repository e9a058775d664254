"""Built-in parameter maps of the encoder families the paper (and its usual follow-ups) use.

An adapter turns a model into a :class:`ModelMap`. The BERT-like families differ only in a handful of
module names, so each one is a :class:`FamilyAdapter`: where the layer list lives, which prefixes are
embeddings, and which prefixes inside a layer are attention or feed-forward. Adapters are registered in
:data:`ADAPTERS` under ``config.model_type``; a model type without one gets the name-based
:func:`generic_model_map`. Adapters are strict: a parameter they do not expect (a model variant they
were not written for) is an error, never a silent guess.

Built-in families (layer list relative to the base model; embeddings besides ``embeddings.*``):

- ``bert`` (mBERT, LaBSE), ``roberta``, ``xlm-roberta`` (XLM-R and multilingual-e5, whose
  ``model_type`` is ``xlm-roberta``): ``encoder.layer``.
- ``xlm-roberta-xl`` (XLM-R XL and XXL, pre-LayerNorm): ``encoder.layer``; the LayerNorm before each
  layer's feed-forward block (``LayerNorm``) is ffn, the one before its attention sits inside
  ``attention.``; the final ``encoder.LayerNorm`` (after the last layer) is head.
- ``electra``: ``encoder.layer``; ``embeddings_project`` is an embedding.
- ``deberta-v2`` (mDeBERTa-v3): ``encoder.layer``; ``encoder.rel_embeddings``, ``encoder.LayerNorm``
  and ``encoder.conv`` are embeddings (shared by, or outside, the layers).
- ``distilbert``: ``transformer.layer``; ``sa_layer_norm`` is attention, ``output_layer_norm`` ffn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from xlingual_probe.models._generic import generic_model_map
from xlingual_probe.models._map import LayerMap, ModelMap, check_model_map
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.registry import Registry

Adapter = Callable[[nn.Module], ModelMap]

ADAPTERS: Registry[Adapter] = Registry("model family")


def base_model_prefix(model: nn.Module) -> str:
    """``"roberta."`` for a model with a task head, ``""`` for a bare base model."""
    attr = getattr(model, "base_model_prefix", "")
    return attr + "." if attr and isinstance(getattr(model, attr, None), nn.Module) else ""


@dataclass(frozen=True)
class FamilyAdapter:
    """The map of a BERT-like family, described by module-name prefixes.

    Attributes:
        family: the ``config.model_type`` it serves.
        layers: path of the layer ``nn.ModuleList``, relative to the base model.
        embeddings: prefixes (relative to the base model) of embedding parameters.
        attention: prefixes (relative to a layer) of the attention block.
        ffn: prefixes (relative to a layer) of the feed-forward block.
        base_head: prefixes (relative to the base model) of head parameters inside the base model.
    """

    family: str
    layers: str = "encoder.layer"
    embeddings: tuple[str, ...] = ("embeddings.",)
    attention: tuple[str, ...] = ("attention.",)
    ffn: tuple[str, ...] = ("intermediate.", "output.")
    base_head: tuple[str, ...] = ("pooler.",)

    def __call__(self, model: nn.Module) -> ModelMap:
        base = base_model_prefix(model)
        layers_path = base + self.layers
        try:
            n_layers = len(model.get_submodule(layers_path))
        except AttributeError:
            raise UserError(f"{type(model).__name__} has no module {layers_path!r}: not a "
                            f"{self.family} model as the {self.family!r} adapter knows it") from None
        model_map = ModelMap(family=self.family, layers=[LayerMap() for _ in range(n_layers)])
        for name, _ in model.named_parameters():
            if name.startswith(layers_path + "."):
                index, rest = name[len(layers_path) + 1:].split(".", 1)
                layer = model_map.layers[int(index)]
                if rest.startswith(self.attention):
                    layer.attention.append(name)
                elif rest.startswith(self.ffn):
                    layer.ffn.append(name)
                else:
                    raise UserError(f"the {self.family!r} adapter does not know layer parameter {name!r}")
            elif not name.startswith(base):
                model_map.head.append(name)
            elif name[len(base):].startswith(self.embeddings):
                model_map.embeddings.append(name)
            elif name[len(base):].startswith(self.base_head):
                model_map.head.append(name)
            else:
                raise UserError(f"the {self.family!r} adapter does not know parameter {name!r}")
        return model_map


for _adapter in (
    FamilyAdapter("bert"),
    FamilyAdapter("roberta"),
    FamilyAdapter("xlm-roberta"),
    FamilyAdapter("xlm-roberta-xl", ffn=("intermediate.", "output.", "LayerNorm."),
                  base_head=("pooler.", "encoder.LayerNorm.")),
    FamilyAdapter("electra", embeddings=("embeddings.", "embeddings_project.")),
    # mDeBERTa: relative position embeddings and their LayerNorm are shared by every layer; the
    # optional convolution (conv_kernel_size > 0, not in mDeBERTa-v3) sits outside the layer list too
    FamilyAdapter("deberta-v2", embeddings=("embeddings.", "encoder.rel_embeddings.", "encoder.LayerNorm.",
                                            "encoder.conv.")),
    FamilyAdapter("distilbert", layers="transformer.layer", attention=("attention.", "sa_layer_norm."),
                  ffn=("ffn.", "output_layer_norm."), base_head=()),
):
    ADAPTERS.register(_adapter.family)(_adapter)


def get_model_map(model: nn.Module, *, family: str | None = None) -> ModelMap:
    """Sort every parameter of ``model`` into embeddings, layers (attention / ffn) and head.

    Args:
        model: a Hugging Face encoder, with or without a task head (or any ``nn.Module`` that the
            generic fallback understands).
        family: force an adapter (a name in :data:`ADAPTERS`, or ``"generic"``); default: the
            adapter registered for ``model.config.model_type``, else the generic fallback.

    Returns:
        A map in which every parameter appears exactly once (checked).

    Raises:
        UserError: if the adapter does not fit the model or the generic fallback cannot place a
            parameter (the message lists the built-in families).

    >>> from transformers import BertConfig, BertForSequenceClassification
    >>> model = BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=2,
    ...                                                  num_attention_heads=2, intermediate_size=16))
    >>> m = get_model_map(model)
    >>> m.family, m.num_layers, m.head
    ('bert', 2, ['bert.pooler.dense.weight', 'bert.pooler.dense.bias', \
'classifier.weight', 'classifier.bias'])
    """
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if family is None:
        family = model_type if model_type in ADAPTERS else "generic"
    if family == "generic":
        try:
            model_map = generic_model_map(model)
        except UserError as e:
            raise UserError(f"{e}; built-in families: {', '.join(ADAPTERS.names())} "
                            "(or register an adapter in xlingual_probe.models.ADAPTERS)") from None
    else:
        model_map = ADAPTERS.get(family)(model)
    return check_model_map(model, model_map)
