"""What every task provides to the training loop: raw data per language, encoding, and scoring.

A task turns a data source (a Hugging Face hub dataset or local files in the benchmark's own format)
into a :class:`TaskData` — raw training examples in the source language, raw evaluation examples
per language split into held-out halves, and labelled test examples where the task has them (see
:mod:`~xlingual_probe.tasks._splits`) — and knows how to encode them for a model, how to turn model outputs into predictions
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

from xlingual_probe.tasks._sources import data_role
from xlingual_probe.tasks._splits import (
    FEW_SHOT_RULE,
    HALVES,
    HALVES_RULE,
    KeyFunction,
    draw_few_shot,
    half_of,
    row_number_keys,
    subsample_rows,
)
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.registry import Registry

Head = Literal["sequence", "token", "qa"]
Parallel = Literal["rows", "ids"]


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
        eval_size: subsample of each language's evaluation set (examples; the ids with the smallest
            seeded hash, so the same ids in every parallel language); ``None`` all.
        seed: seed of the subsampling and of the held-out halves (kept apart from the training seed
            on purpose: every training seed sees the same data, few-shot draws aside).
        few_shot: examples per target language moved from its validation split into training.
        shot_seed: seed of the few-shot draw (the training seed: the paper and fsxlt draw new shots
            for every seed).
        test: load the labelled test split: ``None`` where the task has one (local files or the hub),
            ``True`` required (an error if there is none), ``False`` never.
        test_size: seeded subsample of each language's test split (examples); ``None`` keeps all.
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
    shot_seed: int = 0
    test: bool | None = None
    test_size: int | None = None
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
        eval: evaluation examples per language, source language first, then targets in order (both
            halves, in file order).
        labels: label names for classification/tagging tasks (index = class id), else ``None``.
        eval_ids: the example id of every row of ``eval`` (see :mod:`~xlingual_probe.tasks._splits`).
        halves: the half (``selection`` / ``reporting``) of every row of ``eval``.
        split_seed: the seed of the halves' hash.
        id_name: what an example id is (``row number`` in the language's file, ``id column``).
        unit: what decides a row's half (``example``, ``premise group``).
        test: labelled test examples per language (empty: no test split is scored).
        test_ids: the example id of every row of ``test``.
        test_note: why no test split is scored although the task may have one (a refused file).
        shots: the ids of the few-shot examples moved into training, per target language.
        eval_rows: per language, the position of each example of ``eval`` in that language's
            evaluation split as loaded (before few-shot examples left it and before subsampling): what
            pairs up the rows of evaluation sets that are translations of each other row for row.
        split_sizes: per language, the number of examples of its evaluation split as loaded.
    """

    train: datasets.Dataset
    eval: dict[str, datasets.Dataset]
    labels: list[str] | None = None
    eval_ids: dict[str, list[str]] = field(default_factory=dict)
    halves: dict[str, list[str]] = field(default_factory=dict)
    split_seed: int = 0
    id_name: str = "row number"
    unit: str = "example"
    test: dict[str, datasets.Dataset] = field(default_factory=dict)
    test_ids: dict[str, list[str]] = field(default_factory=dict)
    test_note: str | None = None
    shots: dict[str, list[str]] = field(default_factory=dict)
    eval_rows: dict[str, list[int]] = field(default_factory=dict)
    split_sizes: dict[str, int] = field(default_factory=dict)

    def half(self, lang: str, name: str) -> datasets.Dataset:
        """The rows of ``lang``'s evaluation set in half ``name`` (``selection`` or ``reporting``)."""
        return self.eval[lang].select([i for i, h in enumerate(self.halves[lang]) if h == name])

    def few_shot_record(self, few_shot: int, seed: int) -> dict[str, Any]:
        """``few_shot.json``: the ``few_shot`` shots per target language drawn with the training ``seed``."""
        return {"few_shot": few_shot, "seed": seed, "ids": self.id_name, "unit": self.unit, "rule": FEW_SHOT_RULE,
                "shots": self.shots}

    def split_record(self) -> dict[str, Any]:
        """``eval_split.json``: the rule, its seed, what ids and units are, and each half's ids per language."""
        return {"rule": HALVES_RULE, "seed": self.split_seed, "ids": self.id_name, "unit": self.unit,
                "languages": {lang: {name: [i for i, h in zip(self.eval_ids[lang], self.halves[lang]) if h == name]
                                     for name in HALVES} for lang in self.eval}}


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


def task_folder(root: Path, name: str) -> Path:
    """``root/name`` when it exists (a folder of several tasks, like ../shared/data), else ``root``."""
    sub = root / name
    return sub if sub.is_dir() else root


def finish_task_data(train: datasets.Dataset, eval_sets: dict[str, datasets.Dataset], opts: DataOptions,
                     labels: list[str] | None = None, *, keys: KeyFunction = row_number_keys,
                     test: LabelledTest | None = None) -> TaskData:
    """Apply the options every task shares: the few-shot draw, the seeded subsamples and the halves.

    In this order (:mod:`~xlingual_probe.tasks._splits`): the few-shot shots leave each target
    language's full validation split (their units with them), the rest is subsampled by id
    (``eval_size``), every row gets its half, the test splits are subsampled by id (``test_size``).

    Args:
        train: the source language's training examples.
        eval_sets: evaluation examples per language, ordered source first (see :func:`resolve_languages`).
        opts: the data options.
        labels: the label names (classification / tagging).
        keys: the example ids and units of the task's evaluation (and test) rows.
        test: the labelled test splits (:func:`load_test_sets`; none: no test split).
    """
    eval_keys = keys(eval_sets, opts.source_lang)
    rows: dict[str, list[int]] = {}
    shots: list[datasets.Dataset] = []
    shot_ids: dict[str, list[str]] = {}
    for lang, ds in eval_sets.items():
        rows[lang] = list(range(len(ds)))
        if opts.few_shot > 0 and lang != opts.source_lang:
            drawn, rows[lang] = draw_few_shot(eval_keys[lang], lang, opts.few_shot, opts.shot_seed)
            shots.append(ds.select(drawn).flatten_indices())
            shot_ids[lang] = [eval_keys[lang].ids[r] for r in drawn]
        rows[lang] = subsample_rows(eval_keys[lang].ids, rows[lang], opts.eval_size, opts.seed)
    train = subsample(train, opts.train_size, opts.seed)
    if shots:
        train = datasets.concatenate_datasets([train, *[s.cast(train.features) for s in shots]])
    if len(train) == 0:
        raise UserError("the training set is empty")
    test = test or LabelledTest()
    test_sets = test.sets
    test_keys = keys(test_sets, opts.source_lang) if test_sets else {}
    test_rows = {lang: subsample_rows(test_keys[lang].ids, range(len(ds)), opts.test_size, opts.seed)
                 for lang, ds in test_sets.items()}
    return TaskData(
        train=train,
        eval={lang: _select(ds, rows[lang]) for lang, ds in eval_sets.items()},
        labels=labels,
        eval_ids={lang: [eval_keys[lang].ids[r] for r in rows[lang]] for lang in eval_sets},
        halves={lang: [half_of(eval_keys[lang].units[r], opts.seed) for r in rows[lang]] for lang in eval_sets},
        split_seed=opts.seed,
        id_name=next(iter(eval_keys.values())).id_name,
        unit=next(iter(eval_keys.values())).unit_name,
        test={lang: _select(ds, test_rows[lang]) for lang, ds in test_sets.items()},
        test_ids={lang: [test_keys[lang].ids[r] for r in test_rows[lang]] for lang in test_sets},
        test_note=test.note,
        shots=shot_ids,
        eval_rows=rows,
        split_sizes={lang: len(ds) for lang, ds in eval_sets.items()},
    )


def _select(ds: datasets.Dataset, rows: list[int]) -> datasets.Dataset:
    """``ds[rows]`` as a plain dataset (``ds`` itself when every row is kept in order)."""
    return ds if rows == list(range(len(ds))) else ds.select(rows).flatten_indices()


@dataclass
class LabelledTest:
    """The labelled test sets a task found, or why it scores none.

    Attributes:
        sets: test examples per language (empty: none).
        note: why there are none although the task may have some (a refused file), else ``None``.
    """

    sets: dict[str, datasets.Dataset] = field(default_factory=dict)
    note: str | None = None


def load_test_sets(langs: list[str], opts: DataOptions, task: str,
                   load_one: Callable[[str], datasets.Dataset | None]) -> LabelledTest:
    """The labelled test split of each language that has one (``load_one(lang)``; ``None`` = none).

    ``opts.test`` ``False``: none are loaded. ``None`` (the default, "where the task has labelled test
    data"): a refused file (stripped or constant labels) means no test split, with the refusal as the
    note. ``True``: required, a refusal or a task without test data is an error.

    Raises:
        UserError: ``opts.test`` is ``True`` and a test file is refused or no language has one.
    """
    if opts.test is False:
        return LabelledTest()
    try:
        with data_role("test"):  # the run identity's fingerprint tells test files from evaluation files
            sets = {lang: ds for lang in langs if (ds := load_one(lang)) is not None}
    except UserError as refused:
        if opts.test:
            raise
        return LabelledTest(note=f"test not scored: {refused}")
    if opts.test and not sets:
        raise UserError(f"--score-test: task {task!r} has no labelled test split here "
                        "(pass --no-score-test, or give labelled test files)")
    return LabelledTest(sets)
