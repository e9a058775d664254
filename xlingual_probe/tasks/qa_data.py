"""QA benchmarks: MLQA, XQuAD, TyDiQA-GoldP and any folder of SQuAD-v1.1 JSON files.

All of them evaluate per language on SQuAD-v1.1-shaped data and, zero-shot, train on English SQuAD
(or, where SQuAD is not at hand, TyDiQA-GoldP's English training set). Sources:

* **Local folder** (``--data-dir``; the task's sub-folder is used when present, e.g. ``data/mlqa``):

  ========== ==================================================================================
  task       evaluation files (per language ``{l}``)
  ========== ==================================================================================
  mlqa       ``dev-context-{l}-question-{l}.json`` or ``MLQA_V1/dev/dev-context-{l}-question-{l}.json``
  xquad      ``xquad.{l}.json``
  tydiqa     ``tydiqa-goldp-v1.1-dev/tydiqa.goldp.{l}.dev.json`` or ``tydiqa.goldp.{l}.dev.json``
  squad-json ``dev-{l}.json`` (any language code)
  ========== ==================================================================================

  The training file is ``--train-file`` when given, else the first of ``squad/train-v1.1.json``,
  ``train-v1.1.json`` (English source only), ``tydiqa/tydiqa.goldp.{src}.train.json``,
  ``[tydiqa/]tydiqa-goldp-v1.1-train/tydiqa.goldp.{src}.train.json`` (XTREME's download layout),
  ``tydiqa.goldp.{src}.train.json``,
  ``train-{src}.json`` (``squad-json`` tries ``train-{src}.json`` first), looked up in the task
  folder, then in ``--data-dir`` itself — so ``--data-dir ../shared/data --task mlqa`` finds
  ``mlqa/`` and ``tydiqa/tydiqa.goldp.en.train.json`` — and, when ``--data-dir`` *is* the task
  folder (``.../mlqa``), in its parent.
* **Hugging Face hub** (no folder): training on ``rajpurkar/squad`` (``train``); evaluation on
  ``facebook/mlqa`` (config ``mlqa.{l}.{l}``), ``google/xquad`` (``xquad.{l}``), both ``validation``,
  and TyDiQA-GoldP from ``google/tydiqa`` config ``secondary_task`` (``validation``, all languages
  in one split, told apart by the language name that starts each ``id``, e.g. ``finnish-...``;
  XTREME's ``google/xtreme`` ``tydiqa`` config holds the same GoldP data). Hub loading was written
  against the datasets' documented layouts but could not be exercised offline.

**Test splits** (reporting only): MLQA's ``test`` split (hub ``facebook/mlqa``, or local
``test-context-{l}-question-{l}.json`` / ``MLQA_V1/test/...``) and ``squad-json``'s ``test-{l}.json``.
XQuAD and TyDiQA-GoldP publish one labelled split each (XTREME uses it as the test set): here it is the
evaluation set, and its reporting half is the held-out number; there is no separate test split. A test
file with a question without answers is refused (stripped labels). Every row's id is its question
``id`` (MLQA and XQuAD share it across languages), which decides its held-out half.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import datasets

from xlingual_probe.tasks._base import (
    TASKS,
    DataOptions,
    TaskData,
    finish_task_data,
    load_test_sets,
    resolve_languages,
    task_folder,
)
from xlingual_probe.tasks._sources import data_role, note_file, note_hub
from xlingual_probe.tasks._splits import UNLABELLED_TEST, column_keys
from xlingual_probe.tasks.qa import QATask
from xlingual_probe.utils.errors import UserError, not_utf8

QA_FEATURES = datasets.Features({
    "id": datasets.Value("string"),
    "context": datasets.Value("string"),
    "question": datasets.Value("string"),
    "answers": {"text": datasets.List(datasets.Value("string")),
                "answer_start": datasets.List(datasets.Value("int64"))},
})
"""The raw-example schema every QA task produces (one row per question)."""

MLQA_LANGUAGES = ("en", "ar", "de", "es", "hi", "vi", "zh")
XQUAD_LANGUAGES = ("en", "es", "de", "el", "ru", "tr", "ar", "vi", "th", "zh", "hi", "ro")
TYDIQA_LANGUAGES = ("en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te")
TYDIQA_LANGUAGE_NAMES = {"en": "english", "ar": "arabic", "bn": "bengali", "fi": "finnish", "id": "indonesian",
                         "ko": "korean", "ru": "russian", "sw": "swahili", "te": "telugu"}


def _malformed(path: Path, where: str, what: str) -> UserError:
    return UserError(f"{path} is not SQuAD-v1.1 JSON: {where}{what}")


def read_squad_json(path: Path, test: bool = False) -> datasets.Dataset:
    """Read a SQuAD-v1.1 JSON file (``{"data": [{"paragraphs": [{"context", "qas": [...]}]}]}``).

    Args:
        path: the JSON file.
        test: a test file: a question without answers means stripped labels (refused as such).

    Returns:
        One row per question with the columns of :data:`QA_FEATURES`.

    Raises:
        UserError: if the file is missing, not JSON, not SQuAD-v1.1-shaped, holds a question
            without answers (SQuAD-2.0 unanswerable questions are not supported) or holds none.
    """
    note_file(path)
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise UserError(f"QA file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise _malformed(path, "", 'expected an object with a "data" list of articles')
    rows: dict[str, list[Any]] = {"id": [], "context": [], "question": [], "answers": []}
    for a, article in enumerate(doc["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise _malformed(path, f"data[{a}]: ", 'expected an object with a "paragraphs" list')
        for p, paragraph in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]: "
            if (not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str)
                    or not isinstance(paragraph.get("qas"), list)):
                raise _malformed(path, where, 'expected an object with a "context" string and a "qas" list')
            for q, qa in enumerate(paragraph["qas"]):
                qa_id, question, answers = _read_qa(qa, path, f"{where}qas[{q}]: ", test)
                rows["id"].append(qa_id)
                rows["context"].append(paragraph["context"])
                rows["question"].append(question)
                rows["answers"].append(answers)
    if not rows["id"]:
        raise UserError(f"{path} holds no questions")
    rows["id"] = unique_ids(rows["id"])
    return datasets.Dataset.from_dict(rows, features=QA_FEATURES)


def unique_ids(ids: list[str]) -> list[str]:
    """The ids with repeats renamed ``"7#1"``, ``"7#2"``, ... (decoding groups windows by id).

    XTREME's TyDiQA-GoldP English train file reuses small integers as ids.

    >>> unique_ids(["0", "1", "0", "0"])
    ['0', '1', '0#1', '0#2']
    """
    taken = set(ids)
    seen: set[str] = set()
    out = []
    for i in ids:
        new, n = i, 0
        while new in seen or (n and new in taken):
            n += 1
            new = f"{i}#{n}"
        seen.add(new)
        out.append(new)
    return out


def _read_qa(qa: Any, path: Path, where: str, test: bool = False) -> tuple[str, str, dict[str, list]]:
    if not isinstance(qa, dict) or "id" not in qa or not isinstance(qa.get("question"), str):
        raise _malformed(path, where, 'expected an object with "id", "question" and "answers"')
    answers = qa.get("answers")
    if not isinstance(answers, list):
        raise _malformed(path, where, 'expected an "answers" list')
    if test and not answers:
        raise UserError(f"{path}: question {qa['id']!r} has no answers: {UNLABELLED_TEST}")
    if not answers:
        raise UserError(f"{path}: question {qa['id']!r} has no answers "
                        "(SQuAD-2.0 unanswerable questions are not supported)")
    texts, starts = [], []
    for answer in answers:
        if (not isinstance(answer, dict) or not isinstance(answer.get("text"), str)
                or not isinstance(answer.get("answer_start"), int)):
            raise _malformed(path, where, 'every answer needs a "text" string and an integer "answer_start"')
        texts.append(answer["text"])
        starts.append(answer["answer_start"])
    return str(qa["id"]), qa["question"], {"text": texts, "answer_start": starts}


def _standardise_hub(ds: datasets.Dataset) -> datasets.Dataset:
    """Keep and type the SQuAD columns of a hub QA dataset."""
    ds = ds.select_columns(["id", "context", "question", "answers"])
    return ds.cast(QA_FEATURES)


def _hub_dataset(path: str, config: str | None, split: str) -> datasets.Dataset:
    """One split of a hub dataset; unreachable hub, unknown dataset or config → :class:`UserError`."""
    try:
        ds = datasets.load_dataset(path, config, split=split)
    except (OSError, ValueError) as exc:  # ConnectionError, DatasetNotFoundError, unknown config
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise UserError(f"cannot load {path} ({config or 'default'}, {split}) from the Hugging Face hub: "
                        f"{type(exc).__name__}: {first_line} (or pass --data-dir with local files)") from None
    note_hub(path, config, split, ds)
    return ds


def _load_hub(path: str, config: str | None, split: str) -> datasets.Dataset:
    return _standardise_hub(_hub_dataset(path, config, split))


class SquadFolderTask(QATask):
    """A QA benchmark stored as SQuAD-v1.1 JSON files, one evaluation file per language.

    Subclasses name their file patterns and hub datasets; see the module docstring.
    """

    parallel = "ids"  # translated questions keep their id (MLQA, XQuAD); TyDiQA's share none
    folder_name: ClassVar[str]
    eval_patterns: ClassVar[tuple[str, ...]]  # relative paths with a {lang} field, tried in order
    hub_eval: ClassVar[tuple[str, str] | None] = None  # (dataset, config with a {lang} field)
    hub_train: ClassVar[tuple[str, str | None, str]] = ("rajpurkar/squad", None, "train")
    test_patterns: ClassVar[tuple[str, ...]] = ()  # local test files, like eval_patterns; empty = no test split
    hub_test: ClassVar[bool] = False  # the hub_eval dataset has a labelled ``test`` split

    def load(self, opts: DataOptions) -> TaskData:
        root = opts.resolved_data_dir()
        if root is None:
            return self._load_from_hub(opts)
        folder = task_folder(root, self.folder_name)
        eval_files = self._eval_files(folder)
        if not eval_files:
            expected = " or ".join(p.format(lang="{lang}") for p in self.eval_patterns)
            raise UserError(f"no {self.name} evaluation files in {folder} (expected {expected})")
        langs = resolve_languages(list(eval_files), opts, self.name)
        train_file = self._train_file(root, folder, opts)
        with data_role("train", dataset=self.train_dataset(train_file, folder)):
            train = read_squad_json(train_file)
        eval_sets = {lang: read_squad_json(eval_files[lang]) for lang in langs}
        test_files = self._eval_files(folder, self.test_patterns)
        test = load_test_sets(langs, opts, self.name, lambda lang: read_squad_json(test_files[lang], test=True)
                                   if lang in test_files else None)
        return finish_task_data(train, eval_sets, opts, keys=column_keys("id"), test=test)

    def _eval_files(self, folder: Path, patterns: tuple[str, ...] | None = None) -> dict[str, Path]:
        """Map language → evaluation file (or the file of ``patterns``) for the languages present in ``folder``."""
        found: dict[str, Path] = {}
        for lang in self.languages:
            path = next((folder / p.format(lang=lang) for p in (self.eval_patterns if patterns is None else patterns)
                         if (folder / p.format(lang=lang)).is_file()), None)
            if path is not None:
                found[lang] = path
        return found

    def train_candidates(self, source_lang: str) -> list[str]:
        """Default training-file names, most preferred first (relative to the searched folders)."""
        names = ["squad/train-v1.1.json", "train-v1.1.json"] if source_lang == "en" else []
        return names + [f"tydiqa/tydiqa.goldp.{source_lang}.train.json",
                        f"tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.{source_lang}.train.json",
                        f"tydiqa-goldp-v1.1-train/tydiqa.goldp.{source_lang}.train.json",
                        f"tydiqa.goldp.{source_lang}.train.json",
                        f"train-{source_lang}.json"]

    def train_dataset(self, path: Path, folder: Path | None = None) -> str:
        """Which benchmark a training file belongs to: ``tydiqa`` (TyDiQA-GoldP), ``squad`` (SQuAD v1.1),
        this task's name for a file in its own folder (``train-{src}.json``), else ``file``.

        An evaluation on the dataset the model was trained on is in-domain, not zero-shot: the loop
        records the source language as ``in_domain`` then (e.g. TyDiQA-en after TyDiQA-en training).
        """
        name = path.name.lower()
        if "tydiqa" in name:
            return "tydiqa"
        if name == "train-v1.1.json" or path.parent.name.lower() == "squad":
            return "squad"
        return self.name if folder is not None and path.parent.resolve() == folder.resolve() else "file"

    def _train_file(self, root: Path, folder: Path, opts: DataOptions) -> Path:
        if opts.train_file:
            path = Path(opts.train_file).expanduser()
            if not path.is_file():
                raise UserError(f"training file not found: {path}")
            return path
        # the task folder first, then the data folder; if the data folder *is* the task folder of a
        # shared data folder (../shared/data/mlqa), its siblings (../shared/data/tydiqa) too
        dirs = list(dict.fromkeys([folder, root] + ([root.parent] if root.name == self.folder_name else [])))
        names = self.train_candidates(opts.source_lang)
        for d in dirs:
            for name in names:
                if (d / name).is_file():
                    return d / name
        raise UserError(f"no QA training file found in {', '.join(map(str, dirs))} (looked for "
                        f"{', '.join(names)}); pass --train-file with a SQuAD-v1.1 JSON file")

    def _load_from_hub(self, opts: DataOptions) -> TaskData:
        langs = resolve_languages(self.languages, opts, self.name)
        dataset = self.train_dataset(Path(opts.train_file).expanduser()) if opts.train_file else "squad"
        with data_role("train", dataset=dataset):
            train = self._hub_train(opts)
        eval_sets = {lang: self._hub_eval_split(lang) for lang in langs}
        test = load_test_sets(langs, opts, self.name, self._hub_test_split)
        return finish_task_data(train, eval_sets, opts, keys=column_keys("id"), test=test)

    def _hub_train(self, opts: DataOptions) -> datasets.Dataset:
        if opts.train_file:
            return read_squad_json(Path(opts.train_file).expanduser())
        if opts.source_lang != "en":
            raise UserError(f"the hub training set ({self.hub_train[0]}) is English; for source language "
                            f"{opts.source_lang!r} pass --train-file or --data-dir")
        return _load_hub(*self.hub_train)

    def _hub_eval_split(self, lang: str) -> datasets.Dataset:
        if self.hub_eval is None:
            raise UserError(f"--task {self.name} has no hub dataset; pass --data-dir")
        dataset, config = self.hub_eval
        return _load_hub(dataset, config.format(lang=lang), "validation")

    def _hub_test_split(self, lang: str) -> datasets.Dataset | None:
        if not self.hub_test or self.hub_eval is None:
            return None
        dataset, config = self.hub_eval
        ds = _load_hub(dataset, config.format(lang=lang), "test")
        if not all(answers["text"] for answers in ds["answers"]):
            raise UserError(f"{dataset} ({config.format(lang=lang)}, test): a question has no answers: {UNLABELLED_TEST}")
        return ds


@TASKS.register("mlqa")
class MLQATask(SquadFolderTask):
    name = "mlqa"
    languages = MLQA_LANGUAGES
    folder_name = "mlqa"
    eval_patterns = ("dev-context-{lang}-question-{lang}.json", "MLQA_V1/dev/dev-context-{lang}-question-{lang}.json")
    test_patterns = ("test-context-{lang}-question-{lang}.json", "MLQA_V1/test/test-context-{lang}-question-{lang}.json")
    hub_eval = ("facebook/mlqa", "mlqa.{lang}.{lang}")
    hub_test = True


@TASKS.register("xquad")
class XQuADTask(SquadFolderTask):
    name = "xquad"
    languages = XQUAD_LANGUAGES
    folder_name = "xquad"
    eval_patterns = ("xquad.{lang}.json",)
    hub_eval = ("google/xquad", "xquad.{lang}")


@TASKS.register("tydiqa")
class TyDiQATask(SquadFolderTask):
    """TyDiQA-GoldP (the gold-passage task); the hub split mixes languages, told apart by ``id``."""

    name = "tydiqa"
    languages = TYDIQA_LANGUAGES
    folder_name = "tydiqa"
    eval_patterns = ("tydiqa-goldp-v1.1-dev/tydiqa.goldp.{lang}.dev.json", "tydiqa.goldp.{lang}.dev.json")

    def _hub_eval_split(self, lang: str) -> datasets.Dataset:
        prefix = TYDIQA_LANGUAGE_NAMES[lang] + "-"
        ds = _hub_dataset("google/tydiqa", "secondary_task", "validation")
        return _standardise_hub(ds.filter(lambda ids: [i.startswith(prefix) for i in ids], batched=True,
                                          input_columns="id"))


@TASKS.register("squad-json")
class SquadJsonTask(SquadFolderTask):
    """Any folder of SQuAD-v1.1 files: ``train-{lang}.json`` and ``dev-{lang}.json`` per language."""

    name = "squad-json"
    languages = ()  # any language code
    folder_name = "squad-json"
    eval_patterns = ("dev-{lang}.json",)
    test_patterns = ("test-{lang}.json",)

    def _eval_files(self, folder: Path, patterns: tuple[str, ...] | None = None) -> dict[str, Path]:
        patterns = self.eval_patterns if patterns is None else patterns
        if not patterns:
            return {}
        prefix = patterns[0].split("{")[0]  # "dev-" or "test-"
        return {path.name[len(prefix):-len(".json")]: path for path in sorted(folder.glob(f"{prefix}*.json"))
                if path.is_file()}

    def train_candidates(self, source_lang: str) -> list[str]:
        return [f"train-{source_lang}.json"] + [n for n in super().train_candidates(source_lang)
                                                if n != f"train-{source_lang}.json"]

    def _load_from_hub(self, opts: DataOptions) -> TaskData:
        raise UserError("--task squad-json reads local files: pass --data-dir (a folder of train-{lang}.json "
                        "and dev-{lang}.json SQuAD-v1.1 files)")
