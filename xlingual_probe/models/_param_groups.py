"""Optimizer parameter groups built from named parameter sets.

Slow-and-fast fine-tuning gives each weight set (S_I, S_II's component, V_I, V_II) its own learning-rate
multiplier, and the group experiments give a layer set ×10. The optimizer only sees groups, so every set
becomes one named group, everything else trainable becomes ``rest``, and the training loop writes the
``lr_scale`` of each group at every step (STYLE §4: policies return multipliers, the loop applies them).
The second return value of :func:`build_param_groups` is the group → parameter table the loop saves as
``param_groups.csv``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

REST = "rest"
NO_DECAY = "/no_decay"


def _no_decay(name: str, param: nn.Parameter) -> bool:
    # biases and norm weights are vectors; decaying them pulls LayerNorm gains toward zero
    return param.ndim <= 1 or name.endswith(".bias")


def build_param_groups(
    model: nn.Module,
    sets: dict[str, list[str]],
    weight_decay: float = 0.0,
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """One optimizer group per named parameter set (in the order given), then ``rest``.

    Args:
        model: the model whose trainable parameters are grouped; frozen ones are left out.
        sets: group name → parameter names (``named_parameters()`` spelling). ``"rest"`` is
            reserved for every trainable parameter no set names.
        weight_decay: decay of weight matrices; when > 0 each group is split into ``name``
            (decayed) and ``name/no_decay`` (biases, LayerNorm weights, other 1-d tensors; decay 0).

    Returns:
        The groups (dicts with ``params``, ``name``, ``set`` (the set it belongs to), ``lr_scale``
        (1.0; the loop sets it every update), ``weight_decay``; empty ones omitted) ready for
        ``torch.optim.AdamW``, and group name → parameter names.

    Raises:
        ValueError: if a parameter is in two sets, a name is unknown, or a set is called ``"rest"``.

    >>> model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    >>> groups, names = build_param_groups(model, {"top": ["1.weight", "1.bias"]}, weight_decay=0.01)
    >>> [(g["name"], g["set"], g["weight_decay"]) for g in groups]
    [('top', 'top', 0.01), ('top/no_decay', 'top', 0.0), ('rest', 'rest', 0.01), ('rest/no_decay', 'rest', 0.0)]
    >>> names["rest/no_decay"]
    ['0.bias']
    """
    if REST in sets:
        raise ValueError(f"{REST!r} is reserved for the parameters no set names")

    params = dict(model.named_parameters())
    owner: dict[str, str] = {}
    for group, names in sets.items():
        for name in names:
            if name not in params:
                raise ValueError(f"set {group!r}: {type(model).__name__} has no parameter {name!r}")
            if name in owner and owner[name] != group:
                raise ValueError(f"parameter {name!r} is in two sets: {owner[name]!r} and {group!r}")
            owner[name] = group

    members: dict[str, list[str]] = {group: [] for group in [*sets, REST]}
    for name, param in params.items():  # model order inside each group
        if param.requires_grad:
            members[owner.get(name, REST)].append(name)

    groups: list[dict[str, Any]] = []
    table: dict[str, list[str]] = {}
    for group, names in members.items():
        if weight_decay > 0:
            parts = [(group, [n for n in names if not _no_decay(n, params[n])], weight_decay),
                     (group + NO_DECAY, [n for n in names if _no_decay(n, params[n])], 0.0)]
        else:
            parts = [(group, names, 0.0)]
        for part, part_names, decay in parts:
            if part_names:
                groups.append({"params": [params[n] for n in part_names], "name": part, "set": group,
                               "lr_scale": 1.0, "weight_decay": decay})
                table[part] = part_names
    return groups, table
