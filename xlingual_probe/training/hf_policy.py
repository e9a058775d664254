"""Slow-and-fast fine-tuning in your own ``transformers.Trainer`` scripts.

Context:
    ``xprobe train slowfast`` runs the policy inside the toolkit's loop. Users with a Trainer script
    need the same thing there: the optimizer sees one parameter group per weight set (S_I∖S_II,
    S_II, V_I∖V_II, V_II, rest), and at every update t the policy turns the training loss L_t into
    a multiplier K per set, applied on top of the Trainer's schedule: lr = K · schedule(t).

Why not a callback alone:
    SPEC's K at update t uses L_t, so the loss must reach the policy between the backward pass
    and ``optimizer.step()``. The Trainer computes the loss in ``training_step`` and steps the
    optimizer right after, but no callback event receives the loss (``on_pre_optimizer_step``
    gets none, and the Trainer logs it only after the step). So the adapter has two small parts:

    * :func:`slowfast_optimizer` builds the optimizer (AdamW by default) with the named groups and
      registers a step pre-hook and post-hook on it. The pre-hook feeds the recorded loss to the
      policy and sets each group's ``lr`` to K · the rate the Trainer's scheduler left there (it
      also stores ``lr_scale`` = K and ``applied_lr`` on the group); the post-hook puts the
      scheduled rate back, so the scheduler, the Trainer's logging and checkpoints see the
      ordinary schedule. The policy's state (its loss window) travels in the optimizer's
      ``state_dict``, so resuming from a Trainer checkpoint restores identical K.
    * :class:`SlowFastTrainer` (or :class:`SlowFastTrainerMixin` on your own Trainer subclass)
      overrides only ``training_step``: it hands the value ``training_step`` returns to the
      policy. With gradient accumulation the values of an update's micro-batches are summed, the
      same number the Trainer logs as that update's loss; in a multi-process run it is averaged
      over the processes before the policy sees it, so every process applies the same K.

    Nothing changes the loss or the gradients (STYLE §4: the adapter only turns Trainer events
    into policy calls). With fp16 loss scaling a skipped optimizer step never reaches the
    pre-hook: the policy counts the updates actually applied.

Example::

    from transformers import Trainer, TrainingArguments
    from xlingual_probe.selection import paper_selection
    from xlingual_probe.training.hf_policy import SlowFastTrainer, slowfast_optimizer
    from xlingual_probe.training.slowfast import slowfast_settings

    sets = paper_selection(model.config.num_hidden_layers)          # or read_selection("selection.json")
    settings = slowfast_settings("slowfast", sets["sets"], policy_iv=sets["policy_iv"])
    optimizer, policy = slowfast_optimizer(model, settings, lr=2e-5, weight_decay=0.01)
    args = TrainingArguments("out", learning_rate=2e-5, warmup_ratio=0.1, lr_scheduler_type="linear")
    trainer = SlowFastTrainer(model=model, args=args, train_dataset=train_en,
                              optimizers=(optimizer, None))         # the Trainer builds the schedule
    trainer.train()
    policy.history[-1]   # {"step", "loss", "lr", "group_lr", "phase", "phi", "K"} of the last update

``args.learning_rate`` only sets the Trainer's own optimizer, which is not used here: the peak rate is
the ``lr`` given to :func:`slowfast_optimizer`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import Trainer

from xlingual_probe.models import build_param_groups, get_model_map
from xlingual_probe.runs import RunWriter
from xlingual_probe.training.optimizer import adamw
from xlingual_probe.training.slowfast import SlowFastLRPolicy
from xlingual_probe.utils.errors import UserError

__all__ = ["HFSlowFastPolicy", "SlowFastTrainer", "SlowFastTrainerMixin", "find_slowfast_policy",
           "slowfast_optimizer"]

_ATTR = "_xprobe_slowfast"
_STATE_KEY = "xprobe_slowfast"


def _is_main_process() -> bool:
    return not (torch.distributed.is_available() and torch.distributed.is_initialized()) \
        or torch.distributed.get_rank() == 0


class HFSlowFastPolicy:
    """The policy attached to a Trainer's optimizer: collects the loss, sets K around each step.

    Attributes:
        policy: the :class:`~xlingual_probe.training.slowfast.SlowFastLRPolicy` (phase, φ, K).
        history: one record per applied update: ``step``, ``loss``, ``lr`` (scheduled, before
            multipliers), ``group_lr`` {group: applied rate}, ``phase``, ``phi``, ``K``.
        writer: when set, each record is also appended to ``steps.jsonl`` of its run directory
            (by the main process only).
    """

    def __init__(self, policy: SlowFastLRPolicy, optimizer: torch.optim.Optimizer,
                 output_dir: str | Path | None = None):
        self.policy = policy
        self.history: list[dict[str, Any]] = []
        self.writer = None if output_dir is None else RunWriter(output_dir, enabled=_is_main_process())
        self._loss: torch.Tensor | None = None
        self._loss_update: int | None = None
        optimizer.register_step_pre_hook(self._pre_step)
        optimizer.register_step_post_hook(self._post_step)
        optimizer.register_state_dict_post_hook(self._save_state)
        optimizer.register_load_state_dict_pre_hook(self._load_state)
        setattr(optimizer, _ATTR, self)

    def record_loss(self, loss: torch.Tensor | float, update: int | None = None) -> None:
        """Add a micro-batch's loss to the current update's (``update``: the Trainer's ``global_step``).

        Values recorded under another ``update`` than the pending one are dropped first (an update
        whose optimizer step was skipped).
        """
        loss = loss.detach().float() if isinstance(loss, torch.Tensor) else torch.tensor(float(loss))
        if self._loss is None or update != self._loss_update:
            self._loss, self._loss_update = loss.clone(), update
        else:
            self._loss = self._loss + loss

    def _mean_over_processes(self, loss: torch.Tensor) -> float:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            world = torch.distributed.get_world_size()
            if world > 1:
                loss = loss.clone()
                torch.distributed.all_reduce(loss)
                loss = loss / world
        return float(loss.item())

    def _pre_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._loss is None:
            raise UserError("no training loss was recorded for this update: train with SlowFastTrainer "
                            "(or call policy.record_loss(loss) before optimizer.step())")
        loss = self._mean_over_processes(self._loss)
        self._loss = None
        step = self.policy.engine.t + 1
        scales, fields = self.policy.scales(step, loss)
        rates = {}
        for index, group in enumerate(optimizer.param_groups):
            name = group.get("name", str(index))
            k = scales.get(group.get("set", name), 1.0)
            group["scheduled_lr"] = group["lr"]
            group["lr_scale"] = k
            group["lr"] = group["applied_lr"] = k * group["scheduled_lr"]
            rates[name] = group["lr"]
        record = {"step": step, "loss": loss, "lr": optimizer.param_groups[0]["scheduled_lr"], "group_lr": rates,
                  **fields}
        self.history.append(record)
        if self.writer is not None:
            self.writer.append("steps", record)

    def _post_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        # the scheduler (chainable ones read group["lr"]) and the Trainer's logging see the plain schedule
        for group in optimizer.param_groups:
            if "scheduled_lr" in group:
                group["lr"] = group.pop("scheduled_lr")

    def _save_state(self, optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any]:
        state_dict[_STATE_KEY] = {"policy": self.policy.state_dict(), "updates": len(self.history)}
        return state_dict

    def _load_state(self, optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any]:
        state_dict = dict(state_dict)
        saved = state_dict.pop(_STATE_KEY, None)
        if saved is not None:
            self.policy.load_state_dict(saved["policy"])
        return state_dict


def slowfast_optimizer(model: torch.nn.Module, settings: dict[str, Any], lr: float, weight_decay: float = 0.0, *,
                       optimizer_cls: type[torch.optim.Optimizer] = torch.optim.AdamW,
                       output_dir: str | Path | None = None, **optimizer_kwargs: Any
                       ) -> tuple[torch.optim.Optimizer, HFSlowFastPolicy]:
    """An optimizer with one group per weight set and the slow-and-fast policy attached to its steps.

    Args:
        model: the model to fine-tune (its trainable parameters; frozen ones are left out).
        settings: :func:`~xlingual_probe.training.slowfast.slowfast_settings` (sets, method, hyper-parameters).
        lr: the peak learning rate (the Trainer's scheduler scales it; K multiplies the result).
        weight_decay: decay of weight matrices (biases and LayerNorm weights get none).
        optimizer_cls: the optimizer class (any ``torch.optim.Optimizer``); the default AdamW uses
            torch's fused kernel where it has one, as the Trainer's default ``adamw_torch_fused``.
        output_dir: also append one record per update to this run directory's ``steps.jsonl``
            (give it the :class:`~xlingual_probe.probes.hf_callback.GapCallback`'s ``output_dir``
            and the folder holds a whole run directory).
        **optimizer_kwargs: more arguments of ``optimizer_cls`` (betas, eps, ...).

    Returns:
        The optimizer (pass it as ``Trainer(optimizers=(optimizer, None))``) and the policy
        (its ``history`` holds loss, phase, φ and K of every update).

    Raises:
        UserError: the sets do not fit the model (see ``SlowFastLRPolicy.param_sets``).
    """
    policy = SlowFastLRPolicy(settings)
    sets = policy.param_sets(model, get_model_map(model))
    groups, _ = build_param_groups(model, sets, weight_decay=weight_decay)
    if optimizer_cls is torch.optim.AdamW and not optimizer_kwargs:
        optimizer = adamw(groups, lr=lr, weight_decay=weight_decay)
    else:
        optimizer = optimizer_cls(groups, lr=lr, weight_decay=weight_decay, **optimizer_kwargs)
    return optimizer, HFSlowFastPolicy(policy, optimizer, output_dir)


def find_slowfast_policy(optimizer: Any) -> HFSlowFastPolicy:
    """The policy attached by :func:`slowfast_optimizer`, looking through wrappers (Accelerate's).

    Raises:
        UserError: the optimizer was not made by :func:`slowfast_optimizer`.
    """
    seen = 0
    while optimizer is not None and seen < 8:
        policy = getattr(optimizer, _ATTR, None)
        if isinstance(policy, HFSlowFastPolicy):
            return policy
        optimizer, seen = getattr(optimizer, "optimizer", None), seen + 1
    raise UserError("SlowFastTrainer needs the optimizer of slowfast_optimizer(...): "
                    "pass Trainer(optimizers=(optimizer, None))")


class SlowFastTrainerMixin:
    """Put before ``Trainer`` (or your Trainer subclass) in the bases: hands each training loss to the policy."""

    def training_step(self, model: torch.nn.Module, inputs: dict[str, Any], num_items_in_batch: Any = None
                      ) -> torch.Tensor:
        loss = super().training_step(model, inputs, num_items_in_batch)  # type: ignore[misc]
        find_slowfast_policy(self.optimizer).record_loss(loss, self.state.global_step)  # type: ignore[attr-defined]
        return loss


class SlowFastTrainer(SlowFastTrainerMixin, Trainer):
    """``transformers.Trainer`` with slow-and-fast learning rates (see the module docstring)."""
