"""The phase test of slow-and-fast fine-tuning (Guo et al. 2023, Eq. 1): phase 1 or 2 from the losses.

A leaf module (no torch, no training code): the policy engine
(:mod:`xlingual_probe.training.policies`) applies it to the live loss stream, and the selection
(:mod:`xlingual_probe.selection`) replays it over a finished run's logged losses under its own
options (old runs have no ``phase`` column, and a selection may use another window).

Rule (SPEC "Slow-and-fast fine-tuning"): with w = ``window``, once t ≥ 2w

    m_recent = mean(L_{t−w+1..t}),   m_prev = mean(L_{t−2w+1..t−w}),   φ_t = m_recent / m_prev,

and update t is in phase 1 iff t < 2w or m_prev − m_recent > ``threshold``. ``per-step`` tests
this at every update (a run can return to phase 1, as the paper writes it); ``latch`` stays in
phase 2 once there. Means use ``math.fsum`` so a replay from logged losses is bit-identical to the
live decision. If m_prev = 0 (losses are ≥ 0), φ is 1 when m_recent = 0 (flat) and +inf otherwise.

>>> [s.phase for s in phases_from_losses([4.0, 3.0, 2.0, 2.0, 2.0, 2.0], window=2)]
[1, 1, 1, 1, 1, 2]
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

PHASE_MODES = ("per-step", "latch")


@dataclass(frozen=True)
class PhaseState:
    """The phase decision at update ``step`` (1-based) and the loss means behind it.

    ``m_recent``, ``m_prev`` and ``phi`` are ``None`` before t = 2·window.
    """

    step: int
    loss: float
    phase: int
    m_recent: float | None
    m_prev: float | None
    phi: float | None


class PhaseTracker:
    """Feeds on the loss of every update and says which phase the update is in.

    Args:
        window: w, updates per loss mean (≥ 1).
        threshold: phase 1 while the mean loss fell by more than this over the last window (≥ 0).
        mode: ``per-step`` or ``latch``.

    Only the last 2·window losses are kept; :meth:`state_dict` holds what a resume needs.
    """

    def __init__(self, window: int = 100, threshold: float = 0.1, mode: str = "per-step"):
        if mode not in PHASE_MODES:
            raise ValueError(f"phase mode must be one of {', '.join(PHASE_MODES)}; got {mode!r}")
        self.window, self.threshold, self.mode = window, threshold, mode
        self._losses: deque[float] = deque(maxlen=2 * window)
        self._t = 0
        self._latched = False

    @property
    def t(self) -> int:
        """The number of updates seen so far."""
        return self._t

    def update(self, loss: float, t: int | None = None) -> PhaseState:
        """Record L_t and return update t's phase.

        Args:
            loss: the training loss of the update (finite, ≥ 0).
            t: optionally the caller's 1-based update number, checked against the tracker's count
                (catches a skipped or repeated call, e.g. after a resume).

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
        m_recent = m_prev = phi = None
        in_p1 = True
        if len(self._losses) == 2 * self.window:
            history = list(self._losses)
            m_prev = math.fsum(history[: self.window]) / self.window
            m_recent = math.fsum(history[self.window:]) / self.window
            if m_prev > 0:
                phi = m_recent / m_prev
            else:
                phi = 1.0 if m_recent == 0 else math.inf
            in_p1 = m_prev - m_recent > self.threshold and not self._latched
            if not in_p1 and self.mode == "latch":
                self._latched = True
        return PhaseState(self._t, loss, 1 if in_p1 else 2, m_recent, m_prev, phi)

    def state_dict(self) -> dict[str, Any]:
        """``t``, the kept ``losses`` and ``latched_p2`` (JSON-ready)."""
        return {"t": self._t, "losses": list(self._losses), "latched_p2": self._latched}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`.

        Raises:
            ValueError: a malformed state (more losses than the window keeps, or a count mismatch).
        """
        losses = [float(v) for v in state["losses"]]
        t = int(state["t"])
        if len(losses) > 2 * self.window or len(losses) != min(t, 2 * self.window):
            raise ValueError(f"malformed policy state: {len(losses)} losses kept after {t} updates")
        self._t = t
        self._losses = deque(losses, maxlen=2 * self.window)
        self._latched = bool(state["latched_p2"])


def phases_from_losses(losses: Iterable[float], window: int = 100, threshold: float = 0.1,
                       mode: str = "per-step") -> list[PhaseState]:
    """Replay a whole run's losses (updates 1, 2, ...) and return every update's phase."""
    tracker = PhaseTracker(window, threshold, mode)
    return [tracker.update(loss) for loss in losses]
