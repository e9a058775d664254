"""Changing a model by parameter name: select, freeze, re-initialise, and group for the optimizer.

The layer sweep and the group experiments of the paper (SPEC "Probes" 2–3) are all "do X to the
parameters of unit U": :func:`select_parameters` turns a unit (layers × component) into names, and the
operations below act on names. Each change to a model also comes as a context manager that undoes it
on exit (:func:`frozen`, :func:`reinitialized`), because a change that outlives its experiment
silently contaminates the next one.

Re-initialisation uses the model's own ``_init_weights`` (SPEC: "the model's own ``_init_weights``"),
applied to the modules that own the selected parameters. Transformers v5 marks loaded tensors with
``_is_hf_initialized`` and its init helpers skip marked tensors, so the marks are lifted for the call
and put back after it; parameters the init function leaves untouched are reported, not ignored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import nn

from xlingual_probe.models._map import ModelMap
from xlingual_probe.utils.errors import UserError

COMPONENTS = ("all", "attention", "ffn", "embeddings", "head")


def select_parameters(model_map: ModelMap, layers: Iterable[int] | None, component: str) -> list[str]:
    """Names of the parameters of ``component`` in ``layers``.

    Args:
        model_map: the model's map (:func:`get_model_map`).
        layers: layer indices, 0 = bottom; negative ones count from the top (-1 = last layer);
            ``None`` = every layer. Must be ``None`` for ``"embeddings"`` and ``"head"``.
        component: ``"all"`` (whole layers), ``"attention"``, ``"ffn"``, or the units outside the
            layers: ``"embeddings"``, ``"head"``.

    Returns:
        Parameter names, layer by layer (bottom first), attention before feed-forward.

    Raises:
        UserError: for an unknown component or a layer index out of range.

    >>> from xlingual_probe.models._map import LayerMap
    >>> m = ModelMap("toy", embeddings=["emb"], layers=[LayerMap(["a0"], ["f0"]), LayerMap(["a1"], ["f1"])])
    >>> select_parameters(m, [-1], "all"), select_parameters(m, None, "ffn")
    (['a1', 'f1'], ['f0', 'f1'])
    """
    if component not in COMPONENTS:
        raise UserError(f"unknown component {component!r}; choose one of: {', '.join(COMPONENTS)}")
    if component in ("embeddings", "head"):
        if layers is not None:
            raise UserError(f"{component} are not part of a layer: give no layer indices with it")
        return list(getattr(model_map, component))
    n = model_map.num_layers
    indices = range(n) if layers is None else layers
    resolved: list[int] = []
    for index in indices:
        if not -n <= index < n:
            raise UserError(f"layer {index} out of range: the model has {n} layers (0..{n - 1}, or -1..-{n})")
        if index % n not in resolved:
            resolved.append(index % n)
    names: list[str] = []
    for index in sorted(resolved):
        layer = model_map.layers[index]
        names += layer.names() if component == "all" else getattr(layer, component)
    return names


def _parameters(model: nn.Module, names: Iterable[str]) -> dict[str, nn.Parameter]:
    params = dict(model.named_parameters())
    unknown = [name for name in names if name not in params]
    if unknown:
        raise UserError(f"{type(model).__name__} has no parameter(s) {', '.join(unknown[:5])}")
    return {name: params[name] for name in names}


def freeze_parameters(model: nn.Module, names: Iterable[str]) -> None:
    """Stop gradients for the named parameters (``requires_grad = False``).

    Raises:
        UserError: if a name is not a parameter of ``model``.
    """
    for param in _parameters(model, list(names)).values():
        param.requires_grad_(False)


@contextlib.contextmanager
def frozen(model: nn.Module, names: Iterable[str]) -> Iterator[None]:
    """Freeze the named parameters inside the ``with`` block; restore every previous flag on exit.

    >>> layer = nn.Linear(2, 2)
    >>> with frozen(layer, ["weight"]):
    ...     layer.weight.requires_grad, layer.bias.requires_grad
    (False, True)
    >>> layer.weight.requires_grad
    True
    """
    params = _parameters(model, list(names))
    before = {name: param.requires_grad for name, param in params.items()}
    freeze_parameters(model, params)
    try:
        yield
    finally:
        for name, param in params.items():
            param.requires_grad_(before[name])


def _init_owner(model: nn.Module, module_path: str) -> nn.Module:
    # the nearest enclosing pre-trained model knows the init of its sub-modules (composite models
    # may nest several, each with its own ``_init_weights``)
    parts = module_path.split(".") if module_path else []
    for depth in range(len(parts), -1, -1):
        candidate = model.get_submodule(".".join(parts[:depth]))
        if callable(getattr(candidate, "_init_weights", None)):
            return candidate
    raise UserError(f"{type(model).__name__} has no _init_weights method: cannot re-initialise it "
                    "the way its pre-training did")


@torch.no_grad()
def reinitialize(model: nn.Module, model_map: ModelMap, names: Iterable[str]) -> list[str]:
    """Re-initialise the named parameters with the model's own ``_init_weights``.

    The init function is applied to each module that directly owns a selected parameter (a Linear,
    LayerNorm or Embedding); other parameters of that module are put back, so only the selected
    ones change. Random draws come from torch's global RNG: seed it with ``torch.manual_seed``.

    Args:
        model: the model to change in place.
        model_map: its map; every name must be in it.
        names: parameters to re-initialise (e.g. from :func:`select_parameters`).

    Returns:
        The module paths that were re-initialised.

    Raises:
        UserError: for an unknown name, or a parameter the model's init function does not set
            (its previous value is restored first).
    """
    names = list(dict.fromkeys(names))
    mapped = set(model_map.names())
    outside = [name for name in names if name not in mapped]
    if outside:
        raise UserError(f"parameter(s) not in the model map: {', '.join(outside[:5])}")
    params = _parameters(model, names)
    owners: dict[str, list[str]] = {}
    for name in names:
        owners.setdefault(name.rpartition(".")[0], []).append(name)

    for module_path, selected in owners.items():
        module = model.get_submodule(module_path)
        init_owner = _init_owner(model, module_path)
        own = dict(module.named_parameters(recurse=False))
        backup = {short: p.detach().clone() for short, p in own.items()}
        flags = {short: p.__dict__.pop("_is_hf_initialized", None) for short, p in own.items()}
        module_flag = module.__dict__.get("_is_hf_initialized")
        module._is_hf_initialized = False
        # NaN marks what the init function never wrote, so a silently skipped tensor is caught
        for name in selected:
            params[name].fill_(float("nan"))
        try:
            init_owner._init_weights(module)
        finally:
            for short, p in own.items():
                if flags[short] is not None:
                    p._is_hf_initialized = flags[short]
                if module_path + "." + short not in selected:
                    p.copy_(backup[short])
            if module_flag is None:
                del module._is_hf_initialized
            else:
                module._is_hf_initialized = module_flag
        untouched = [name for name in selected if torch.isnan(params[name]).any()]
        if untouched:
            for name in untouched:
                params[name].copy_(backup[name.rpartition(".")[2]])
            raise UserError(f"{type(init_owner).__name__}._init_weights does not initialise "
                            f"{', '.join(untouched)} ({type(module).__name__}); cannot re-initialise it")
    return list(owners)


@contextlib.contextmanager
def reinitialized(model: nn.Module, model_map: ModelMap, names: Iterable[str]) -> Iterator[list[str]]:
    """:func:`reinitialize` inside the ``with`` block; the previous values are restored on exit.

    Yields:
        The module paths that were re-initialised.
    """
    params = _parameters(model, list(names))
    saved = {name: param.detach().clone() for name, param in params.items()}
    try:
        yield reinitialize(model, model_map, params)
    finally:
        with torch.no_grad():
            for name, param in params.items():
                param.copy_(saved[name])
