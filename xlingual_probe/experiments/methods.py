"""The fine-tuning methods by name, and the TrainConfig values that make each one.

``direct`` (DF), ``noisytune``, ``slow`` (FS: policies I + II), ``fast`` (FF: III + IV) and
``slowfast`` (all four); the paper's abbreviations ``df``, ``fs`` and ``ff`` are accepted for the
first, third and fourth. A policy method may carry a Table-8 variant after a colon
(``slowfast:swap-S``). The policy methods need weight sets: :func:`resolve_sets` turns ``--sets``
(``paper``, ``auto`` or a selection file) into a selection, shared by every run of a comparison.

>>> method_values("noisytune", None)["noise_lambda"]
0.15
>>> method_values("slow", {"sets": {"S_I": "0", "S_II": "0:ffn", "V_I": "1", "V_II": "1:attention"},
...                        "policy_iv": True})["slowfast"]["policies"]
['I', 'II']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xlingual_probe.experiments.auto_selection import auto_selection
from xlingual_probe.experiments.executor import Executor
from xlingual_probe.models.units import count_layers
from xlingual_probe.selection import resolve_selection
from xlingual_probe.training.policies import SWAPS
from xlingual_probe.training.slowfast import POLICY_METHODS, slowfast_settings
from xlingual_probe.utils.errors import UserError

METHODS = ("direct", "noisytune", *POLICY_METHODS)
ALIASES = {"df": "direct", "fs": "slow", "ff": "fast"}  # the paper's names
NOISE_LAMBDA = 0.15  # NoisyTune's λ (SPEC)


def split_method(method: str) -> tuple[str, str | None]:
    """``"slowfast:swap-S"`` → ``("slowfast", "swap-S")``, ``"fs"`` → ``("slow", None)``; checks the names.

    Raises:
        UserError: an unknown method or variant, or a variant on a method without weight sets.
    """
    base, _, swap = method.strip().partition(":")
    base = ALIASES.get(base, base)
    if base not in METHODS:
        raise UserError(f"unknown method {base!r}; choose one of: {', '.join(METHODS)} "
                        f"(or {', '.join(ALIASES)})")
    if swap and base not in POLICY_METHODS:
        raise UserError(f"{method!r}: only {', '.join(POLICY_METHODS)} take a Table-8 variant")
    if swap and swap not in SWAPS:
        raise UserError(f"unknown variant {method!r}: use <method>:<swap> with swap in {', '.join(SWAPS)}")
    return base, swap or None


def canonical_method(method: str) -> str:
    """The method's full name (aliases resolved): ``"fs"`` → ``"slow"``, ``"ff:swap-V"`` → ``"fast:swap-V"``."""
    base, swap = split_method(method)
    return f"{base}:{swap}" if swap else base


def needs_sets(methods: list[str]) -> bool:
    return any(split_method(m)[0] in POLICY_METHODS for m in methods)


def resolve_sets(spec: str, train_values: dict[str, Any], seeds: list[int], auto_dir: str | Path, *,
                 num_layers: int | None = None, executor: Executor | None = None,
                 show_progress: bool = False) -> dict[str, Any]:
    """The selection named by ``--sets``: ``paper``, a selection file, or ``auto`` (sweep + CKA in ``auto_dir``,
    run by ``executor``)."""
    if num_layers is None:
        num_layers = count_layers(train_values["model"], bool(train_values.get("trust_remote_code")))
    if spec == "auto":
        return auto_selection(train_values, seeds, auto_dir, num_layers=num_layers, executor=executor,
                              show_progress=show_progress)
    return resolve_selection(spec, num_layers)


def method_values(method: str, selection: dict[str, Any] | None, *, noise_lambda: float = NOISE_LAMBDA,
                  policy: dict[str, Any] | None = None, policy_iv: str = "auto") -> dict[str, Any]:
    """The TrainConfig values of ``method``: ``method``, ``noise_lambda`` and ``slowfast``.

    Args:
        method: a method name, optionally ``policy-method:variant``.
        selection: the weight sets (needed by the policy methods).
        noise_lambda: NoisyTune's λ.
        policy: slow-and-fast hyper-parameters (c1, c2, r, window, threshold, phase_mode) for the
            policy methods (ignored by the others); ``None`` values take SPEC's defaults.
        policy_iv: ``auto`` (the selection's decision), ``on`` or ``off``.
    """
    base, swap = split_method(method)
    values: dict[str, Any] = {"method": canonical_method(method), "noise_lambda": 0.0, "slowfast": None}
    if base == "noisytune":
        values["noise_lambda"] = noise_lambda
    elif base in POLICY_METHODS:
        if selection is None:
            raise UserError(f"{method} needs weight sets (--sets)")
        if policy_iv not in ("auto", "on", "off"):
            raise UserError("--policy-iv must be auto, on or off")
        iv = bool(selection.get("policy_iv", True)) if policy_iv == "auto" else policy_iv == "on"
        hyper = {k: v for k, v in (policy or {}).items() if v is not None}
        values["slowfast"] = slowfast_settings(base, selection["sets"], policy_iv=iv, swap=swap, **hyper)
    return values


def selection_record(selection: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a run's ``config.json`` keeps of the selection it used."""
    return None if selection is None else {k: selection.get(k) for k in ("source", "sets", "policy_iv", "path")}
