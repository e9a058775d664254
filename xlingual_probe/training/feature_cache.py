"""Tokenised datasets cached on disk, so the runs of a sweep tokenise their data once.

Context:
    A layer sweep or a comparison is tens to hundreds of runs over the same data and tokenizer, and
    every run used to tokenise its training set and every language's evaluation set again (for
    XLM-R-sized vocabularies, ``datasets.map`` also pickled the tokenizer per language to fingerprint
    the call: seconds each). Encoding is a pure function of the raw examples, the tokenizer, the
    task's encoding rules and ``max_length``, so its result can be kept.

Key:
    One entry per encoded dataset, under ``<cache root>/features/<key>``
    (:func:`~xlingual_probe.utils.cache.cache_dir`), where ``key`` hashes

    * the data part of the run's identity (:func:`data_identity`: task, data options, and the
      (path, size, mtime) of every file of the data folder, so a changed file is a new key);
    * the raw examples' content (:func:`content_hash`: two datasets of one run, e.g. the
      validation and test sets of one language, never share an entry);
    * the tokenizer (:func:`tokenizer_fingerprint`: its full serialised state, padding and
      truncation sides);
    * the encoding rules (:func:`encoding_rules`: the task class's settings such as QA's
      ``doc_stride`` and ``max_query_length``, the source of the task's modules, ``max_length``,
      training or evaluation features, the label map);
    * :data:`~xlingual_probe.runs.NUMERICS_VERSION`.

    ``key.json`` beside the features records what went into the key. Entries are written to a
    temporary folder and renamed into place, so concurrent runs never read half an entry; the
    cache is safe to delete at any time. ``XPROBE_FEATURE_CACHE=0`` turns it off.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa

from xlingual_probe.runs import NUMERICS_VERSION
from xlingual_probe.tasks import DataOptions, Task
from xlingual_probe.utils.cache import cache_dir
from xlingual_probe.utils.io import atomic_write_json, to_json

__all__ = ["FeatureCache", "content_hash", "data_identity", "encoding_rules", "tokenizer_fingerprint"]

_JSON_SCALARS = (bool, int, float, str, type(None))


def _sha256(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def _folder_files(folder: Path) -> list[list[Any]]:
    """(relative path, size, mtime) of every file below ``folder``, sorted; hidden files and folders
    (.git, editors' files) are no data and are not walked."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if not name.startswith("."):
                path = Path(root, name)
                stat = path.stat()
                found.append([str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns])
    return sorted(found)


def data_identity(task: Task, opts: DataOptions) -> dict[str, Any]:
    """The data part of a run's identity: what decides which raw examples a run loads.

    The task, its data options, and the (path, size, mtime) of every file of the data folder and of
    an explicit training file; a synthetic task's world is identified by its config hash. The
    integrator of the run identity may swap this function for the identity's own data fingerprint.
    """
    identity: dict[str, Any] = {"task": task.name, "options": dataclasses.asdict(opts)}
    folder = opts.resolved_data_dir()
    if folder is not None:
        identity["data_dir"] = str(folder.resolve())
        identity["files"] = _folder_files(folder.resolve())
    if opts.train_file and Path(opts.train_file).expanduser().is_file():
        stat = Path(opts.train_file).expanduser().stat()
        identity["train_file"] = [str(Path(opts.train_file).expanduser().resolve()), stat.st_size, stat.st_mtime_ns]
    world = getattr(task, "config", None)
    if hasattr(world, "config_hash"):
        identity["world"] = world.config_hash()
    return identity


def content_hash(examples: datasets.Dataset) -> str:
    """SHA-256 of a dataset's rows as Arrow IPC bytes (the rows it shows, in order)."""
    if examples._indices is not None:  # a select()/shuffle() view: hash what it shows
        examples = examples.flatten_indices()
    table = examples.data.table
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(memoryview(sink.getvalue())).hexdigest()


def tokenizer_fingerprint(tokenizer) -> dict[str, Any]:
    """What decides a tokenizer's output: its serialised Rust state (vocabulary, normaliser,
    pre-tokenizer, post-processor, added tokens) hashed, its class and its padding and truncation
    sides (left padding puts the QA context first)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        state = backend.to_str()
        # the serialisation opens with the truncation and padding a call last set (not the tokenizer's
        # identity); what follows is the tokenizer (missing key: hash it all, i.e. miss, never mix up)
        state = state[max(state.find('"added_tokens"'), 0):]
    else:
        state = json.dumps(tokenizer.get_vocab(), sort_keys=True)
    return {"name": getattr(tokenizer, "name_or_path", ""), "class": type(tokenizer).__name__,
            "state": _sha256(state), "padding_side": tokenizer.padding_side,
            "truncation_side": getattr(tokenizer, "truncation_side", "right")}


def encoding_rules(task: Task) -> dict[str, Any]:
    """The task's encoding settings: the scalar public attributes of its class and instance (QA's
    ``doc_stride``, ``max_query_length``, ...) and a hash of the source of every module of
    the package that defines one of its classes (so a change of the encoding code is a new key)."""
    settings: dict[str, Any] = {}
    sources = []
    for klass in reversed(type(task).__mro__):
        settings.update({name: value for name, value in vars(klass).items()
                         if not name.startswith("_") and isinstance(value, _JSON_SCALARS + (tuple,))})
        if klass.__module__.startswith("xlingual_probe."):
            sources.append(_sha256(Path(inspect.getfile(klass)).read_bytes()))
    settings.update({name: value for name, value in vars(task).items()
                     if not name.startswith("_") and isinstance(value, _JSON_SCALARS)})
    return {"class": f"{type(task).__module__}.{type(task).__qualname__}", "settings": settings,
            "source": _sha256("".join(sorted(set(sources))))}


class FeatureCache:
    """Encode datasets with ``task.encode``, through the on-disk cache (see the module docstring).

    Args:
        task: the run's task.
        tokenizer: the run's tokenizer.
        max_length: tokens per feature.
        identity: the data part of the run identity (:func:`data_identity`).
        labels: the label names (index = class id), part of the key.
        root: the cache folder; default ``<cache root>/features``. ``enabled=False`` (or
            ``XPROBE_FEATURE_CACHE=0``) encodes every time.

    Attributes:
        hits, misses: datasets read from the cache / encoded and stored, in this object's life.
    """

    def __init__(self, task: Task, tokenizer, max_length: int, identity: dict[str, Any],
                 labels: list[str] | None = None, root: Path | None = None, enabled: bool | None = None):
        self.task, self.tokenizer, self.max_length = task, tokenizer, max_length
        self.root = root or cache_dir("features")
        self.enabled = os.environ.get("XPROBE_FEATURE_CACHE", "1") != "0" if enabled is None else enabled
        self.hits = self.misses = 0
        self._shared = {"numerics_version": NUMERICS_VERSION, "data": identity, "labels": labels,
                        "max_length": max_length, "rules": encoding_rules(task),
                        "tokenizer": tokenizer_fingerprint(tokenizer) if self.enabled else None}

    def key(self, examples: datasets.Dataset, train: bool) -> tuple[str, dict[str, Any]]:
        """The cache key of encoding ``examples`` (training or evaluation features), and its parts."""
        parts = {**self._shared, "train": train, "content": content_hash(examples), "rows": len(examples)}
        return _sha256(to_json(parts))[:32], parts

    def encode(self, examples: datasets.Dataset, *, train: bool) -> datasets.Dataset:
        """``task.encode(examples, ...)``, read from the cache when this encoding was stored before."""
        if not self.enabled:
            return self.task.encode(examples, self.tokenizer, train=train, max_length=self.max_length)
        key, parts = self.key(examples, train)
        entry = self.root / key
        if (entry / "key.json").is_file():
            self.hits += 1
            return datasets.load_from_disk(str(entry))
        features = self.task.encode(examples, self.tokenizer, train=train, max_length=self.max_length)
        self._store(features, entry, parts)
        self.misses += 1
        return features

    @staticmethod
    def _store(features: datasets.Dataset, entry: Path, parts: dict[str, Any]) -> None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=entry.parent, prefix=f".{entry.name}."))
        try:
            features.save_to_disk(str(tmp))
            atomic_write_json(tmp / "key.json", parts)  # written last: its presence marks a whole entry
            try:
                os.rename(tmp, entry)
            except OSError:  # another process stored the same entry first: keep theirs
                if not (entry / "key.json").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
