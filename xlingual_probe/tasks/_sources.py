"""The data a task load read: every local file and hub split, recorded for the run's identity.

A run's numbers depend on its data as much as on its config, and a task decides for itself which
files it reads (QA, for one, falls back from SQuAD to TyDiQA-GoldP's English training set). So the
readers note what they read while :func:`recording` is active, and the training side
(:mod:`xlingual_probe.training.data`) turns the notes into a data fingerprint (sizes and SHA-256 of
the files, the hub's fingerprint of each split). Outside :func:`recording` the notes are dropped.

Each note has a ``role``: ``train`` for what a task reads inside :func:`data_role` ``("train")``,
``test`` for the labelled test splits (read inside ``data_role("test")``), else ``eval``; a ``dataset`` label may say which benchmark a training file belongs to (QA: ``squad``,
``tydiqa``, ...), so the loop can tell an in-domain evaluation from a zero-shot one.

>>> with recording() as notes:
...     with data_role("train", dataset="squad"):
...         note_file("train-v1.1.json")
...     note_file("dev-en.json")
>>> [(n["role"], n["dataset"], Path(n["path"]).name) for n in notes]
[('train', 'squad', 'train-v1.1.json'), ('eval', None, 'dev-en.json')]
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

_NOTES: ContextVar[list[dict[str, Any]] | None] = ContextVar("xprobe_data_notes", default=None)
_ROLE: ContextVar[tuple[str, str | None]] = ContextVar("xprobe_data_role", default=("eval", None))


@contextlib.contextmanager
def recording() -> Iterator[list[dict[str, Any]]]:
    """Collect the notes of the reads made inside the block (yields the list they are appended to)."""
    notes: list[dict[str, Any]] = []
    token = _NOTES.set(notes)
    try:
        yield notes
    finally:
        _NOTES.reset(token)


@contextlib.contextmanager
def data_role(role: str, dataset: str | None = None) -> Iterator[None]:
    """Label the reads inside the block (``train``, ``test``; ``dataset`` names the benchmark the data belong to)."""
    token = _ROLE.set((role, dataset))
    try:
        yield
    finally:
        _ROLE.reset(token)


def _note(entry: dict[str, Any]) -> None:
    notes = _NOTES.get()
    if notes is not None:
        role, dataset = _ROLE.get()
        notes.append({**entry, "role": role, "dataset": dataset})


def note_file(path: str | os.PathLike) -> None:
    """Note that a local data file is read (resolved path)."""
    _note({"kind": "file", "path": str(Path(path).resolve())})


def note_hub(name: str, config: str | None, split: str, dataset: Any) -> None:
    """Note a split loaded from the Hugging Face hub, with the ``datasets`` fingerprint of what was loaded
    (it changes when the hub data or the loading script changes) and the dataset's version."""
    info = getattr(dataset, "info", None)
    _note({"kind": "hub", "name": name, "config": config, "split": split,
           "fingerprint": getattr(dataset, "_fingerprint", None),
           "version": str(getattr(info, "version", None) or "") or None})
