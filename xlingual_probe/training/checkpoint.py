"""Resumable checkpoints and the best model's weights, written atomically.

``checkpoints/last`` holds Accelerate's state (model weights as safetensors, optimizer and RNG
states) plus ``trainer_state.json`` (update count, best evaluation so far, policy state, timers).
A new checkpoint is written beside the old one and swapped in with renames, so a kill at any moment
leaves one complete checkpoint.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from accelerate import Accelerator

from xlingual_probe.utils.io import atomic_write_json, read_json

TRAINER_STATE = "trainer_state.json"


def _swap_in(tmp: Path, target: Path) -> None:
    old = target.with_name(target.name + ".old")
    if target.exists():
        if old.exists():
            shutil.rmtree(old)
        target.rename(old)
    tmp.rename(target)
    if old.exists():
        shutil.rmtree(old)


def save_checkpoint(accelerator: Accelerator, target: Path, trainer_state: dict[str, Any]) -> None:
    """Save the full training state to ``target`` (replacing any previous checkpoint)."""
    tmp = target.with_name(target.name + ".tmp")
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    if accelerator.is_main_process:
        atomic_write_json(tmp / TRAINER_STATE, trainer_state)
        _swap_in(tmp, target)
    accelerator.wait_for_everyone()


def load_checkpoint(accelerator: Accelerator, source: Path) -> dict[str, Any]:
    """Restore the state saved by :func:`save_checkpoint`; returns its trainer state."""
    accelerator.load_state(str(source))
    return read_json(source / TRAINER_STATE)


def has_checkpoint(source: Path) -> bool:
    return (source / TRAINER_STATE).is_file()


def save_model(accelerator: Accelerator, model, tokenizer, target: Path) -> None:
    """Save the (unwrapped) model as safetensors + config, and the tokenizer, to ``target``."""
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        tmp = target.with_name(target.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        accelerator.unwrap_model(model).save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        _swap_in(tmp, target)
    accelerator.wait_for_everyone()
