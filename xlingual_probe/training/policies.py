"""The slow-and-fast learning-rate policy engine (Guo et al. 2023, Eq. 1–3).

Context:
    Zero-shot cross-lingual transfer suffers when fine-tuning on the source language overwrites
    what the pre-trained model knows about the other languages. The paper splits training into
    two phases by watching the training loss: in phase P1 the loss falls fast and large updates
    would wreck the bottom layers, so those are slowed down; in phase P2 the loss creeps down and
    the gap grows slowly, so the bottom layers are slowed adaptively while the top layers, which
    the task needs to reshape, are sped up.

Method:
    Feed :meth:`SlowFastPolicy.step` the training loss L_t of every update t (1-based). With
    w = ``window`` (100), once t ≥ 2w

        m_recent = mean(L_{t−w+1..t}),   m_prev = mean(L_{t−2w+1..t−w}),   φ_t = m_recent / m_prev.

    Update t is in P1 iff t < 2w or m_prev − m_recent > ``threshold`` (0.1): the mean loss fell by
    more than the threshold over the last window. ``phase_mode="per-step"`` (default, as the
    paper writes it) tests this at every update, so a run can return to P1; ``"latch"`` stays in
    P2 once there. R(φ) = max(1 − φ^r, 0). The learning-rate multiplier K of each weight set is

    ========  =================  ===================
    set       P1                 P2
    ========  =================  ===================
    S_I       c1 (policy I)      1
    S_II      c1 (policy I)      R(φ_t) (policy II)
    V_I       1 (policy III)     1
    V_II      1 (policy III)     c2 (policy IV)
    ========  =================  ===================

    S_II ⊆ S_I, so in P1 it gets policy I; V_II ⊆ V_I, so in P1 it gets policy III. A policy
    that is switched off leaves its cell at 1: FS = policies I + II, FF = III + IV, slow-and-fast
    = all four, and "policy IV off" (the paper's NER setting) drops IV. Policy III never changes
    a number (it is the absence of a slow-down) but is recorded for the run's provenance. Phase
    and φ are computed (and logged) whatever the policies, DF runs included.

Step indexing:
    The loop calls ``policy.step(loss_t)`` after update t's forward/backward has produced L_t and
    *before* that update's ``optimizer.step()``, and applies the returned K to update t. So K at
    update t uses the losses up to and including L_t; ``PolicyState.step`` is that t.

Edge cases:
    Losses must be finite and ≥ 0 (cross-entropy); anything else raises ``ValueError``, since one
    NaN would poison 2w updates of phase decisions. If m_prev = 0 the drop m_prev − m_recent ≤ 0,
    so the update is in P2; φ is then defined as 1 when m_recent = 0 as well (a flat loss:
    R = 0) and +inf otherwise (a rising loss: R = 0). Means use ``math.fsum`` so the numbers do
    not depend on summation order: a replay from logged losses or a resumed run gives bit-identical K.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from xlingual_probe.utils.errors import UserError

__all__ = [
    "METHOD_POLICIES",
    "POLICIES",
    "WEIGHT_SETS",
    "PolicyState",
    "SlowFastConfig",
    "SlowFastConfigError",
    "SlowFastPolicy",
    "multipliers_from_losses",
    "r_phi",
]

WEIGHT_SETS: tuple[str, ...] = ("S_I", "S_II", "V_I", "V_II")
POLICIES: tuple[str, ...] = ("I", "II", "III", "IV")
# the paper's methods as policy sets; "policy IV off" is e.g. ("I", "II", "III")
METHOD_POLICIES: dict[str, tuple[str, ...]] = {
    "direct": (),
    "fs": ("I", "II"),
    "ff": ("III", "IV"),
    "slowfast": POLICIES,
}
PHASE_MODES = ("per-step", "latch")


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class SlowFastConfigError(UserError, ValueError):
    """An invalid slow-and-fast setting (a ``ValueError``; the CLI prints it as a one-line error)."""


@dataclass(frozen=True)
class SlowFastConfig:
    """Hyper-parameters of the slow-and-fast policy (SPEC defaults).

    Attributes:
        c1: multiplier of S_I (and S_II) in phase P1 (policy I); > 0.
        c2: multiplier of V_II in phase P2 (policy IV); > 0.
        r: exponent of R(φ) = max(1 − φ^r, 0) (policy II); > 0.
        window: w, the number of updates per loss mean; phase and φ exist from update 2w on.
        threshold: P1 while the mean loss fell by more than this over the last window; ≥ 0.
        phase_mode: ``per-step`` (test every update; can return to P1) or ``latch`` (stay in P2).
        policies: the enabled policies among I, II, III, IV (any iterable; stored in canonical order as a
            tuple so ``asdict`` gives JSON). See ``METHOD_POLICIES`` for DF/FS/FF/slow-and-fast.

    >>> SlowFastConfig(policies={"II", "I"}).policies
    ('I', 'II')
    >>> SlowFastConfig(c1=0)
    Traceback (most recent call last):
    ...
    xlingual_probe.training.policies.SlowFastConfigError: c1 must be a finite number > 0; got 0
    """

    c1: float = 0.01
    c2: float = 10.0
    r: float = 3.0
    window: int = 100
    threshold: float = 0.1
    phase_mode: Literal["per-step", "latch"] = "per-step"
    policies: tuple[str, ...] = field(default=POLICIES)

    def __post_init__(self) -> None:
        for name in ("c1", "c2", "r"):
            value = getattr(self, name)
            if not _is_finite_number(value) or value <= 0:
                raise SlowFastConfigError(f"{name} must be a finite number > 0; got {value!r}")
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
        """The config of a named method (``direct``, ``fs``, ``ff``, ``slowfast``).

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


class SlowFastPolicy:
    """Turns the stream of training losses into per-set learning-rate multipliers.

    The policy never touches the optimizer: the loop maps each weight set's K onto the ``lr_scale``
    of its parameter groups. Only the last 2·window losses are kept.

    >>> policy = SlowFastPolicy(SlowFastConfig(window=2))
    >>> [policy.step(loss).phase for loss in [4.0, 3.0, 2.0, 2.0, 2.0, 2.0]]
    [1, 1, 1, 1, 1, 2]
    >>> state = policy.step(2.0)
    >>> state.step, state.phi, state.K
    (7, 1.0, {'S_I': 1.0, 'S_II': 0.0, 'V_I': 1.0, 'V_II': 10.0})
    """

    def __init__(self, config: SlowFastConfig | None = None):
        self.config = config if config is not None else SlowFastConfig()
        self._losses: deque[float] = deque(maxlen=2 * self.config.window)
        self._t = 0
        self._latched_p2 = False

    @property
    def t(self) -> int:
        """The number of updates seen so far (the ``step`` of the last state returned)."""
        return self._t

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
        loss = float(loss)
        if not math.isfinite(loss) or loss < 0:
            raise ValueError(f"update {self._t + 1}: the loss must be finite and >= 0; got {loss!r}")
        if t is not None and t != self._t + 1:
            raise ValueError(f"the policy expected update {self._t + 1} but the loop is at update {t}")
        self._t += 1
        self._losses.append(loss)
        cfg = self.config

        m_recent = m_prev = phi = r_value = None
        in_p1 = True
        if len(self._losses) == 2 * cfg.window:
            history = list(self._losses)
            m_prev = math.fsum(history[: cfg.window]) / cfg.window
            m_recent = math.fsum(history[cfg.window :]) / cfg.window
            if m_prev > 0:
                phi = m_recent / m_prev
            else:
                # losses are >= 0, so m_prev == 0 means a flat (phi = 1) or rising (inf) loss
                phi = 1.0 if m_recent == 0 else math.inf
            r_value = r_phi(phi, cfg.r)
            in_p1 = m_prev - m_recent > cfg.threshold and not self._latched_p2
            if not in_p1 and cfg.phase_mode == "latch":
                self._latched_p2 = True
        phase = 1 if in_p1 else 2
        return PolicyState(
            step=self._t,
            loss=loss,
            phase=phase,
            m_recent=m_recent,
            m_prev=m_prev,
            phi=phi,
            r_phi=r_value,
            K=self._multipliers(phase, r_value),
        )

    def scales(self, step: int, loss: float) -> tuple[dict[str, float], dict[str, Any]]:
        """:meth:`step` in the shape of the loop's ``LRPolicy.scales``: K per set, plus log fields.

        The extra fields (``phase``, ``phi``, ``r_phi``, ``m_recent``, ``m_prev``) go to
        ``steps.jsonl`` next to the loss and the K of each set.

        >>> k, extra = SlowFastPolicy().scales(1, 2.3)
        >>> k["S_I"], extra["phase"], extra["phi"]
        (0.01, 1, None)
        """
        state = self.step(loss, t=step)
        extra = {
            "phase": state.phase,
            "phi": state.phi,
            "r_phi": state.r_phi,
            "m_recent": state.m_recent,
            "m_prev": state.m_prev,
        }
        return state.K, extra

    def _multipliers(self, phase: int, r_value: float | None) -> dict[str, float]:
        cfg, on = self.config, set(self.config.policies)
        k = dict.fromkeys(WEIGHT_SETS, 1.0)
        if phase == 1:
            if "I" in on:
                k["S_I"] = k["S_II"] = float(cfg.c1)
            # policy III: V_I (and V_II inside it) keep K = 1
        else:
            if "II" in on:
                # phase 2 only exists from t = 2·window on, where R(phi) is defined
                assert r_value is not None
                k["S_II"] = r_value
            if "IV" in on:
                k["V_II"] = float(cfg.c2)
        return k

    def state_dict(self) -> dict[str, Any]:
        """The loss history and counters (JSON-ready) needed to resume with identical K."""
        return {
            "t": self._t,
            "losses": list(self._losses),
            "latched_p2": self._latched_p2,
            "config": asdict(self.config),
        }

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
        losses = [float(v) for v in state["losses"]]
        t = int(state["t"])
        if len(losses) > 2 * self.config.window or len(losses) != min(t, 2 * self.config.window):
            raise ValueError(f"malformed policy state: {len(losses)} losses kept after {t} updates")
        self._t = t
        self._losses = deque(losses, maxlen=2 * self.config.window)
        self._latched_p2 = bool(state["latched_p2"])


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
