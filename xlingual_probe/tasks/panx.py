"""Token classification (NER) and PAN-X / WikiANN, scored by entity-level F1 as XTREME does.

Raw examples have two columns: ``tokens`` (the words of a sentence) and ``ner_tags`` (one class id per
word, an index into :attr:`TaskData.labels`). :class:`TokenClassificationTask` holds everything but
loading, so another NER set only implements :meth:`~TokenClassificationTask.load`.

Encoding follows XTREME: words are tokenised with ``is_split_into_words=True``, only the first
sub-token of each word carries the word's label and every other position gets ``-100`` (ignored by
the loss and by scoring; ``run_tag.py``). A sentence longer than ``max_length`` is split at word
boundaries into several features, as XTREME's ``utils_preprocess.py`` (``panx_tokenize_preprocess``)
splits its files before training and evaluation: words are taken greedily while their sub-tokens fit
``max_length`` minus the special tokens, and a word that would overflow starts the next feature. A word
the tokenizer maps to no token (e.g. a lone zero-width space) or to more sub-tokens than a whole
feature holds is replaced by the unknown token, as XTREME does, so every word has a labelled position.
Scoring merges the features' predictions back per word and scores every gold word of every sentence:
unlike XTREME, which scores its split files as separate sentences, an entity that straddles a split
is scored once, as the entity it is. Should a word still end up without a labelled position (a
tokenizer that counts a word's sub-tokens differently inside a feature than alone), it is scored as
predicted ``O`` — a miss, never a dropped gold entity — and counted in the feature's ``truncated``
column. Scoring is seqeval's ``f1_score`` in its default (conlleval) mode over the IOB2 tag strings of
every sentence of a language, with precision and recall, on 0–100.

PAN-X sources:
    * Hugging Face hub: ``google/xtreme``, configs ``PAN-X.{lang}`` (train split of the source language,
      validation split of every evaluated language); ``--task wikiann`` reads ``unimelb-nlp/wikiann``
      (configs ``{lang}``) the same way.
    * Local XTREME files in a folder (or its ``panx/`` sub-folder): ``train-{source}.tsv`` and
      ``dev-{lang}.tsv``, one ``token<TAB>tag`` per line and a blank line between sentences. The
      languages on offer are those with a dev file. XTREME's raw files prefix every token with its
      language (``en:Paris``); a file whose tokens all carry the ``{lang}:`` prefix has it removed.

Test split (reporting only): the hub's ``test`` split, or local ``test-{lang}.tsv`` files in the dev
format. XTREME ships its PAN-X test files with the tags stripped: a test file with a line without a
tag, or whose tags are all the same, is refused. PAN-X is not parallel across languages: each
sentence's id is its number in its own file, and the held-out halves split by it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import datasets
from transformers import DataCollatorForTokenClassification

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
from xlingual_probe.tasks._sources import data_role, note_file, note_hub
from xlingual_probe.tasks._splits import UNLABELLED_TEST, check_labelled_test
from xlingual_probe.utils.errors import UserError, not_utf8

IGNORE_INDEX = -100  # label of positions the loss and the metric skip (PyTorch's CrossEntropyLoss default)

PANX_LANGUAGES = (
    "en", "af", "ar", "bg", "bn", "de", "el", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu", "id", "it",
    "ja", "jv", "ka", "kk", "ko", "ml", "mr", "ms", "my", "nl", "pt", "ru", "sw", "ta", "te", "th", "tl", "tr",
    "ur", "vi", "yo", "zh",
)  # the 40 PAN-X languages of XTREME
PANX_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]  # the hub's ClassLabel order
_TAG = re.compile(r"O|[BIES]-.+")  # the tags seqeval's default mode reads: O, or a prefix, a dash and a type


def check_iob2_tags(names: Sequence[str], where: str) -> None:
    """Raise :class:`UserError` unless every name is an IOB2 tag (``O``, ``B-X``, ``I-X``; IOBES ``E-``/``S-`` too).

    seqeval reads the first character of a tag as its prefix, so a label vocabulary such as
    ``LABEL_0 … LABEL_6`` (a model built without ``id2label``) would be scored as entities of the
    type ``ABEL_0`` with the prefix ``L``: wrong numbers, no warning.

    >>> check_iob2_tags(["O", "B-PER", "I-PER"], "the model")
    >>> check_iob2_tags(["LABEL_0", "LABEL_1"], "the model")
    Traceback (most recent call last):
    ...
    xlingual_probe.utils.errors.UserError: the model's label names (LABEL_0, LABEL_1) are not IOB2 tags (O, B-TYPE, I-TYPE): seqeval would score them as nonsense entities; give the model its tag names (config.id2label, e.g. PANX_LABELS) or the data a ClassLabel feature
    """
    bad = [name for name in names if not isinstance(name, str) or not _TAG.fullmatch(name)]
    if bad:
        shown = ", ".join(map(str, bad[:4])) + (", ..." if len(bad) > 4 else "")
        raise UserError(f"{where}'s label names ({shown}) are not IOB2 tags (O, B-TYPE, I-TYPE): seqeval would "
                        "score them as nonsense entities; give the model its tag names (config.id2label, e.g. "
                        "PANX_LABELS) or the data a ClassLabel feature")


def token_features(labels: list[str]) -> datasets.Features:
    """The raw schema of token classification examples: ``tokens`` and ``ner_tags`` (ids into ``labels``)."""
    return datasets.Features({
        "tokens": datasets.List(datasets.Value("string")),
        "ner_tags": datasets.List(datasets.ClassLabel(names=list(labels))),
    })


def first_subtoken_labels(word_ids: list[int | None], tags: list[int]) -> tuple[list[int], list[int]]:
    """Labels of one feature: the word's tag on its first sub-token, ``-100`` elsewhere.

    Args:
        word_ids: the word index of every token position (``None`` for special tokens), as given by a
            fast tokenizer's ``word_ids()``.
        tags: the tag id of every word of the sentence.

    Returns:
        The label of every position, and the index of the word behind each labelled position (words
        cut by truncation or mapped to no token do not appear).

    >>> first_subtoken_labels([None, 0, 1, 1, 2, None], [3, 0, 5])
    ([-100, 3, 0, -100, 5, -100], [0, 1, 2])
    """
    labels, kept, previous = [], [], None
    for word in word_ids:
        if word is None or word == previous:
            labels.append(IGNORE_INDEX)
        else:
            labels.append(tags[word])
            kept.append(word)
        previous = word
    return labels, kept


def word_token_counts(tokenizer, sentences: list[list[str]]) -> list[list[int]]:
    """Sub-tokens of every word of every sentence, as the tokenizer splits them inside the sentence."""
    enc = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
    counts = []
    for i, words in enumerate(sentences):
        n = [0] * len(words)
        for word in enc.word_ids(i):
            if word is not None:
                n[word] += 1
        counts.append(n)
    return counts


def split_at_word_boundaries(counts: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """``(start, end)`` word ranges whose sub-tokens fit ``budget``, taken greedily (XTREME's split).

    Args:
        counts: sub-tokens of each word (each at least 1 and at most ``budget``).
        budget: sub-tokens per feature (``max_length`` minus the special tokens).

    >>> split_at_word_boundaries([1] * 150, 126)
    [(0, 126), (126, 150)]
    >>> split_at_word_boundaries([2, 3, 1, 4], 5)
    [(0, 2), (2, 4)]
    """
    ranges, start, used = [], 0, 0
    for i, n in enumerate(counts):
        if used + n > budget and i > start:
            ranges.append((start, i))
            start, used = i, 0
        used += n
    if start < len(counts) or not ranges:
        ranges.append((start, len(counts)))
    return ranges


class TokenClassificationTask(Task):
    """Shared encoding, batching and seqeval scoring of NER tasks; subclasses implement ``load``.

    ``load`` must return examples with the columns ``tokens`` (``list[str]``) and ``ner_tags``
    (``list[int]``) and ``TaskData.labels`` naming the IOB2 tags. :meth:`score` reads the tag names
    from the ``ClassLabel`` of ``ner_tags`` when it has one (see :func:`token_features`), else from
    the class attribute :attr:`labels` (PAN-X's tags unless a subclass sets others).
    """

    head = "token"
    metric = "f1"
    text_fields = (("sentence", "tokens"),)
    labels: ClassVar[list[str]] = PANX_LABELS  # tag names when the ner_tags feature does not carry them

    def label_names(self, examples: datasets.Dataset) -> list[str]:
        """The IOB2 tag names behind the ids of ``examples["ner_tags"]``."""
        inner = getattr(examples.features.get("ner_tags"), "feature", None)
        if isinstance(inner, datasets.ClassLabel):
            return list(inner.names)
        return list(self.labels)

    def encode(self, examples: datasets.Dataset, tokenizer, *, train: bool, max_length: int) -> datasets.Dataset:
        """Tokenise word lists, one feature per word-boundary chunk of a sentence (see the module).

        Evaluation features also keep ``example_id`` (the sentence), ``word_index`` (for each labelled
        position in order, the index of its word in the sentence) and ``truncated`` (words of the
        chunk left without a labelled position; 0 unless the tokenizer is inconsistent).

        Raises:
            UserError: a slow tokenizer, or a ``max_length`` with no room beside the special tokens.
        """
        if not getattr(tokenizer, "is_fast", False):
            raise UserError("token classification needs a fast tokenizer (one backed by `tokenizers`) "
                            "to align words with sub-tokens")
        budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
        if budget < 1:
            raise UserError(f"--max-length {max_length} leaves no room for words beside the special tokens")
        unk = tokenizer.unk_token

        def tokenize(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
            chunks: list[tuple[int, int, list[str], list[int]]] = []  # (sentence, first word, words, tags)
            for i, (words, tags, counts) in enumerate(zip(batch["tokens"], batch["ner_tags"],
                                                          word_token_counts(tokenizer, batch["tokens"]))):
                # XTREME: a word with no sub-token, or too many for one feature, becomes the unknown token
                fits = [0 < n <= budget or unk is None for n in counts]
                words = [w if ok else unk for w, ok in zip(words, fits)]
                counts = [n if ok else 1 for n, ok in zip(counts, fits)]
                chunks += [(i, a, words[a:b], tags[a:b]) for a, b in split_at_word_boundaries(counts, budget)]
            enc = tokenizer([words for _, _, words, _ in chunks], is_split_into_words=True, truncation=True,
                            max_length=max_length)
            aligned = [first_subtoken_labels(enc.word_ids(j), tags) for j, (*_, tags) in enumerate(chunks)]
            enc["labels"] = [labels for labels, _ in aligned]
            if not train:
                enc["example_id"] = [indices[i] for i, *_ in chunks]
                enc["word_index"] = [[first + w for w in kept] for (_, first, _, _), (_, kept) in zip(chunks, aligned)]
                enc["truncated"] = [len(tags) - len(kept) for (*_, tags), (_, kept) in zip(chunks, aligned)]
            return enc

        return tokenize_examples(examples, tokenize, with_indices=True)

    def model_columns(self, train: bool) -> list[str]:
        """Model inputs and ``labels``; ``example_id`` / ``word_index`` stay with the features for scoring."""
        return ["input_ids", "attention_mask", "token_type_ids", "labels"]

    def collator(self, tokenizer):
        return DataCollatorForTokenClassification(tokenizer, label_pad_token_id=IGNORE_INDEX, return_tensors="pt")

    def predictions(self, outputs, batch: dict[str, Any]) -> list[list[int]]:
        """Per feature, the argmax tag id at every labelled position (``labels != -100``), in order.

        ``outputs.logits`` is ``[batch, seq, num_labels]`` and ``batch["labels"]`` ``[batch, seq]``.
        """
        predicted = outputs.logits.argmax(dim=-1).tolist()
        gold = batch["labels"].tolist()
        return [[p for p, g in zip(row_p, row_g) if g != IGNORE_INDEX] for row_p, row_g in zip(predicted, gold)]

    def score(self, predictions: list[list[int]], features: datasets.Dataset, examples: datasets.Dataset,
              lang: str) -> dict[str, float]:
        """Entity-level F1, precision and recall (seqeval default mode, 0–100) over every gold word.

        The predictions of a sentence's features (in the order of :meth:`predictions`, one per
        labelled position) are merged back per word through ``example_id`` and ``word_index``; the
        gold tags are the examples' own ``ner_tags``, so no gold entity can be lost to encoding. A word
        without a prediction counts as predicted ``O``.

        Raises:
            UserError: the tag names are not IOB2 tags.
            ValueError: predictions that do not match the features' labelled positions.
        """
        from seqeval.metrics import f1_score, precision_score, recall_score

        names = self.label_names(examples)
        check_iob2_tags(names, f"{lang}: the data")
        if len(predictions) != len(features):
            raise ValueError(f"{lang}: {len(predictions)} predictions for {len(features)} features")
        predicted: dict[int, dict[int, int]] = defaultdict(dict)
        for i, (pred, example, words) in enumerate(zip(predictions, features["example_id"], features["word_index"])):
            if len(pred) != len(words):
                raise ValueError(f"{lang}: feature {i} has {len(words)} labelled positions but {len(pred)} predictions")
            predicted[example].update(zip(words, pred))
        y_true = [[names[t] for t in tags] for tags in examples["ner_tags"]]
        y_pred = [[names[predicted[i][w]] if w in predicted[i] else "O" for w in range(len(tags))]
                  for i, tags in enumerate(y_true)]
        # zero_division=0 is what seqeval's "warn" returns, without the warning (e.g. no entity predicted)
        return {
            "f1": 100.0 * float(f1_score(y_true, y_pred, zero_division=0)),
            "precision": 100.0 * float(precision_score(y_true, y_pred, zero_division=0)),
            "recall": 100.0 * float(recall_score(y_true, y_pred, zero_division=0)),
        }


def read_conll(path: Path, labels: list[str], lang: str | None = None, test: bool = False) -> datasets.Dataset:
    """Read a ``token<TAB>tag`` file (blank line between sentences) into ``tokens``/``ner_tags``.

    A file whose every token starts with ``{lang}:`` (XTREME's raw PAN-X files) has the prefix removed.
    A ``test`` file must carry its tags: one without them, or with one tag throughout, is refused.

    Raises:
        UserError: on a line without a tab, an unknown tag, an unreadable or empty file, or an
            unlabelled test file.
    """
    index = {name: i for i, name in enumerate(labels)}
    sentences: list[tuple[list[str], list[int]]] = []
    tokens: list[str] = []
    tags: list[int] = []
    note_file(path)
    try:
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    if tokens:
                        sentences.append((tokens, tags))
                        tokens, tags = [], []
                    continue
                parts = line.split("\t")
                if test and (len(parts) < 2 or not parts[-1].strip()):
                    raise UserError(f"{path}:{line_no}: no tag: {UNLABELLED_TEST}")
                if len(parts) < 2:
                    raise UserError(f"{path}:{line_no}: expected token<TAB>tag, got {line[:60]!r}")
                tag = parts[-1].strip()
                if tag not in index:
                    raise UserError(f"{path}:{line_no}: unknown tag {tag!r} (expected one of {', '.join(labels)})")
                tokens.append(parts[0])
                tags.append(index[tag])
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None
    if tokens:
        sentences.append((tokens, tags))
    if not sentences:
        raise UserError(f"{path} holds no sentences")
    if test:
        check_labelled_test(str(path), [tag for _, ids in sentences for tag in ids])
    prefix = f"{lang}:" if lang else None
    if prefix and all(t.startswith(prefix) for words, _ in sentences for t in words):
        sentences = [([t[len(prefix):] for t in words], ids) for words, ids in sentences]
    return datasets.Dataset.from_dict(
        {"tokens": [words for words, _ in sentences], "ner_tags": [ids for _, ids in sentences]},
        features=token_features(labels))


@TASKS.register("panx")
class PanXTask(TokenClassificationTask):
    """PAN-X (WikiANN) NER in XTREME's 40 languages, from the hub or local XTREME files."""

    name = "panx"
    languages = PANX_LANGUAGES
    labels = PANX_LABELS
    hub_path: ClassVar[str] = "google/xtreme"
    hub_config: ClassVar[str] = "PAN-X.{lang}"
    folder_names: ClassVar[tuple[str, ...]] = ("panx",)  # sub-folders of --data-dir tried first

    def load(self, opts: DataOptions) -> TaskData:
        root = opts.resolved_data_dir()
        if root is None:
            return self._load_hub(opts)
        folder = next((root / n for n in self.folder_names if (root / n).is_dir()), root)
        available = sorted(m.group(1) for p in folder.glob("dev-*.tsv")
                           if (m := re.fullmatch(r"dev-(.+)\.tsv", p.name)))
        if not available:
            raise UserError(f"no {self.name} dev files (dev-{{lang}}.tsv) in {folder}")
        langs = resolve_languages(available, opts, self.name)
        with data_role("train"):
            train = read_conll(self._train_file(folder, opts), self.labels, opts.source_lang)
        eval_sets = {lang: read_conll(folder / f"dev-{lang}.tsv", self.labels, lang) for lang in langs}

        def local_test(lang: str) -> datasets.Dataset | None:
            path = folder / f"test-{lang}.tsv"
            return read_conll(path, self.labels, lang, test=True) if path.is_file() else None

        test = load_test_sets(langs, opts, self.name, local_test)
        return finish_task_data(train, eval_sets, opts, list(self.labels), test=test)

    def _train_file(self, folder: Path, opts: DataOptions) -> Path:
        if opts.train_file:
            given = Path(opts.train_file).expanduser()
            for path in (given, folder / given):
                if path.is_file():
                    return path
            raise UserError(f"training file not found: {opts.train_file}")
        path = folder / f"train-{opts.source_lang}.tsv"
        if not path.is_file():
            raise UserError(f"no {self.name} training file in {folder} (expected train-{opts.source_lang}.tsv)")
        return path

    def _load_hub(self, opts: DataOptions) -> TaskData:
        langs = resolve_languages(self.languages, opts, self.name)

        def load_split(lang: str, split: str) -> datasets.Dataset:
            config = self.hub_config.format(lang=lang)
            try:
                ds = datasets.load_dataset(self.hub_path, config, split=split)
            except Exception as exc:  # noqa: BLE001  (network, missing config, auth: all end the run alike)
                raise UserError(f"cannot load {self.hub_path} ({config}, {split}) from the Hugging Face hub: "
                                f"{type(exc).__name__} (or pass --data-dir with local files)") from None
            note_hub(self.hub_path, config, split, ds)
            names = getattr(ds.features["ner_tags"], "feature", None)
            if getattr(names, "names", None) != self.labels:
                raise UserError(f"{self.hub_path} ({lang}): unexpected tag set {names}; expected {self.labels}")
            return ds.select_columns(["tokens", "ner_tags"]).cast(token_features(self.labels))

        def hub_test(lang: str) -> datasets.Dataset:
            ds = load_split(lang, "test")
            check_labelled_test(f"{self.hub_path} ({lang}, test)", [t for tags in ds["ner_tags"] for t in tags])
            return ds

        with data_role("train"):
            train = load_split(opts.source_lang, "train")
        eval_sets = {lang: load_split(lang, "validation") for lang in langs}
        test = load_test_sets(langs, opts, self.name, hub_test)
        return finish_task_data(train, eval_sets, opts, list(self.labels), test=test)


@TASKS.register("wikiann")
class WikiANNTask(PanXTask):
    """PAN-X read from ``unimelb-nlp/wikiann`` (same data, tags and languages; local files as PAN-X)."""

    name = "wikiann"
    hub_path = "unimelb-nlp/wikiann"
    hub_config = "{lang}"
    folder_names = ("wikiann", "panx")
