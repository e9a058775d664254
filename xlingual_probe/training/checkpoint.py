"""Resumable checkpoints, verified by checksums, and the best model's weights, written atomically.

``checkpoints/last`` holds Accelerate's state (model weights as safetensors, optimizer and RNG
states) plus ``trainer_state.json`` (update count, best evaluation so far, policy state, timers, and
``checksums``: the sha256 of every other file of the checkpoint). ``checkpoints/previous`` keeps the
checkpoint before it while the run is unfinished, so one damaged checkpoint costs only the updates
since the previous one:

* a new checkpoint is written whole into ``last.tmp`` and its checksums recorded; only then does
  ``last`` become ``previous`` and ``last.tmp`` become ``last`` (renames), so a kill at any moment
  leaves at least one complete checkpoint;
* resuming (:func:`latest_checkpoint`) takes ``last`` if every file matches its checksum, else
  ``previous``, and says which one was skipped and why (a truncated or corrupted file, a missing
  one, an unreadable ``trainer_state.json``);
* a failed write (a full disk) removes the half-written ``last.tmp`` and leaves ``last`` and
  ``previous`` as they were.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from accelerate import Accelerator

from xlingual_probe.utils.io import atomic_write_json, read_json

TRAINER_STATE = "trainer_state.json"
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_checksums(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file of a checkpoint folder but ``trainer_state.json``."""
    return {str(p.relative_to(folder)): file_sha256(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != TRAINER_STATE}


def verify_checkpoint(folder: Path) -> str | None:
    """Why the checkpoint in ``folder`` cannot be used, or ``None`` when it is complete and intact.

    A checkpoint written before checksums existed (no ``checksums`` key) is accepted as it is.
    """
    if not folder.is_dir():
        return "missing"
    try:
        state = read_json(folder / TRAINER_STATE)
    except FileNotFoundError:
        return f"no {TRAINER_STATE} (written last: the checkpoint is incomplete)"
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"unreadable {TRAINER_STATE} ({type(exc).__name__})"
    if not isinstance(state, dict):
        return f"malformed {TRAINER_STATE}"
    for name, expected in (state.get("checksums") or {}).items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if file_sha256(path) != expected:
            return f"{name} does not match its checksum (truncated or corrupted)"
    return None


def _rotate_in(tmp: Path, last: Path, previous: Path) -> None:
    if last.exists():
        if previous.exists():
            shutil.rmtree(previous)
        last.rename(previous)
    tmp.rename(last)


def save_checkpoint(accelerator: Accelerator, target: Path, trainer_state: dict[str, Any],
                    previous: Path | None = None) -> None:
    """Save the full training state to ``target`` with checksums; the checkpoint it replaces becomes ``previous``.

    Args:
        accelerator: the run's accelerator.
        target: the checkpoint folder (``checkpoints/last``).
        trainer_state: the loop's own state (JSON); ``checksums`` is added.
        previous: where the replaced checkpoint goes (default: ``previous`` beside ``target``).

    Raises:
        OSError: the state could not be written (the half-written folder is removed first).
    """
    tmp = target.with_name(target.name + ".tmp")
    previous = previous or target.with_name("previous")
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    try:
        accelerator.save_state(str(tmp), safe_serialization=True)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            atomic_write_json(tmp / TRAINER_STATE, {**trainer_state, "checksums": checkpoint_checksums(tmp)})
            _rotate_in(tmp, target, previous)
    except OSError:
        if accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    accelerator.wait_for_everyone()


def latest_checkpoint(candidates: list[Path]) -> tuple[Path | None, list[str]]:
    """The first intact checkpoint of ``candidates`` (newest first), and why each one before it was skipped.

    Returns:
        ``(folder or None, ["checkpoints/last: model.safetensors does not match its checksum ...", ...])``;
        missing candidates are not reported.
    """
    problems = []
    for folder in candidates:
        reason = verify_checkpoint(folder)
        if reason is None:
            return folder, problems
        if reason != "missing":
            problems.append(f"{folder}: {reason}")
    return None, problems


def load_checkpoint(accelerator: Accelerator, source: Path) -> dict[str, Any]:
    """Restore the state saved by :func:`save_checkpoint`; returns its trainer state."""
    accelerator.load_state(str(source))
    return read_json(source / TRAINER_STATE)


def remove_checkpoints(folders: list[Path]) -> None:
    """Delete resumable checkpoints (and a half-written ``.tmp``) once a run is finished."""
    for folder in folders:
        for path in (folder, folder.with_name(folder.name + ".tmp")):
            if path.exists():
                shutil.rmtree(path)


def save_model(accelerator: Accelerator, model, tokenizer, target: Path) -> None:
    """Save the (unwrapped) model as safetensors + config, and the tokenizer, to ``target``."""
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        tmp = target.with_name(target.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        accelerator.unwrap_model(model).save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        old = target.with_name(target.name + ".old")
        if target.exists():
            if old.exists():
                shutil.rmtree(old)
            target.rename(old)
        tmp.rename(target)
        if old.exists():
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
