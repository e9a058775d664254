"""Linear warm-up then linear decay, applied per parameter group on top of its ``lr_scale``.

The loop sets every group's rate itself at each update, ``lr = lr_scale · peak · factor(t)``, so a
learning-rate policy only has to change ``lr_scale`` (as timm's schedulers do with ``lr_scale``): it
never touches the optimizer.
"""

from __future__ import annotations

import math

import torch


def warmup_steps_for(total_steps: int, warmup_ratio: float) -> int:
    """Warm-up updates of a run: ``ceil(total_steps × warmup_ratio)``, exactly as the HF ``Trainer``
    computes them (``TrainingArguments.get_warmup_steps``), float product included, so a user who
    switches from the Trainer gets the same schedule.

    >>> warmup_steps_for(15, 0.1), warmup_steps_for(100, 0.1), warmup_steps_for(40, 0.0), warmup_steps_for(7, 0.06)
    (2, 10, 0, 1)
    """
    return math.ceil(total_steps * warmup_ratio)


def linear_schedule_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """The schedule's factor for update ``step`` (1-based): rises to 1 over warm-up, then falls to 0.

    Matches ``transformers.get_linear_schedule_with_warmup`` evaluated at ``step - 1``.

    >>> [round(linear_schedule_factor(t, 10, 2), 3) for t in (1, 2, 3, 10)]
    [0.0, 0.5, 1.0, 0.125]
    """
    current = step - 1
    if current < warmup_steps:
        return current / max(1, warmup_steps)
    return max(0.0, (total_steps - current) / max(1, total_steps - warmup_steps))


def apply_learning_rates(optimizer: torch.optim.Optimizer, peak_lr: float, factor: float) -> dict[str, float]:
    """Set each group's rate to ``lr_scale · peak_lr · factor``; returns {group name: rate}."""
    rates = {}
    for group in optimizer.param_groups:
        group["lr"] = group.get("lr_scale", 1.0) * peak_lr * factor
        rates[group.get("name", str(len(rates)))] = group["lr"]
    return rates
