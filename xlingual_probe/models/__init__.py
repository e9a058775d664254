"""Models: loading with a task head, the map of parameters by unit, and name-based manipulation.

``load_model`` gives a model and its tokenizer (``load_pretrained`` also the parameters the checkpoint did
not hold); ``get_model_map`` sorts the parameters into embeddings,
per-layer attention / feed-forward blocks and head; the rest (select, freeze, re-initialise, group for
the optimizer) acts on parameter names taken from that map.
"""

from xlingual_probe.models._adapters import ADAPTERS, FamilyAdapter, base_model_prefix, get_model_map
from xlingual_probe.models._generic import classify_block_parameter, find_layer_list, generic_model_map
from xlingual_probe.models._loading import HEADS, LoadedModel, load_model, load_pretrained
from xlingual_probe.models._manipulate import (
    COMPONENTS,
    freeze_parameters,
    frozen,
    reinitialize,
    reinitialized,
    select_parameters,
)
from xlingual_probe.models._map import LayerMap, ModelMap, check_model_map, format_model_map
from xlingual_probe.models._param_groups import build_param_groups
from xlingual_probe.models.units import count_layers, parse_layers, resolve_model_name, resolve_units

__all__ = [
    "ADAPTERS",
    "COMPONENTS",
    "HEADS",
    "FamilyAdapter",
    "LayerMap",
    "LoadedModel",
    "ModelMap",
    "base_model_prefix",
    "build_param_groups",
    "check_model_map",
    "classify_block_parameter",
    "count_layers",
    "find_layer_list",
    "format_model_map",
    "freeze_parameters",
    "frozen",
    "generic_model_map",
    "get_model_map",
    "load_model",
    "load_pretrained",
    "parse_layers",
    "reinitialize",
    "reinitialized",
    "resolve_model_name",
    "resolve_units",
    "select_parameters",
]
