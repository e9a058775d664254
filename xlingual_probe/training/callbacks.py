"""Plug-ins of the training loop: callbacks that observe it and learning-rate policies that steer it.

Both attach at a few named points of :func:`xlingual_probe.training.train` and never own the loop.
A callback only reads (it may write its own files in the run directory, e.g. ``cka.jsonl``); a
policy returns a learning-rate multiplier per named weight set after each update's loss is known,
which the loop stores as each parameter group's ``lr_scale``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from accelerate import Accelerator

from xlingual_probe.runs import RunFiles, RunWriter


@dataclass
class LoopContext:
    """What plug-ins may look at: the (prepared) model, its map, the task and the run's files.

    Attributes:
        writer: writes the run directory's files (a probe appends its own log, e.g. ``cka``).
        rebuild_starting_model: see :meth:`starting_model`.
        data: the run's :class:`~xlingual_probe.tasks.TaskData` (the alignment probe samples its
            parallel sentences from the evaluation sets).
        total_steps: the run's number of updates.
    """

    config: Any  # TrainConfig
    accelerator: Accelerator
    model: torch.nn.Module
    tokenizer: Any
    task: Any
    model_map: Any
    writer: RunWriter
    rebuild_starting_model: Callable[[], torch.nn.Module]
    data: Any = None  # TaskData
    total_steps: int | None = None

    @property
    def files(self) -> RunFiles:
        return self.writer.files

    def starting_model(self) -> torch.nn.Module:
        """A fresh copy of the run's model before its first update (pre-trained weights, new head,
        re-initialisation and NoisyTune noise), built again from ``config.model``: what a probe
        compares with after a resume. It re-seeds the RNGs with the run's seed: callers that must
        not disturb the training stream save and restore the RNG states around it."""
        return self.rebuild_starting_model()


class Callback:
    """Observer of the loop; override the hooks you need (all are no-ops here)."""

    def on_train_begin(self, ctx: LoopContext, start_step: int) -> None:
        """Called once the model is ready, before the first update (``start_step`` > 0 when resuming)."""

    def on_step_end(self, ctx: LoopContext, step: int, loss: float, batch: dict[str, torch.Tensor]) -> None:
        """Called after update ``step`` (1-based) with its training loss and the batch it used."""

    def on_evaluate(self, ctx: LoopContext, record: dict[str, Any]) -> None:
        """Called after each evaluation with the record written to ``metrics.jsonl``."""

    def on_train_end(self, ctx: LoopContext, summary: dict[str, Any]) -> None:
        """Called after ``summary.json`` is written."""


class LRPolicy(Protocol):
    """A learning-rate policy: named, disjoint weight sets and a multiplier for each, every update."""

    def param_sets(self, model: torch.nn.Module, model_map: Any) -> dict[str, list[str]]:
        """The weight sets (parameter names); parameters in no set keep multiplier 1."""

    def scales(self, step: int, loss: float) -> tuple[dict[str, float], dict[str, Any]]:
        """Multipliers for update ``step`` given its loss, and fields to add to ``steps.jsonl``."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class ConstantScales:
    """Fixed multipliers per weight set (the ×10 learning-rate group experiments)."""

    def __init__(self, sets: dict[str, list[str]], scales: dict[str, float]):
        self._sets, self._scales = sets, scales

    def param_sets(self, model: torch.nn.Module, model_map: Any) -> dict[str, list[str]]:
        return self._sets

    def scales(self, step: int, loss: float) -> tuple[dict[str, float], dict[str, Any]]:
        return self._scales, {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
