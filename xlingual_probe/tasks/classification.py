"""Sentence and sentence-pair classification (XNLI and any bring-your-own set).

Raw examples have the columns ``text``, optionally ``text_pair``, and ``label`` (class id).
Scored by accuracy (0–100), as XTREME's ``run_classify.py`` does for XNLI.

Bring-your-own data (``--task classification``) is a folder of ``{split}-{lang}.{tsv,csv,jsonl}``
files (or ``{lang}/{split}.{tsv,csv,jsonl}``) with a header row (TSV/CSV) or keys (JSONL); the text
column(s) and the label column are named with ``--text-columns`` and ``--label-column``. Splits:
``train`` (source language), ``dev``/``validation`` (every language), ``test`` (where present: scored for
reporting; missing or constant labels are refused). A row's id is its row number in its file, which
decides its held-out half: row-aligned (parallel) files keep translations in the same half.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from transformers import DataCollatorWithPadding

from xlingual_probe.tasks._base import (
    TASKS,
    DataOptions,
    Task,
    TaskData,
    finish_task_data,
    load_test_sets,
    resolve_languages,
)
from xlingual_probe.tasks._encoding import tokenize_examples
from xlingual_probe.tasks._sources import data_role, note_file
from xlingual_probe.tasks._splits import UNLABELLED_TEST, check_labelled_test
from xlingual_probe.utils.errors import UserError, not_utf8


def truncated_flags(tokenizer, enc, texts: list[str], pairs: list[str] | None, max_length: int) -> list[int]:
    """1 for each (pair of) text(s) that ``truncation=True`` cut, else 0.

    A fast tokenizer keeps what it cut in each encoding's ``overflowing``; otherwise the texts are
    encoded again without truncation and their lengths compared.
    """
    encodings = getattr(enc, "encodings", None)
    if encodings:
        return [int(bool(e.overflowing)) for e in encodings]
    full = tokenizer(texts, pairs, truncation=False)["input_ids"]
    return [int(len(ids) > max_length) for ids in full]


class SentenceClassificationTask(Task):
    """Shared encoding and scoring of (pair) classification tasks; subclasses implement ``load``."""

    head = "sequence"
    metric = "accuracy"
    text_fields = (("text", "text"), ("text_pair", "text_pair"))

    def encode(self, examples: datasets.Dataset, tokenizer, *, train: bool, max_length: int) -> datasets.Dataset:
        """Tokenise (pairs of) texts, cut to ``max_length``; evaluation features also get ``truncated``
        (1 when the text or pair did not fit, see :meth:`Task.truncated_examples`)."""
        specials = tokenizer.num_special_tokens_to_add(pair="text_pair" in examples.column_names)
        if max_length <= specials + 1:
            raise UserError(f"--max-length {max_length} leaves no room for text beside the {specials} special "
                            "tokens (the default is 128)")

        def tokenize(batch: dict[str, list]) -> dict[str, list]:
            pair = batch.get("text_pair")
            enc = tokenizer(batch["text"], pair, truncation=True, max_length=max_length)
            enc["labels"] = batch["label"]
            if not train:
                enc["truncated"] = truncated_flags(tokenizer, enc, batch["text"], pair, max_length)
            return enc

        return tokenize_examples(examples, tokenize)

    def collator(self, tokenizer):
        return DataCollatorWithPadding(tokenizer, return_tensors="pt")

    def predictions(self, outputs, batch: dict[str, Any]) -> list[int]:
        return outputs.logits.argmax(dim=-1).tolist()

    def score(self, predictions: list[int], features: datasets.Dataset, examples: datasets.Dataset,
              lang: str) -> dict[str, float]:
        labels = np.asarray(features["labels"])
        return {"accuracy": 100.0 * float(np.mean(np.asarray(predictions) == labels))}


_SPLIT_NAMES = {"train": ("train",), "dev": ("dev", "validation", "valid", "val"), "test": ("test",)}
_SUFFIXES = (".tsv", ".csv", ".jsonl")


def read_table(path: Path) -> datasets.Dataset:
    """Read a TSV/CSV (with header) or JSONL file into a Dataset; malformed files raise UserError."""
    import pandas as pd
    import pyarrow as pa

    note_file(path)
    try:
        if path.suffix == ".jsonl":
            frame = pd.read_json(path, lines=True, dtype=False)
        else:
            frame = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", dtype=str,
                                keep_default_na=False, quoting=3 if path.suffix == ".tsv" else 0)
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None
    except (ValueError, pd.errors.ParserError) as exc:  # EmptyDataError is a ValueError
        raise UserError(f"cannot read {path}: {' '.join(str(exc).split())}") from None
    names = [str(c).strip("\x00 ") for c in frame.columns]
    if not all(names) or len(set(names)) != len(names):
        raise UserError(f"{path}: the header must name every column once (got {list(map(str, frame.columns))[:5]})")
    try:
        return datasets.Dataset.from_pandas(frame, preserve_index=False)
    except (ValueError, TypeError, pa.ArrowException) as exc:  # mixed types in a JSONL column, say
        raise UserError(f"cannot read {path}: {' '.join(str(exc).split())[:200]}") from None


def find_split_files(folder: Path) -> dict[tuple[str, str], Path]:
    """Map (split, lang) to a file, from ``{split}-{lang}.ext`` or ``{lang}/{split}.ext`` names."""
    found: dict[tuple[str, str], Path] = {}
    aliases = {alias: split for split, names in _SPLIT_NAMES.items() for alias in names}
    for path in sorted(folder.rglob("*")):
        if path.suffix not in _SUFFIXES or not path.is_file():
            continue
        rel = path.relative_to(folder)
        if len(rel.parts) == 1:
            m = re.fullmatch(r"([A-Za-z]+)[-_]([A-Za-z0-9_-]+)", path.stem)
            if not m or m.group(1) not in aliases:
                continue
            split, lang = aliases[m.group(1)], m.group(2)
        elif len(rel.parts) == 2 and path.stem in aliases:
            split, lang = aliases[path.stem], rel.parts[0]
        else:
            continue
        found.setdefault((split, lang), path)
    return found


@TASKS.register("classification")
class FolderClassificationTask(SentenceClassificationTask):
    """Bring-your-own (pair) classification data from a local folder (see module docstring)."""

    name = "classification"

    def load(self, opts: DataOptions) -> TaskData:
        folder = opts.resolved_data_dir()
        if folder is None:
            raise UserError("--task classification needs --data-dir (a folder of {split}-{lang}.tsv|csv|jsonl files)")
        if not opts.text_columns or not opts.label_column:
            raise UserError("--task classification needs --text-columns (one or two) and --label-column")
        if len(opts.text_columns) > 2:
            raise UserError("--text-columns takes one or two column names")
        files = find_split_files(folder)
        if ("train", opts.source_lang) not in files:
            raise UserError(f"no training file for {opts.source_lang!r} in {folder} "
                            f"(expected train-{opts.source_lang}.tsv|csv|jsonl or {opts.source_lang}/train.tsv)")
        dev_langs = sorted(lang for split, lang in files if split == "dev")
        langs = resolve_languages(dev_langs, opts, self.name)
        train_path = files[("train", opts.source_lang)]
        with data_role("train"):
            raw_train = read_table(train_path)
        # the classes are those of the training file: an evaluation label outside them is a data error
        labels = sorted({str(x) for x in self._column(raw_train, opts.label_column)})
        if "" in labels:
            raise UserError(f"{train_path}: empty value in label column {opts.label_column!r}")
        train = self._standardise(raw_train, opts, labels, train_path)
        eval_sets = {lang: self._standardise(read_table(files[("dev", lang)]), opts, labels, files[("dev", lang)])
                     for lang in langs}
        test = load_test_sets(langs, opts, self.name, lambda lang: self._test_set(files, lang, opts, labels))
        return finish_task_data(train, eval_sets, opts, labels, test=test)

    def _test_set(self, files: dict[tuple[str, str], Path], lang: str, opts: DataOptions, labels: list[str]
                  ) -> datasets.Dataset | None:
        path = files.get(("test", lang))
        if path is None:
            return None
        raw = read_table(path)
        if opts.label_column not in raw.column_names or not all(str(x) for x in raw[opts.label_column]):
            raise UserError(f"{path}: no label column {opts.label_column!r} or an empty label: {UNLABELLED_TEST}")
        ds = self._standardise(raw, opts, labels, path)
        check_labelled_test(str(path), ds["label"])
        return ds

    @staticmethod
    def _column(ds: datasets.Dataset, name: str) -> list:
        if name not in ds.column_names:
            raise UserError(f"column {name!r} not found (columns: {', '.join(ds.column_names)})")
        return ds[name]

    def _standardise(self, ds: datasets.Dataset, opts: DataOptions, labels: list[str], path: Path
                     ) -> datasets.Dataset:
        index = {name: i for i, name in enumerate(labels)}
        columns = {"text": [str(t) for t in self._column(ds, opts.text_columns[0])]}
        if len(opts.text_columns) == 2:
            columns["text_pair"] = [str(t) for t in self._column(ds, opts.text_columns[1])]
        raw_labels = [str(x) for x in self._column(ds, opts.label_column)]
        unknown = sorted(set(raw_labels) - set(index))
        if unknown:
            raise UserError(f"{path}: label(s) {', '.join(map(repr, unknown[:5]))} not in the training file "
                            f"(labels: {', '.join(labels)})")
        columns["label"] = [index[x] for x in raw_labels]
        return datasets.Dataset.from_dict(columns)
