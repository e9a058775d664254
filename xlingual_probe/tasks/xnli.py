"""XNLI: cross-lingual natural language inference (3 classes), scored by accuracy.

Sources:
    * Hugging Face hub: ``facebook/xnli`` (per-language configs ``en``, ``de``, ...); English
      training data is the ``en`` config's ``train`` split (MultiNLI).
    * Local XTREME files: ``dev-{lang}.tsv`` (``premise<TAB>hypothesis<TAB>label``, no header) and the
      English training set as ``mnli_train.tsv`` (header ``sentence1 sentence2 label ...``) or
      ``train-en.tsv`` (XTREME format, no header). A folder holding an ``xnli/`` sub-folder (like
      ``../shared/data``) works too.

Test split (scored for reporting only, never for selection): the hub's ``test`` split, or local
``test-{lang}.tsv`` files in the same format as the dev files, looked up in the XNLI folder and then in
an ``xnli_test/`` folder beside it (``../shared/data/xnli_test``). XTREME ships its test files with the
labels stripped: a file without a label column, or whose labels are all the same, is refused.

Dev and test are 15-way parallel row for row and repeat every premise with three hypotheses, so the
held-out halves split them by premise group (:func:`~xlingual_probe.tasks._splits.premise_group_keys`).
"""

from __future__ import annotations

import csv
from pathlib import Path

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
from xlingual_probe.tasks._splits import UNLABELLED_TEST, check_labelled_test, premise_group_keys
from xlingual_probe.tasks.classification import SentenceClassificationTask
from xlingual_probe.utils.errors import UserError, not_utf8

XNLI_LANGUAGES = ("en", "ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
XNLI_LABELS = ["entailment", "neutral", "contradiction"]  # the hub's ClassLabel order
_LABEL_ALIASES = {"contradictory": "contradiction"}


def read_nli_tsv(path: Path, header: bool, test: bool = False) -> datasets.Dataset:
    """Read an XNLI/MNLI TSV into ``text``/``text_pair``/``label`` columns.

    A file without a header must have exactly three columns (XTREME's ``premise hypothesis label``);
    with a header the columns are found by name. LF and CRLF line ends are both read.

    Args:
        path: the file.
        header: the first line names the columns (MNLI).
        test: a test file: missing or constant labels are refused with the reason.

    Raises:
        UserError: a missing column, an extra column (headerless), an unknown label, no rows, a file
            that is not UTF-8, or an unlabelled test file.
    """
    try:
        return _read_nli_rows(path, header, test)
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None


def _read_nli_rows(path: Path, header: bool, test: bool) -> datasets.Dataset:
    texts, pairs, labels = [], [], []
    note_file(path)
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        columns = (0, 1, 2)
        if header:
            head = next(rows, [])
            try:
                columns = tuple(head.index(c) for c in ("sentence1", "sentence2", "label"))
            except ValueError:
                raise UserError(f"{path}: header must name sentence1, sentence2 and label, got {head}") from None
        for line_no, row in enumerate(rows, start=2 if header else 1):
            if not row:
                continue
            if test and (len(row) == 2 or (len(row) == 3 and not row[2].strip())):
                raise UserError(f"{path}:{line_no}: no label column: {UNLABELLED_TEST}")
            if len(row) <= max(columns) or (not header and len(row) != 3):
                raise UserError(f"{path}:{line_no}: expected premise, hypothesis and label separated by tabs "
                                f"(3 columns), got {len(row)}")
            label = _LABEL_ALIASES.get(row[columns[2]].strip(), row[columns[2]].strip())
            if label not in XNLI_LABELS:
                raise UserError(f"{path}:{line_no}: unknown label {label!r} (expected one of {XNLI_LABELS})")
            texts.append(row[columns[0]])
            pairs.append(row[columns[1]])
            labels.append(XNLI_LABELS.index(label))
    if not labels:
        raise UserError(f"{path} holds no examples")
    if test:
        check_labelled_test(str(path), labels)
    return datasets.Dataset.from_dict({"text": texts, "text_pair": pairs, "label": labels})


def _has_header(path: Path) -> bool:
    """MNLI-style files start with a ``sentence1<TAB>sentence2<TAB>label`` header; XTREME's do not."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().split("\t")[:2] == ["sentence1", "sentence2"]
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None


@TASKS.register("xnli")
class XNLITask(SentenceClassificationTask):
    name = "xnli"
    languages = XNLI_LANGUAGES
    parallel = "rows"  # the dev and test sets are 15-way parallel, row for row
    text_fields = (("premise", "text"), ("hypothesis", "text_pair"))

    def load(self, opts: DataOptions) -> TaskData:
        root = opts.resolved_data_dir()
        if root is None:
            return self._load_hub(opts)
        folder = task_folder(root, "xnli")
        available = [lang for lang in XNLI_LANGUAGES if (folder / f"dev-{lang}.tsv").is_file()]
        langs = resolve_languages(available, opts, self.name)
        # mnli_train.tsv is English MultiNLI: only a training set when English is the source
        names = (["mnli_train.tsv"] if opts.source_lang == "en" else []) + [f"train-{opts.source_lang}.tsv"]
        if opts.train_file:
            train_file = Path(opts.train_file).expanduser()
            if not train_file.is_file():
                raise UserError(f"training file not found: {train_file}")
        else:
            train_file = next((folder / n for n in names if (folder / n).is_file()), None)
        if train_file is None:
            raise UserError(f"no XNLI training file in {folder} (expected mnli_train.tsv or train-{opts.source_lang}.tsv)")
        with data_role("train"):
            train = read_nli_tsv(train_file, header=train_file.name == "mnli_train.tsv" or _has_header(train_file))
        eval_sets = {lang: read_nli_tsv(folder / f"dev-{lang}.tsv", header=False) for lang in langs}
        test_dirs = [folder, root / "xnli_test", folder.parent / "xnli_test"]

        def local_test(lang: str) -> datasets.Dataset | None:
            path = next((d / f"test-{lang}.tsv" for d in test_dirs if (d / f"test-{lang}.tsv").is_file()), None)
            return None if path is None else read_nli_tsv(path, header=False, test=True)

        test = load_test_sets(langs, opts, self.name, local_test)
        return finish_task_data(train, eval_sets, opts, XNLI_LABELS, keys=premise_group_keys, test=test)

    def _load_hub(self, opts: DataOptions) -> TaskData:
        langs = resolve_languages(XNLI_LANGUAGES, opts, self.name)

        def standard(lang: str, split: str) -> datasets.Dataset:
            ds = datasets.load_dataset("facebook/xnli", lang, split=split)
            note_hub("facebook/xnli", lang, split, ds)
            ds = ds.rename_columns({"premise": "text", "hypothesis": "text_pair"})
            return ds.cast_column("label", datasets.Value("int64"))

        def hub_test(lang: str) -> datasets.Dataset:
            ds = standard(lang, "test")
            check_labelled_test(f"facebook/xnli ({lang}, test)", ds["label"])
            return ds

        with data_role("train"):
            train = standard(opts.source_lang, "train")
        eval_sets = {lang: standard(lang, "validation") for lang in langs}
        test = load_test_sets(langs, opts, self.name, hub_test)
        return finish_task_data(train, eval_sets, opts, XNLI_LABELS, keys=premise_group_keys, test=test)
