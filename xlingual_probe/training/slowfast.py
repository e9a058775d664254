"""Slow-and-fast fine-tuning in the loop: weight sets from a selection, K per set from the policy engine.

A run's ``TrainConfig.slowfast`` holds everything (so ``config.json`` alone reproduces it):
the four sets as unit strings (``S_I``, ``S_II``, ``V_I``, ``V_II``, see :mod:`xlingual_probe.models.units`),
the policy hyper-parameters of :class:`~xlingual_probe.training.policies.SlowFastConfig`, the enabled
policies (FS = I+II, FF = III+IV, slow-and-fast = all) and an optional ``swap`` (the paper's Table 8).

The optimizer sees four disjoint groups, ``S_I`` = S_I∖S_II, ``S_II``, ``V_I`` = V_I∖V_II and ``V_II``
(plus ``rest``); each group's K comes from :class:`~xlingual_probe.training.policies.SlowFastPolicy`
with the roles of :data:`~xlingual_probe.training.policies.DEFAULT_ROLES`, updated by the swap's
:data:`~xlingual_probe.training.policies.SWAPS`. Policy III is the absence of a slow-down, so it
never changes a number: this is why ``only-V_II`` equals the default and ``swap-V`` equals
``only-V_I`` numerically (the run still records which was asked for).
"""

from __future__ import annotations

from typing import Any

import torch

from xlingual_probe.models.units import resolve_units
from xlingual_probe.training.policies import (
    DEFAULT_ROLES,
    METHOD_POLICIES,
    SWAPS,
    WEIGHT_SETS,
    SlowFastConfig,
    SlowFastPolicy,
)
from xlingual_probe.utils.errors import UserError

# the fine-tuning methods that take weight sets (`xprobe train slow|fast|slowfast`)
POLICY_METHODS = tuple(m for m, policies in METHOD_POLICIES.items() if policies)


def slowfast_settings(method: str, sets: dict[str, str | None], *, policy_iv: bool = True, swap: str | None = None,
                      **hyper: Any) -> dict[str, Any]:
    """The ``TrainConfig.slowfast`` dict of a method (``slowfast``, ``slow`` = FS, ``fast`` = FF).

    >>> s = slowfast_settings("slow", {"S_I": "0-9", "S_II": "0-3:ffn", "V_I": "10-11", "V_II": "10-11:attention"})
    >>> s["policies"], s["c1"], s["swap"]
    (['I', 'II'], 0.01, None)
    """
    if method not in POLICY_METHODS:
        raise UserError(f"unknown slow-and-fast method {method!r}; choose one of: {', '.join(POLICY_METHODS)}")
    if swap is not None and swap not in SWAPS:
        raise UserError(f"unknown --swap {swap!r}; choose one of: {', '.join(SWAPS)}")
    config = SlowFastConfig.for_method(method, policy_iv=policy_iv, **hyper)
    return {**{k: v for k, v in vars(config).items() if k != "policies"}, "policies": list(config.policies),
            "sets": {name: sets.get(name) or None for name in WEIGHT_SETS}, "swap": swap}


def phase_warning(summary: dict[str, Any]) -> str | None:
    """A warning for a policy run that never reached phase 2 (``summary`` of :func:`~xlingual_probe.training.train`),
    else None: only policy I acted (policy III never changes a multiplier), so FF equals DF."""
    if summary.get("phase2_updates", 1) > 0:
        return None
    return (f"warning: this {summary['method']} run never reached phase 2 in {summary['steps']} updates (the loss "
            "mean still fell by more than --threshold per --window updates): policies II and IV never acted. "
            "Train longer, or use a shorter --window or a larger --threshold.")


class SlowFastLRPolicy:
    """The loop's :class:`~xlingual_probe.training.callbacks.LRPolicy` for slow-and-fast and FS / FF."""

    def __init__(self, settings: dict[str, Any]):
        hyper = {k: settings[k] for k in ("c1", "c2", "r", "window", "threshold", "phase_mode")}
        self.config = SlowFastConfig(policies=tuple(settings["policies"]), **hyper)
        self.engine = SlowFastPolicy(self.config, roles={**DEFAULT_ROLES, **SWAPS.get(settings.get("swap") or "", {})})
        self.units = settings["sets"]

    def param_sets(self, model: torch.nn.Module, model_map: Any) -> dict[str, list[str]]:
        """The four disjoint groups S_I∖S_II, S_II, V_I∖V_II, V_II (parameter names)."""
        full = {name: set(resolve_units(model_map, [unit])) if unit else set() for name, unit in self.units.items()}
        if not full["S_II"] <= full["S_I"]:
            raise UserError(f"S_II ({self.units['S_II']}) must lie inside S_I ({self.units['S_I']})")
        if not full["V_II"] <= full["V_I"]:
            raise UserError(f"V_II ({self.units['V_II']}) must lie inside V_I ({self.units['V_I']})")
        if full["S_I"] & full["V_I"]:
            raise UserError(f"S_I ({self.units['S_I']}) and V_I ({self.units['V_I']}) must be disjoint")
        order = [name for name, _ in model.named_parameters()]
        parts = {"S_I": full["S_I"] - full["S_II"], "S_II": full["S_II"],
                 "V_I": full["V_I"] - full["V_II"], "V_II": full["V_II"]}
        return {name: [p for p in order if p in members] for name, members in parts.items()}

    def scales(self, step: int, loss: float) -> tuple[dict[str, float], dict[str, Any]]:
        state = self.engine.step(loss, t=step)
        return state.K, {"phase": state.phase, "phi": state.phi, "K": state.K}

    def state_dict(self) -> dict[str, Any]:
        return self.engine.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.engine.load_state_dict(state)
