"""The catalogue of the layer sweep: which model change each experiment applies before fine-tuning.

Context:
    Guo et al. (ACL 2023) locate the weights that carry the multilingual knowledge by changing one
    piece of the model at a time and fine-tuning as usual (DF): re-initialising a layer shows how
    much of what it learned in pre-training the task needs (Figure 3, left); freezing it shows
    whether fine-tuning it is forgetting something (Figure 3, right). Their Table 1/6 repeats this
    for groups: the attention blocks, the feed-forward blocks or whole layers of the bottom layers,
    fine-tuning only the last k layers, and a ×10 learning rate for parts of the top layers.

Every experiment is a set of :class:`~xlingual_probe.training.TrainConfig` changes (``freeze``,
``reinit``, ``lr_scale`` units, see :mod:`xlingual_probe.models.units`) added to the shared base
configuration, so the run directory's ``config.json`` records exactly what was changed. The families:

    baseline       DF, no change (one per seed, shared by every experiment)
    reinit         re-initialise layer ℓ (each selected layer; ``embeddings`` too if asked)
    freeze         freeze layer ℓ
    group-freeze   freeze whole layers / the attention blocks / the feed-forward blocks of a set
    group-reinit   re-initialise the same three groups
    last-k         fine-tune only the top k layers: the embeddings and every layer below them are
                   frozen, the task head stays trainable (the paper's "fine-tune only the last k
                   layers"; the embeddings are part of what is not fine-tuned)
    lr-x10         multiply the learning rate of whole layers / attention / feed-forward of a set by
                   ``lr_factor`` (10 in the paper; the label records the factor actually used)

>>> [e.label for e in build_experiments(["freeze", "last-k"], num_layers=3, last_k=[1])]
['baseline', 'freeze-L0', 'freeze-L1', 'freeze-L2', 'last-1']
>>> build_experiments(["last-k"], num_layers=3, last_k=[1])[1].freeze
['embeddings', 'bottom2']
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from xlingual_probe.models.units import parse_layers, split_unit
from xlingual_probe.runs import BASELINE
from xlingual_probe.utils.errors import UserError

GROUP_COMPONENTS = ("all", "attention", "ffn")


@dataclass(frozen=True)
class ExperimentSettings:
    """The knobs of the experiment families (see :class:`~xlingual_probe.experiments.sweep.SweepConfig`)."""

    layers: str = "all"
    include_embeddings: bool = False
    bottom_set: str = "bottom4"
    top_set: str = "top2"
    last_k: tuple[int, ...] = (1, 2, 3)
    lr_factor: float = 10.0


@dataclass
class Experiment:
    """One model change of the sweep.

    Attributes:
        experiment: the family (``baseline``, ``reinit``, ``freeze``, ``group-freeze``, ...).
        label: unique, file-name safe name (``reinit-L3``, ``group-freeze-bottom4-ffn``, ``last-2``).
        unit: the layer index (``"3"``), ``embeddings``, or the layer set (``bottom4``, ``top2``);
            empty for the baseline. For ``last-k`` the set that is fine-tuned (``top{k}``).
        component: ``all``, ``attention`` or ``ffn``; empty for the baseline.
        freeze: units added to the config's ``freeze``.
        reinit: units added to the config's ``reinit``.
        lr_scale: multipliers added to the config's ``lr_scale``.
    """

    experiment: str
    label: str
    unit: str = ""
    component: str = ""
    freeze: list[str] = field(default_factory=list)
    reinit: list[str] = field(default_factory=list)
    lr_scale: dict[str, float] = field(default_factory=dict)


def _safe(text: str) -> str:
    """A layer-set spec as a file-name part: ``0-3,5`` → ``0-3_5``."""
    return re.sub(r"[^A-Za-z0-9-]+", "_", text).strip("_")


def _unit_spec(layer_set: str, component: str) -> str:
    return layer_set if component == "all" else f"{layer_set}:{component}"


def _group_label(prefix: str, layer_set: str, component: str) -> str:
    return f"{prefix}-{_safe(layer_set)}" + ("" if component == "all" else f"-{component}")


def _check_layer_set(option: str, layer_set: str, num_layers: int) -> None:
    try:
        kind, _, _ = split_unit(layer_set, num_layers)
    except UserError as exc:
        raise UserError(f"{option}: {exc}") from None
    if kind != "layers" or ":" in layer_set:
        raise UserError(f"{option} {layer_set!r} must name layers only (e.g. bottom4, top2, 0-3)")


def _per_layer(kind: str, settings: ExperimentSettings, num_layers: int) -> list[Experiment]:
    units = [str(layer) for layer in parse_layers(settings.layers, num_layers)]
    if settings.include_embeddings:
        units = ["embeddings"] + units
    return [Experiment(kind, f"{kind}-{'embeddings' if u == 'embeddings' else 'L' + u}", u, "all",
                       **{kind: [u]}) for u in units]


def _group(kind: str, settings: ExperimentSettings, num_layers: int) -> list[Experiment]:
    _check_layer_set("--bottom-set", settings.bottom_set, num_layers)
    action = kind.removeprefix("group-")
    return [Experiment(kind, _group_label(kind, settings.bottom_set, c), settings.bottom_set, c,
                       **{action: [_unit_spec(settings.bottom_set, c)]}) for c in GROUP_COMPONENTS]


def _last_k(kind: str, settings: ExperimentSettings, num_layers: int) -> list[Experiment]:
    out = []
    for k in settings.last_k:
        if not 0 < k <= num_layers:
            raise UserError(f"--last-k {k}: the model has {num_layers} layers (choose 1-{num_layers})")
        below = [] if k == num_layers else [f"bottom{num_layers - k}"]
        out.append(Experiment(kind, f"last-{k}", f"top{k}", "all", freeze=["embeddings"] + below))
    return out


def _lr_scale(kind: str, settings: ExperimentSettings, num_layers: int) -> list[Experiment]:
    _check_layer_set("--top-set", settings.top_set, num_layers)
    if settings.lr_factor <= 0:
        raise UserError("--lr-factor must be positive")
    prefix = f"lr-x{settings.lr_factor:g}".replace(".", "p")
    return [Experiment(kind, _group_label(prefix, settings.top_set, c), settings.top_set, c,
                       lr_scale={_unit_spec(settings.top_set, c): float(settings.lr_factor)})
            for c in GROUP_COMPONENTS]


# the registry of experiment families: name -> builder(name, settings, num_layers)
FAMILIES: dict[str, Callable[[str, ExperimentSettings, int], list[Experiment]]] = {
    "reinit": _per_layer,
    "freeze": _per_layer,
    "group-freeze": _group,
    "group-reinit": _group,
    "last-k": _last_k,
    "lr-x10": _lr_scale,
}
EXPERIMENTS = tuple(FAMILIES)


def parse_experiments(text: str | list[str]) -> list[str]:
    """The experiment families named by a comma list (or ``all``), in catalogue order.

    >>> parse_experiments("lr-x10,freeze")
    ['freeze', 'lr-x10']

    Raises:
        UserError: an unknown name (the message lists the valid ones).
    """
    names = [n.strip() for part in ([text] if isinstance(text, str) else text) for n in part.split(",")]
    names = [n for n in names if n]
    if not names or "all" in names:
        return list(EXPERIMENTS)
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise UserError(f"unknown experiment(s) {', '.join(unknown)}; choose from: all, {', '.join(EXPERIMENTS)}")
    return [n for n in EXPERIMENTS if n in names]


def build_experiments(families: list[str], num_layers: int, **settings) -> list[Experiment]:
    """The baseline followed by every experiment of ``families`` for a model of ``num_layers`` layers.

    Args:
        families: names from :data:`EXPERIMENTS` (see :func:`parse_experiments`).
        num_layers: the encoder's number of transformer layers.
        **settings: fields of :class:`ExperimentSettings`.

    Raises:
        UserError: a layer set or ``k`` the model does not have.
    """
    if "last_k" in settings:
        settings["last_k"] = tuple(settings["last_k"])
    options = ExperimentSettings(**settings)
    out = [Experiment(BASELINE, BASELINE)]
    for family in parse_experiments(families):
        out += FAMILIES[family](family, options, num_layers)
    return out
