"""A run's data: the task's examples for a TrainConfig, and the fingerprint of exactly what was used.

The fingerprint is half of a run's identity (:mod:`xlingual_probe.training.identity`): two runs with
the same config but different data are different runs. It holds

* ``sources``: every data file the task read (resolved ``path``, ``size``, ``sha256`` of the bytes,
  ``role`` ``train`` / ``eval`` / ``test``, ``dataset`` label) and every hub split it loaded (``name``,
  ``config``, ``split``, the ``datasets`` ``fingerprint`` and ``version``), in reading order;
* ``examples``: the SHA-256 of the examples actually used, after the few-shot draw and the id-based
  subsamples (:mod:`~xlingual_probe.tasks._splits`) — ``train`` (few-shot shots included), ``eval``
  (both held-out halves) and ``test`` per language — so a change in which examples were drawn
  (another sampling rule, another library version) shows too. Synthetic tasks read no files; their
  generated examples are covered here. Which rows form each half is fixed by the example ids and
  ``data_seed`` (recorded in ``eval_split.json``).

Costs: file digests are cached by (path, size, mtime) (:func:`~xlingual_probe.utils.filehash.file_digest`),
and :func:`data_fingerprint` keeps the fingerprint of each data configuration in memory (re-checking
the files' size and mtime on every call), so planning a 148-run sweep loads and hashes its data once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

import datasets

from xlingual_probe.tasks import DataOptions, Task, TaskData, get_task
from xlingual_probe.tasks._sources import recording
from xlingual_probe.training.config import TrainConfig
from xlingual_probe.utils.filehash import file_digest

_MEMO: dict[str, tuple[dict[str, Any], dict[str, tuple[int, int]]]] = {}


def data_options(config: TrainConfig) -> DataOptions:
    """The :class:`~xlingual_probe.tasks.DataOptions` of a run."""
    return DataOptions(data_dir=config.data_dir, source_lang=config.source_lang, langs=config.langs,
                       train_size=config.train_size, eval_size=config.eval_size, seed=config.data_seed,
                       few_shot=config.few_shot, shot_seed=config.seed, test=config.score_test,
                       test_size=config.test_size, text_columns=config.text_columns,
                       label_column=config.label_column, train_file=config.train_file)


def load_task_data(config: TrainConfig) -> tuple[Task, TaskData]:
    """The run's task (adapted to the model by :meth:`~xlingual_probe.tasks.Task.for_model`: a synthetic
    task draws its data from a synthetic model's own world) and its data. Nothing is loaded or
    pre-trained here, so a bad data option fails before the model is built."""
    task, data, _ = load_fingerprinted(config)
    return task, data


def examples_digest(dataset: datasets.Dataset) -> str:
    """SHA-256 of a dataset's rows in order (canonical JSON per batch of rows): equal iff the same
    examples, in the same order, with the same values.

    >>> ds = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]})
    >>> examples_digest(ds) == examples_digest(ds.select([0, 1])) != examples_digest(ds.select([1, 0]))
    True
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(sorted(dataset.column_names)).encode())
    for batch in dataset.iter(batch_size=4096):
        digest.update(json.dumps(batch, sort_keys=True, ensure_ascii=False, default=str).encode())
    return digest.hexdigest()


def _source_entry(note: dict[str, Any]) -> dict[str, Any]:
    if note["kind"] == "file":
        return {**file_digest(note["path"]), "role": note["role"], "dataset": note["dataset"]}
    return {key: note[key] for key in ("name", "config", "split", "fingerprint", "version", "role", "dataset")}


def load_fingerprinted(config: TrainConfig) -> tuple[Task, TaskData, dict[str, Any]]:
    """Load the run's data and fingerprint it (module docstring); remembers the fingerprint for
    :func:`data_fingerprint`.

    Returns:
        ``(task, data, fingerprint)`` with fingerprint ``{"sources": [...], "examples": {"train": sha256,
        "eval": {lang: sha256}, "test": {lang: sha256}}}``.

    Raises:
        UserError: missing or malformed data (from the task).
    """
    task = get_task(config.task).for_model(config.model)
    if task.head == "qa":
        task.stride_mode = config.qa_stride  # what doc_stride means (XTREME's or HF run_qa's)
    with recording() as notes:
        data = task.load(data_options(config))
    sources = []
    for note in notes:  # a file read twice (a header sniff, then the rows) is listed once
        entry = _source_entry(note)
        if entry not in sources:
            sources.append(entry)
    fingerprint = {"sources": sources,
                   "examples": {"train": examples_digest(data.train),
                                "eval": {lang: examples_digest(ds) for lang, ds in data.eval.items()},
                                "test": {lang: examples_digest(ds) for lang, ds in data.test.items()}}}
    stats = {s["path"]: _stat(s["path"]) for s in sources if "path" in s}
    _MEMO[_memo_key(config)] = (fingerprint, stats)
    return task, data, fingerprint


def data_fingerprint(config: TrainConfig) -> dict[str, Any]:
    """The fingerprint of the run's data (as :func:`load_fingerprinted`), from memory when this process
    has fingerprinted the same data configuration and none of its files changed size or mtime since."""
    memo = _MEMO.get(_memo_key(config))
    if memo is not None and all(_stat(path) == stat for path, stat in memo[1].items()):
        return memo[0]
    return load_fingerprinted(config)[2]


def _stat(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _memo_key(config: TrainConfig) -> str:
    # the data depend on the data options, the task, the model (synthetic worlds) and $XPROBE_DATA_DIR
    return json.dumps([config.task, config.model, dataclasses.asdict(data_options(config)),
                       os.environ.get("XPROBE_DATA_DIR")], sort_keys=True, default=str)


def in_domain_languages(task: Task, fingerprint: dict[str, Any], source_lang: str) -> list[str]:
    """The evaluation languages that are in-domain, not zero-shot: the source language when the training
    data come from the task's own evaluation dataset (e.g. TyDiQA-en evaluated after training on
    TyDiQA-GoldP's English training set; XTREME's zero-shot TyDiQA trains on SQuAD)."""
    trained_on = {s.get("dataset") for s in fingerprint["sources"] if s["role"] == "train"}
    return [source_lang] if task.name in trained_on else []


def describe_training_data(task: Task, fingerprint: dict[str, Any], source_lang: str) -> str:
    """One line: where the training examples come from, and whether the source evaluation is in-domain.

    >>> from xlingual_probe.tasks import get_task
    >>> fp = {"sources": [{"path": "/d/tydiqa.goldp.en.train.json", "sha256": "ab" * 32, "role": "train",
    ...                    "dataset": "tydiqa"}], "examples": {}}
    >>> print(describe_training_data(get_task("tydiqa"), fp, "en"))
    tydiqa: training data /d/tydiqa.goldp.en.train.json (tydiqa, sha256 abababababab…); the en evaluation is in-domain (same dataset), not zero-shot
    """
    parts = []
    for source in (s for s in fingerprint["sources"] if s["role"] == "train"):
        if "path" in source:
            label = ", ".join(x for x in (source.get("dataset"), f"sha256 {source['sha256'][:12]}…") if x)
            parts.append(f"{source['path']} ({label})")
        else:
            parts.append(f"hub {source['name']} ({source.get('config') or 'default'}, {source['split']})")
    line = f"{task.name}: training data {', '.join(parts) or 'generated (synthetic world)'}"
    in_domain = in_domain_languages(task, fingerprint, source_lang)
    if in_domain:
        line += f"; the {', '.join(in_domain)} evaluation is in-domain (same dataset), not zero-shot"
    return line
