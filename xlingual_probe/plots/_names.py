"""Display names: the paper's method names and readable labels for sweep experiments.

>>> method_name("direct"), method_name("slow"), method_name("slowfast:swap-S")
('DF', 'FS', 'slow-and-fast (swap-S)')
>>> experiment_name("last-k", "last-2", "top2", "all"), experiment_name("lr-x10", "lr-x10-top2-attention", "top2", "attention")
('fine-tune last 2 layers', '×10 lr, top2 attention')
"""

from __future__ import annotations

import re

from xlingual_probe.runs import BASELINE

METHOD_NAMES = {"direct": "DF", "noisytune": "NoisyTune", "slow": "FS", "fast": "FF", "slowfast": "slow-and-fast"}
METHOD_ORDER = ("direct", "noisytune", "slow", "fast", "slowfast")


def method_name(method: str) -> str:
    """The paper's name of a method (``slowfast:<swap>`` keeps its variant)."""
    base, _, swap = str(method).partition(":")
    name = METHOD_NAMES.get(base, base)
    return f"{name} ({swap})" if swap else name


def method_key(method: str) -> tuple[int, str]:
    """Sort key: DF, NoisyTune, FS, FF, slow-and-fast, then variants and unknown methods by name."""
    base, _, swap = str(method).partition(":")
    rank = METHOD_ORDER.index(base) if base in METHOD_ORDER and not swap else len(METHOD_ORDER)
    return rank, str(method)


def _component(component: str) -> str:
    return "" if component in ("", "all") else f" {component}"


def experiment_name(experiment: str, label: str, unit: str, component: str) -> str:
    """A sweep experiment as a table row / bar label."""
    if experiment == BASELINE:
        return "DF (baseline)"
    if experiment == "last-k":
        k = unit.removeprefix("top")
        return f"fine-tune last {k} layer{'s' if k != '1' else ''}"
    if experiment in ("group-freeze", "group-reinit"):
        verb = "freeze" if experiment == "group-freeze" else "re-init"
        return f"{verb} {unit}{_component(component) or ' (whole layers)'}"
    if experiment == "lr-x10":
        found = re.match(r"lr-x([0-9p.]+)", label)
        factor = found.group(1).replace("p", ".") if found else "10"
        return f"×{factor} lr, {unit}{_component(component) or ' (whole layers)'}"
    if experiment in ("reinit", "freeze"):
        return f"{'re-init' if experiment == 'reinit' else 'freeze'} layer {unit}"
    return label
