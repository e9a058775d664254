"""Units: short strings naming weight sets of a model map, used by options and config files.

Syntax: ``embeddings`` | ``head`` | ``<layers>[:<component>]`` where ``<layers>`` is ``all``,
``bottomK``, ``topK`` or a comma list of layer indices and ranges (``0-3,5``; negative indices count
from the top, ``-1`` = last layer) and ``<component>`` is ``all`` (default), ``attention`` or ``ffn``.

>>> parse_layers("0-2,5", 12), parse_layers("top2", 12), parse_layers("-1", 12)
([0, 1, 2, 5], [10, 11], [11])
"""

from __future__ import annotations

import re
from pathlib import Path

from xlingual_probe.models._manipulate import select_parameters
from xlingual_probe.utils.errors import UserError

COMPONENTS = ("all", "attention", "ffn")


def parse_layers(spec: str, num_layers: int) -> list[int]:
    """Layer indices (sorted, 0 = bottom) named by ``spec``; raises UserError when out of range."""
    spec = spec.strip()
    if spec == "all":
        return list(range(num_layers))
    m = re.fullmatch(r"(bottom|top)(\d+)", spec)
    if m:
        k = int(m.group(2))
        if not 0 < k <= num_layers:
            raise UserError(f"{spec!r}: the model has {num_layers} layers")
        return list(range(k)) if m.group(1) == "bottom" else list(range(num_layers - k, num_layers))
    layers: set[int] = set()
    for part in spec.split(","):
        m = re.fullmatch(r"(-?\d+)(?:-(-?\d+))?", part.strip())
        if not m:
            raise UserError(f"cannot read layer set {spec!r} (use e.g. 0-3, 10,11, bottom4, top2, all)")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        for index in (lo, hi):
            if not -num_layers <= index < num_layers:
                raise UserError(f"layer {index} out of range: the model has {num_layers} layers (0-{num_layers - 1})")
        lo, hi = lo % num_layers, hi % num_layers
        if hi < lo:  # an empty range would freeze or re-initialise nothing, silently
            raise UserError(f"layer range {part.strip()!r} runs backwards (layers {lo} to {hi}); write it low-high")
        layers.update(range(lo, hi + 1))
    return sorted(layers)


def split_unit(spec: str, num_layers: int) -> tuple[str, list[int], str]:
    """``(kind, layers, component)`` of a unit string; kind is ``embeddings``, ``head`` or ``layers``."""
    spec = spec.strip()
    if spec in ("embeddings", "head"):
        return spec, [], "all"
    layer_part, _, component = spec.partition(":")
    component = component or "all"
    if component not in COMPONENTS:
        raise UserError(f"unknown component {component!r} in {spec!r}; choose one of: {', '.join(COMPONENTS)}")
    return "layers", parse_layers(layer_part, num_layers), component


def resolve_units(model_map, specs: list[str]) -> list[str]:
    """Parameter names of the union of the units ``specs`` (in model order, without repeats)."""
    names: list[str] = []
    for spec in specs:
        kind, layers, component = split_unit(spec, len(model_map.layers))
        if kind == "embeddings":
            names += model_map.embeddings
        elif kind == "head":
            names += model_map.head
        else:
            names += select_parameters(model_map, layers, component)
    return list(dict.fromkeys(names))


def resolve_model_name(name: str) -> str:
    """Map the synthetic world's names (``synthetic``, ``synthetic:<preset>``) to its cached checkpoint."""
    if name == "synthetic" or name.startswith("synthetic:"):
        from xlingual_probe.synthetic import resolve_synthetic_model

        return resolve_synthetic_model(name)
    return name


def count_layers(model: str, trust_remote_code: bool = False) -> int:
    """Number of transformer layers of ``model`` read from its config (no weights are loaded).

    Raises:
        UserError: the config cannot be loaded or names no layer count.
    """
    from transformers import AutoConfig

    name = resolve_model_name(model)
    if name.startswith(("/", ".", "~")) and not Path(name).expanduser().is_dir():
        raise UserError(f"model folder not found: {name}")
    try:
        config = AutoConfig.from_pretrained(str(Path(name).expanduser()) if name.startswith("~") else name,
                                            trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load the config of {model!r}: {' '.join(str(exc).split())[:300]}") from exc
    for attr in ("num_hidden_layers", "n_layers", "num_layers", "n_layer"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    raise UserError(f"cannot tell how many layers {model!r} has from its config")
