"""What every task provides to the training loop: raw data per language, encoding, and scoring.

A task turns a data source (a Hugging Face hub dataset or local files in the benchmark's own format)
into a :class:`TaskData` — raw training examples in the source language and raw evaluation examples
per language — and knows how to encode them for a model, how to turn model outputs into predictions
and how to score predictions with the benchmark's official metric (on a 0–100 scale).

The loop never looks inside examples: it calls :meth:`Task.encode`, batches the encoded features
with :meth:`Task.collator`, runs the model, and hands the outputs back to
:meth:`Task.predictions` and :meth:`Task.score`. That keeps classification, tagging and span
extraction on one code path.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import datasets

from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.registry import Registry

Head = Literal["sequence", "token", "qa"]
Parallel = Literal["rows", "ids"]
ROW_COLUMN = "__row__"  # rides along through few-shot splitting and subsampling (see finish_task_data)


@dataclass
class DataOptions:
    """Which data a task loads.

    Attributes:
        data_dir: local folder with the task's files; ``None`` loads from the Hugging Face hub
            (``XPROBE_DATA_DIR`` is used when set and no folder is given).
        source_lang: the language the model is fine-tuned on.
        langs: evaluation languages (source included or not: it is always evaluated); ``None``
            means every language the task offers (that the local folder holds).
        train_size: seeded subsample of the training set (examples); ``None`` keeps all.
        eval_size: seeded subsample of each language's evaluation set (examples); ``None`` all.
        seed: seed of the subsampling (kept apart from the training seed on purpose: every
            training seed sees the same data).
        few_shot: examples per target language moved from its validation split into training.
        text_columns: for bring-your-own classification: the column(s) holding the text(s).
        label_column: for bring-your-own classification: the label column.
        train_file: an explicit training file (e.g. a SQuAD-v1.1 JSON for QA), overriding the
            task's default file name in ``data_dir``.
    """

    data_dir: str | None = None
    source_lang: str = "en"
    langs: list[str] | None = None
    train_size: int | None = None
    eval_size: int | None = None
    seed: int = 0
    few_shot: int = 0
    text_columns: list[str] | None = None
    label_column: str | None = None
    train_file: str | None = None

    def resolved_data_dir(self) -> Path | None:
        data_dir = self.data_dir or os.environ.get("XPROBE_DATA_DIR")
        if not data_dir:
            return None
        path = Path(data_dir).expanduser()
        if not path.is_dir():
            raise UserError(f"data folder not found: {path}")
        return path


@dataclass
class TaskData:
    """Raw (not tokenised) examples.

    Attributes:
        train: training examples (source language, plus few-shot target examples if asked).
        eval: evaluation examples per language, source language first, then targets in order.
        labels: label names for classification/tagging tasks (index = class id), else ``None``.
        eval_rows: per language, the position of each example of ``eval`` in that language's
            evaluation split as loaded (before few-shot examples left it and before subsampling): what
            pairs up the rows of evaluation sets that are translations of each other row for row.
        split_sizes: per language, the number of examples of its evaluation split as loaded.
    """

    train: datasets.Dataset
    eval: dict[str, datasets.Dataset]
    labels: list[str] | None = None
    eval_rows: dict[str, list[int]] = field(default_factory=dict)
    split_sizes: dict[str, int] = field(default_factory=dict)


class Task(ABC):
    """Base class of a task; subclasses are registered in :data:`TASKS` by name."""

    name: ClassVar[str]
    head: ClassVar[Head]
    metric: ClassVar[str]  # name of the primary metric, e.g. "accuracy" or "f1"
    languages: ClassVar[tuple[str, ...]] = ()  # languages the task offers (hub); empty = any
    # How the evaluation sets of different languages correspond (the alignment probe's parallel sets):
    # "rows" = row i is the same content in every language (XNLI), "ids" = examples sharing an ``id``
    # are translations (MLQA, XQuAD), None = not parallel.
    parallel: ClassVar[Parallel | None] = None
    # raw fields a sentence can be taken from, (name, column) pairs (the first is the default); a column
    # of words (token tasks) is joined with spaces
    text_fields: ClassVar[tuple[tuple[str, str], ...]] = ()

    def for_model(self, model: str) -> Task:
        """The task as it should be run with ``model`` (a model name or folder); default: itself.

        A task whose data depend on the model overrides this: the synthetic tasks draw their data
        from a synthetic model's own world (:mod:`xlingual_probe.tasks.synthetic`).
        """
        return self

    @abstractmethod
    def load(self, opts: DataOptions) -> TaskData:
        """Load raw train/eval examples; raise :class:`UserError` for missing or malformed data."""

    @abstractmethod
    def encode(self, examples: datasets.Dataset, tokenizer, *, train: bool, max_length: int) -> datasets.Dataset:
        """Tokenise examples into model features.

        The result holds the model inputs (``input_ids``, ``attention_mask``, maybe
        ``token_type_ids``) and, for training, the targets (``labels`` or ``start_positions`` /
        ``end_positions``). Evaluation features may keep extra columns :meth:`score` needs
        (e.g. ``example_id`` and ``offset_mapping`` for QA); :meth:`model_columns` says which
        columns go to the model.
        """

    def model_columns(self, train: bool) -> list[str]:
        """Columns of encoded features passed to the model (others stay for scoring); missing ones are skipped."""
        return ["input_ids", "attention_mask", "token_type_ids", "labels"]

    @abstractmethod
    def collator(self, tokenizer) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
        """Batch a list of features (model columns only) with dynamic padding."""

    @abstractmethod
    def predictions(self, outputs, batch: dict[str, Any]) -> list[Any]:
        """Turn one batch of model outputs into one prediction per feature (numpy / python)."""

    @abstractmethod
    def score(self, predictions: list[Any], features: datasets.Dataset, examples: datasets.Dataset,
              lang: str) -> dict[str, float]:
        """Score predictions of every feature of one language; values on a 0–100 scale.

        The primary metric is under the key :attr:`metric`.
        """

    def num_labels(self, data: TaskData) -> int:
        return len(data.labels) if data.labels else 2

    @staticmethod
    def truncated_examples(features: datasets.Dataset) -> int:
        """How many examples lost part of their input to ``max_length`` when encoded for evaluation.

        Reads the evaluation features' ``truncated`` column (nonzero: something of that feature's
        example was cut), counting each example once (by ``example_id`` when features carry one).
        What "cut" means is the task's: the pair of a sentence task, the question of a QA task
        (contexts are windowed, never cut), words of a tagging task (never, after the word-boundary
        split). A task without the column reports 0.
        """
        if "truncated" not in features.column_names:
            return 0
        flags = features["truncated"]
        if "example_id" in features.column_names:
            return len({example for example, flag in zip(features["example_id"], flags) if flag})
        return sum(1 for flag in flags if flag)


TASKS: Registry[type[Task]] = Registry("task")


def get_task(name: str) -> Task:
    """Instantiate the registered task ``name`` (raises :class:`UserError` listing valid names)."""
    return TASKS.get(name)()


def subsample(dataset: datasets.Dataset, size: int | None, seed: int) -> datasets.Dataset:
    """A seeded random subset of ``size`` examples (all of them, in order, if ``size`` is None or larger)."""
    if size is None or size >= len(dataset):
        return dataset
    if size <= 0:
        raise UserError(f"sizes must be positive, got {size}")
    return dataset.shuffle(seed=seed).select(range(size)).flatten_indices()


def resolve_languages(available: list[str] | tuple[str, ...], opts: DataOptions, task: str) -> list[str]:
    """The evaluation languages, source first: ``opts.langs`` checked against ``available``.

    Raises:
        UserError: if the source or a requested language is not available.
    """
    available = list(available)
    if opts.source_lang not in available:
        raise UserError(f"source language {opts.source_lang!r} is not available for task {task!r} "
                        f"(available: {', '.join(sorted(available))})")
    wanted = opts.langs if opts.langs else available
    unknown = [lang for lang in wanted if lang not in available]
    if unknown:
        raise UserError(f"language(s) {', '.join(unknown)} not available for task {task!r} "
                        f"(available: {', '.join(sorted(available))})")
    return [opts.source_lang] + [lang for lang in wanted if lang != opts.source_lang]


def split_few_shot(eval_sets: dict[str, datasets.Dataset], opts: DataOptions
                   ) -> tuple[list[datasets.Dataset], dict[str, datasets.Dataset]]:
    """Move ``opts.few_shot`` seeded examples of each target language out of its evaluation set.

    Returns:
        The few-shot subsets (to be mixed into training) and the reduced evaluation sets.
    """
    if opts.few_shot <= 0:
        return [], eval_sets
    shots, remaining = [], {}
    for lang, ds in eval_sets.items():
        if lang == opts.source_lang:
            remaining[lang] = ds
            continue
        if opts.few_shot >= len(ds):
            raise UserError(f"--few-shot {opts.few_shot} leaves no evaluation data for {lang} ({len(ds)} examples)")
        shuffled = ds.shuffle(seed=opts.seed)
        shots.append(shuffled.select(range(opts.few_shot)).flatten_indices())
        remaining[lang] = shuffled.select(range(opts.few_shot, len(ds))).flatten_indices()
    return shots, remaining


def task_folder(root: Path, name: str) -> Path:
    """``root/name`` when it exists (a folder of several tasks, like ../shared/data), else ``root``."""
    sub = root / name
    return sub if sub.is_dir() else root


def finish_task_data(train: datasets.Dataset, eval_sets: dict[str, datasets.Dataset], opts: DataOptions,
                     labels: list[str] | None = None) -> TaskData:
    """Apply the options every task shares: subsample train/eval (seeded) and move few-shot examples.

    ``eval_sets`` must already be ordered source first (see :func:`resolve_languages`). Each
    example's position in its split is carried through the selections in a temporary column and
    returned as :attr:`TaskData.eval_rows`.
    """
    sizes = {lang: len(ds) for lang, ds in eval_sets.items()}
    eval_sets = {lang: ds.add_column(ROW_COLUMN, list(range(len(ds)))) for lang, ds in eval_sets.items()}
    # few-shot examples come out of the full validation split before it is subsampled
    shots, eval_sets = split_few_shot(eval_sets, opts)
    shots = [s.remove_columns(ROW_COLUMN) for s in shots]
    train = subsample(train, opts.train_size, opts.seed)
    eval_sets = {lang: subsample(ds, opts.eval_size, opts.seed) for lang, ds in eval_sets.items()}
    rows = {lang: list(ds[ROW_COLUMN]) for lang, ds in eval_sets.items()}
    eval_sets = {lang: ds.remove_columns(ROW_COLUMN) for lang, ds in eval_sets.items()}
    if shots:
        train = datasets.concatenate_datasets([train, *[s.cast(train.features) for s in shots]])
    if len(train) == 0:
        raise UserError("the training set is empty")
    return TaskData(train=train, eval=eval_sets, labels=labels, eval_rows=rows, split_sizes=sizes)
