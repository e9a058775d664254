"""The slow-and-fast learning-rate policy engine (Guo et al. 2023, Eq. 1–3).

Context:
    Zero-shot cross-lingual transfer suffers when fine-tuning on the source language overwrites
    what the pre-trained model knows about the other languages. The paper splits training into
    two phases by watching the training loss: in phase P1 the loss falls fast and large updates
    would wreck the bottom layers, so those are slowed down; in phase P2 the loss creeps down and
    the gap grows slowly, so the bottom layers are slowed adaptively while the top layers, which
    the task needs to reshape, are sped up.

Method:
    Feed :meth:`SlowFastPolicy.step` the training loss L_t of every update t (1-based). The phase
    (P1 or P2) and φ_t = m_recent / m_prev come from :mod:`xlingual_probe.phases` (``window`` w =
    100, ``threshold`` 0.1, ``phase_mode`` per-step or latch). R(φ) = max(1 − φ^r, 0). The
    learning-rate multiplier K of each weight set is

    ========  =================  ===================
    set       P1                 P2
    ========  =================  ===================
    S_I       c1 (policy I)      1
    S_II      c1 (policy I)      R(φ_t) (policy II)
    V_I       1 (policy III)     1
    V_II      1 (policy III)     c2 (policy IV)
    ========  =================  ===================

    S_II ⊆ S_I, so in P1 it gets policy I; V_II ⊆ V_I, so in P1 it gets policy III. Each set has
    *roles*, the policies that act on it (:data:`DEFAULT_ROLES` gives the table above; the
    paper's Table 8 variants, :data:`SWAPS`, move roles between sets), and one rule turns roles,
    phase and φ into K (:func:`multiplier`): in P1 role I gives ``c1``; in P2 role II gives R(φ_t)
    and role IV ``c2``; anything else 1. A policy that is switched off leaves its cells at 1:
    FS = policies I + II, FF = III + IV, slow-and-fast = all four, and "policy IV off" (the
    paper's NER setting) drops IV. Policy III never changes a number (it is the absence of a
    slow-down) but is recorded for the run's provenance. Phase and φ are computed (and logged)
    whatever the policies, DF runs included.

Step indexing:
    The loop calls ``policy.step(loss_t)`` after update t's forward/backward has produced L_t and
    *before* that update's ``optimizer.step()``, and applies the returned K to update t. So K at
    update t uses the losses up to and including L_t; ``PolicyState.step`` is that t.

Edge cases:
    Losses must be finite and ≥ 0 (cross-entropy); anything else raises ``ValueError``, since one
    NaN would poison 2w updates of phase decisions. If m_prev = 0 the update is in P2 and φ is 1
    (flat loss) or +inf (rising): R = 0 either way. A replay from logged losses or a resumed run
    gives bit-identical K (see :mod:`xlingual_probe.phases`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from xlingual_probe.phases import PHASE_MODES, PhaseTracker
from xlingual_probe.utils.errors import UserError

__all__ = [
    "DEFAULT_ROLES",
    "METHOD_POLICIES",
    "POLICIES",
    "SWAPS",
    "WEIGHT_SETS",
    "PolicyState",
    "SlowFastConfig",
    "SlowFastConfigError",
    "SlowFastPolicy",
    "multiplier",
    "multipliers_from_losses",
    "r_phi",
]

WEIGHT_SETS: tuple[str, ...] = ("S_I", "S_II", "V_I", "V_II")
POLICIES: tuple[str, ...] = ("I", "II", "III", "IV")
# the paper's methods as policy sets (the method names of `xprobe train`); "policy IV off" is e.g. ("I", "II", "III")
METHOD_POLICIES: dict[str, tuple[str, ...]] = {
    "direct": (),
    "slow": ("I", "II"),
    "fast": ("III", "IV"),
    "slowfast": POLICIES,
}
# which policies act on which set: SPEC's table (S_II ⊆ S_I gets policy I in P1, V_II ⊆ V_I policy III)
DEFAULT_ROLES: dict[str, frozenset[str]] = {
    "S_I": frozenset({"I"}), "S_II": frozenset({"I", "II"}),
    "V_I": frozenset({"III"}), "V_II": frozenset({"III", "IV"}),
}
# Table 8 of the paper: the roles each variant changes
SWAPS: dict[str, dict[str, frozenset[str]]] = {
    "only-S_I": {"S_I": frozenset({"I", "II"}), "S_II": frozenset({"I", "II"})},
    "only-S_II": {"S_I": frozenset(), "S_II": frozenset({"I", "II"})},
    "swap-S": {"S_I": frozenset({"II"}), "S_II": frozenset({"I", "II"})},
    "only-V_I": {"V_I": frozenset({"III", "IV"}), "V_II": frozenset({"III", "IV"})},
    "only-V_II": {"V_I": frozenset(), "V_II": frozenset({"III", "IV"})},
    "swap-V": {"V_I": frozenset({"IV"}), "V_II": frozenset({"III", "IV"})},
}


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class SlowFastConfigError(UserError, ValueError):
    """An invalid slow-and-fast setting (a ``ValueError``; the CLI prints it as a one-line error)."""


@dataclass(frozen=True)
class SlowFastConfig:
    """Hyper-parameters of the slow-and-fast policy (SPEC defaults).

    Attributes:
        c1: multiplier of S_I (and S_II) in phase P1 (policy I); in [0, 1]. Policy I slows S_I down:
            the paper writes "K = c1 (c1 < 1)" and its Table 5 tries c1 from 0.5 down to 0 (S_I frozen
            in P1); 1 switches the slow-down off; above 1 it would be a speed-up, not policy I.
        c2: multiplier of V_II in phase P2 (policy IV); ≥ 1. Policy IV speeds V_II up (Table 5 tries
            5 to 100); 1 switches it off; below 1 it would be a slow-down, not policy IV.
        r: exponent of R(φ) = max(1 − φ^r, 0) (policy II); > 0.
        window: w, the number of updates per loss mean; phase and φ exist from update 2w on.
        threshold: P1 while the mean loss fell by more than this over the last window; ≥ 0.
        phase_mode: ``per-step`` (test every update; can return to P1) or ``latch`` (stay in P2).
        policies: the enabled policies among I, II, III, IV (any iterable; stored in canonical order as a
            tuple so ``asdict`` gives JSON). See ``METHOD_POLICIES`` for DF/FS/FF/slow-and-fast.

    >>> SlowFastConfig(policies={"II", "I"}).policies
    ('I', 'II')
    >>> SlowFastConfig(c1=2)
    Traceback (most recent call last):
    ...
    xlingual_probe.training.policies.SlowFastConfigError: c1 must be in [0, 1]: policy I slows S_I down in phase 1 (the paper's K = c1, c1 < 1; 0 freezes it, 1 switches it off); got 2
    """

    c1: float = 0.01
    c2: float = 10.0
    r: float = 3.0
    window: int = 100
    threshold: float = 0.1
    phase_mode: Literal["per-step", "latch"] = "per-step"
    policies: tuple[str, ...] = field(default=POLICIES)

    def __post_init__(self) -> None:
        if not _is_finite_number(self.c1) or not 0 <= self.c1 <= 1:
            raise SlowFastConfigError("c1 must be in [0, 1]: policy I slows S_I down in phase 1 (the paper's "
                                      f"K = c1, c1 < 1; 0 freezes it, 1 switches it off); got {self.c1!r}")
        if not _is_finite_number(self.c2) or self.c2 < 1:
            raise SlowFastConfigError("c2 must be a finite number >= 1: policy IV speeds V_II up in phase 2 "
                                      f"(1 switches it off); got {self.c2!r}")
        if not _is_finite_number(self.r) or self.r <= 0:
            raise SlowFastConfigError(f"r must be a finite number > 0; got {self.r!r}")
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 1:
            raise SlowFastConfigError(f"window must be an integer >= 1; got {self.window!r}")
        if not _is_finite_number(self.threshold) or self.threshold < 0:
            raise SlowFastConfigError(f"threshold must be a finite number >= 0; got {self.threshold!r}")
        if self.phase_mode not in PHASE_MODES:
            raise SlowFastConfigError(
                f"phase_mode must be one of {', '.join(PHASE_MODES)}; got {self.phase_mode!r}"
            )
        if isinstance(self.policies, str):
            raise SlowFastConfigError(
                f"policies must be a collection of names, not the string {self.policies!r}"
            )
        policies = set(self.policies)
        unknown = policies - set(POLICIES)
        if unknown:
            raise SlowFastConfigError(
                f"unknown policies {sorted(unknown)}; choose among {', '.join(POLICIES)}"
            )
        object.__setattr__(self, "policies", tuple(p for p in POLICIES if p in policies))

    @classmethod
    def for_method(cls, method: str, policy_iv: bool = True, **overrides: Any) -> SlowFastConfig:
        """The config of a named method (``direct``, ``slow`` = FS, ``fast`` = FF, ``slowfast``).

        Args:
            method: a key of ``METHOD_POLICIES``.
            policy_iv: keep policy IV where the method has it (off for the paper's NER runs).
            **overrides: other fields (``c1``, ``window``, ...).

        >>> SlowFastConfig.for_method("slowfast", policy_iv=False).policies
        ('I', 'II', 'III')
        """
        if method not in METHOD_POLICIES:
            raise SlowFastConfigError(
                f"unknown method {method!r}; choose one of: {', '.join(METHOD_POLICIES)}"
            )
        policies = [p for p in METHOD_POLICIES[method] if policy_iv or p != "IV"]
        return cls(policies=tuple(policies), **overrides)


@dataclass
class PolicyState:
    """What the policy decided for one update; ``asdict`` gives a JSON-ready ``steps.jsonl`` payload.

    Attributes:
        step: t, the 1-based update this K applies to (the update whose loss was just fed in).
        loss: L_t.
        phase: 1 or 2.
        m_recent: mean of the last ``window`` losses (``None`` before t = 2·window).
        m_prev: mean of the ``window`` losses before those (``None`` before t = 2·window).
        phi: φ_t = m_recent / m_prev (``None`` before t = 2·window; logged in P1 too).
        r_phi: R(φ_t) = max(1 − φ_t^r, 0) (``None`` before t = 2·window).
        K: learning-rate multiplier per weight set: ``S_I``, ``S_II``, ``V_I``, ``V_II``.
    """

    step: int
    loss: float
    phase: int
    m_recent: float | None
    m_prev: float | None
    phi: float | None
    r_phi: float | None
    K: dict[str, float]


def r_phi(phi: float, r: float) -> float:
    """R(φ) = max(1 − φ^r, 0): near 1 while the loss still falls fast, 0 once it stalls or rises.

    >>> r_phi(0.5, 3.0)
    0.875
    >>> r_phi(1.2, 3.0)
    0.0
    """
    return max(1.0 - phi**r, 0.0)


def multiplier(config: SlowFastConfig, roles: frozenset[str], phase: int, r_value: float | None) -> float:
    """K of a weight set with ``roles`` (the policies acting on it) in ``phase``; only enabled policies act.

    >>> multiplier(SlowFastConfig(), DEFAULT_ROLES["S_II"], 2, 0.5), multiplier(SlowFastConfig(), DEFAULT_ROLES["V_II"], 2, 0.5)
    (0.5, 10.0)
    """
    on = set(config.policies)
    if phase == 1:
        return float(config.c1) if "I" in roles and "I" in on else 1.0
    if "II" in roles and "II" in on:
        # phase 2 only exists from t = 2·window on, where R(phi) is defined
        assert r_value is not None
        return r_value
    if "IV" in roles and "IV" in on:
        return float(config.c2)
    return 1.0


class SlowFastPolicy:
    """Turns the stream of training losses into per-set learning-rate multipliers.

    Args:
        config: the hyper-parameters and enabled policies.
        roles: the policies acting on each set (default :data:`DEFAULT_ROLES`; a Table-8 variant
            updates it with :data:`SWAPS`).

    The policy never touches the optimizer: the loop maps each weight set's K onto the ``lr_scale``
    of its parameter groups. Only the last 2·window losses are kept.

    >>> policy = SlowFastPolicy(SlowFastConfig(window=2))
    >>> [policy.step(loss).phase for loss in [4.0, 3.0, 2.0, 2.0, 2.0, 2.0]]
    [1, 1, 1, 1, 1, 2]
    >>> state = policy.step(2.0)
    >>> state.step, state.phi, state.K
    (7, 1.0, {'S_I': 1.0, 'S_II': 0.0, 'V_I': 1.0, 'V_II': 10.0})
    """

    def __init__(self, config: SlowFastConfig | None = None, roles: Mapping[str, frozenset[str]] | None = None):
        self.config = config if config is not None else SlowFastConfig()
        self.roles = dict(DEFAULT_ROLES if roles is None else roles)
        self._phases = PhaseTracker(self.config.window, self.config.threshold, self.config.phase_mode)

    @property
    def t(self) -> int:
        """The number of updates seen so far (the ``step`` of the last state returned)."""
        return self._phases.t

    def step(self, loss: float, t: int | None = None) -> PolicyState:
        """Record L_t and return the multipliers for update t.

        Args:
            loss: the training loss of the current update (finite, ≥ 0).
            t: optionally, the loop's 1-based update number, checked against the policy's own
                count (catches a skipped or repeated call, e.g. after a resume).

        Returns:
            The phase, φ and K for this update.

        Raises:
            ValueError: a negative or non-finite loss, or ``t`` out of step.
        """
        phase = self._phases.update(loss, t)
        r_value = None if phase.phi is None else r_phi(phase.phi, self.config.r)
        k = {name: multiplier(self.config, self.roles[name], phase.phase, r_value) for name in WEIGHT_SETS}
        return PolicyState(step=phase.step, loss=phase.loss, phase=phase.phase, m_recent=phase.m_recent,
                           m_prev=phase.m_prev, phi=phase.phi, r_phi=r_value, K=k)

    def state_dict(self) -> dict[str, Any]:
        """The loss history and counters (JSON-ready) needed to resume with identical K."""
        return {**self._phases.state_dict(), "config": asdict(self.config)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`; the config must be the one the state was saved with.

        Raises:
            ValueError: the saved config differs from this policy's, or the state is malformed.
        """
        saved = dict(state["config"])
        saved["policies"] = tuple(saved["policies"])
        if SlowFastConfig(**saved) != self.config:
            raise ValueError(
                f"cannot resume: the policy state was saved with {saved}, "
                f"but this run uses {asdict(self.config)}"
            )
        self._phases.load_state_dict(state)


def multipliers_from_losses(losses: Iterable[float], config: SlowFastConfig) -> list[PolicyState]:
    """Replay a whole run's losses (updates 1, 2, ...) and return the state of every update.

    Used to check a run's ``steps.jsonl``: the K recomputed from the logged losses must equal
    the logged K.

    >>> states = multipliers_from_losses([1.0] * 4, SlowFastConfig(window=2, policies=["I", "II"]))
    >>> [(s.step, s.phase, s.K["S_I"], s.K["S_II"]) for s in states]
    [(1, 1, 0.01, 0.01), (2, 1, 0.01, 0.01), (3, 1, 0.01, 0.01), (4, 2, 1.0, 0.0)]
    """
    policy = SlowFastPolicy(config)
    return [policy.step(loss) for loss in losses]
