"""The map of a model's parameters: embeddings, attention / feed-forward block of each layer, head.

Every analysis in the paper is phrased in terms of these units: "re-initialise layer 3", "freeze the
feed-forward blocks of layers 0–3", "×10 learning rate for the attention of the top two layers". A
:class:`ModelMap` names the parameters (as ``model.named_parameters()`` spells them) that make up each
unit, so the rest of the toolkit never has to know how a family lays out its modules.

The SPEC's rules decide the borderline cases: a LayerNorm belongs to the block whose output it
normalises (``attention.output.LayerNorm`` to attention, ``output.LayerNorm`` to feed-forward);
parameters shared by all layers (DeBERTa-v2's relative position embeddings) and projections of the
embeddings (ELECTRA's ``embeddings_project``) count as embeddings; everything after the encoder
(pooler, classifier, ``qa_outputs``) is the head. A map is only accepted when every parameter lands in
exactly one unit (:func:`check_model_map`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from torch import nn

from xlingual_probe.utils.errors import UserError


@dataclass
class LayerMap:
    """The parameters of one transformer layer.

    Attributes:
        attention: self-attention q/k/v, the attention output projection and its LayerNorm.
        ffn: intermediate and output projections of the feed-forward block and its LayerNorm.
    """

    attention: list[str] = field(default_factory=list)
    ffn: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        """All parameters of the layer, attention first."""
        return self.attention + self.ffn


@dataclass
class ModelMap:
    """Parameter names of a model sorted into embeddings, layers (bottom → top) and head.

    Attributes:
        family: the adapter that built the map (``config.model_type``, or ``generic (...)``).
        embeddings: token/position/type embeddings, their LayerNorm and parameters shared by all
            layers (e.g. DeBERTa-v2's ``encoder.rel_embeddings``).
        layers: one :class:`LayerMap` per transformer layer, index 0 = bottom.
        head: everything after the encoder (pooler, classifier, ``qa_outputs``, ...).

    >>> m = ModelMap("toy", embeddings=["emb.weight"], layers=[LayerMap(["l0.q.weight"], ["l0.fc.weight"])],
    ...              head=["cls.weight"])
    >>> m.num_layers, m.unit_of("l0.fc.weight")
    (1, 'layer 0 ffn')
    """

    family: str
    embeddings: list[str] = field(default_factory=list)
    layers: list[LayerMap] = field(default_factory=list)
    head: list[str] = field(default_factory=list)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def units(self) -> list[tuple[str, list[str]]]:
        """``(unit name, parameter names)`` in model order: embeddings, each layer's attention and
        feed-forward block, head."""
        units = [("embeddings", self.embeddings)]
        for i, layer in enumerate(self.layers):
            units += [(f"layer {i} attention", layer.attention), (f"layer {i} ffn", layer.ffn)]
        units.append(("head", self.head))
        return units

    def names(self) -> list[str]:
        """Every parameter name the map holds, in unit order."""
        return [name for _, names in self.units() for name in names]

    def unit_of(self, name: str) -> str:
        """The unit (as in :meth:`units`) holding parameter ``name``.

        Raises:
            KeyError: if the map does not hold ``name``.
        """
        for unit, names in self.units():
            if name in names:
                return unit
        raise KeyError(name)


def _preview(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_model_map(model: nn.Module, model_map: ModelMap) -> ModelMap:
    """Check that every parameter of ``model`` lands in exactly one unit of ``model_map``.

    Returns:
        ``model_map`` unchanged, so the call can be chained.

    Raises:
        UserError: naming the parameters that are unassigned, assigned twice or not in the model
            (an adapter that does not fit this model variant).
    """
    expected = [name for name, _ in model.named_parameters()]
    counts = Counter(model_map.names())
    problems = []
    missing = [n for n in expected if n not in counts]
    if missing:
        problems.append(f"unassigned: {_preview(missing)}")
    doubles = [n for n, c in counts.items() if c > 1]
    if doubles:
        problems.append(f"assigned twice: {_preview(doubles)}")
    expected_set = set(expected)
    unknown = [n for n in counts if n not in expected_set]
    if unknown:
        problems.append(f"not parameters of the model: {_preview(unknown)}")
    if problems:
        raise UserError(f"the {model_map.family!r} parameter map does not fit {type(model).__name__} "
                        f"({'; '.join(problems)})")
    return model_map


def format_model_map(model: nn.Module, model_map: ModelMap) -> str:
    """A terminal table of the map: one row per unit with its parameter count and share.

    Used by ``xprobe inspect MODEL`` so a user can check which weights a layer-wise experiment
    will touch before spending GPU hours on it.

    >>> m = ModelMap("toy", embeddings=["0.weight"], head=["1.weight", "1.bias"])
    >>> print(format_model_map(nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2)), m))
    family: toy    layers: 0    parameters: 50 (trainable 50)
    unit        tensors  parameters   share
    embeddings        1          40   80.0%
    head              2          10   20.0%
    total             3          50  100.0%
    """
    params = dict(model.named_parameters())
    total = sum(p.numel() for p in params.values())
    trainable = sum(p.numel() for p in params.values() if p.requires_grad)
    rows = [(unit, len(names), sum(params[n].numel() for n in names)) for unit, names in model_map.units()]
    rows.append(("total", len(params), total))
    width = max(len("unit"), *(len(unit) for unit, _, _ in rows))
    header = f"family: {model_map.family}    layers: {model_map.num_layers}    parameters: {total:,}"
    lines = [f"{header} (trainable {trainable:,})"]
    lines.append(f"{'unit':<{width}}  {'tensors':>7}  {'parameters':>10}  {'share':>6}")
    for unit, count, size in rows:
        share = 100.0 * size / total if total else 0.0
        lines.append(f"{unit:<{width}}  {count:>7}  {size:>10,}  {share:>5.1f}%")
    return "\n".join(lines)
