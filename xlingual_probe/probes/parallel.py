"""Parallel sentences for the alignment probe: the same content in every language, sampled once.

Context:
    Several evaluation sets are translations of each other: XNLI's dev and test sets are 15-way
    parallel row for row, MLQA's and XQuAD's questions keep their id across languages, the synthetic
    world realises the same meanings in every language. Such a set lets the alignment probe
    (:mod:`xlingual_probe.probes.alignment`) ask directly whether a layer still maps a sentence and
    its translation to the same place, instead of inferring it from a layer sweep.

Method (SPEC "Alignment probe", "Sample"):
    1. **Correspondence.** A task declares how its evaluation sets correspond
       (:attr:`~xlingual_probe.tasks.Task.parallel`): ``rows`` (row i of every language is the same
       content; the row is its position in the split as loaded, :attr:`~xlingual_probe.tasks.TaskData.eval_rows`)
       or ``ids`` (examples sharing an ``id`` are translations). A task without a declaration is
       refused, unless the user declares its rows parallel (``--parallel``).
    2. **Checks.** ``rows``: every language's split has the same size, and where a text repeats in
       one language (XNLI premises repeat 3×) the same rows repeat in the other — at least
       :data:`MIN_REPEAT_AGREEMENT` of the rows involved in a repeat must agree (XNLI's Urdu dev set
       has 3 rows of 2,490 where two English premises got one translation). ``ids``: every target
       shares ids with the source. A set that fails is refused with one line.
    3. **Candidates.** ``rows``: the rows present in every language's evaluation set, so the few-shot
       examples moved into training out of any language's dev set are left out of every language
       (and, with ``--eval-size``, only rows every language evaluates remain). ``ids``: the ids the
       source shares with each target (MLQA's dev sets differ in size per language, so the pairs are
       per target), less every id of the training set (few-shot examples of any language).
    4. **Sample.** Candidates are ranked by a seeded hash of their key, so a pair of languages takes
       the same examples whenever it can (XNLI: the same rows in every language). Walking that
       order, an example is skipped when its source or target text is empty or already taken
       (deduplication: XNLI's repeated premises count once), until ``size`` pairs are taken — fewer
       when the set is smaller. Pairs need at least :data:`MIN_PAIRS` examples (debiased CKA).

The embedded field (premise, hypothesis, question, context, sentence) is one of the task's
:attr:`~xlingual_probe.tasks.Task.text_fields`; the sample records which.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xlingual_probe.tasks import Task, TaskData
from xlingual_probe.utils.errors import UserError

__all__ = ["MIN_PAIRS", "MIN_REPEAT_AGREEMENT", "ParallelSample", "parallel_sample", "repeat_agreement",
           "sample_pairs"]

MIN_PAIRS = 4  # the debiased HSIC estimator needs n >= 4
MIN_REPEAT_AGREEMENT = 0.9


@dataclass(frozen=True)
class ParallelSample:
    """Parallel sentences: each language's unique sentences and, per target, the (source, target) pairs.

    Attributes:
        source_lang: the source language (first in every mapping).
        field: the embedded field's name (e.g. ``premise``) and ``column`` the raw column behind it.
        parallel: ``rows`` or ``ids`` (how the pairs were matched).
        keys: ``{lang: [key, ...]}``, the sentences' keys (row positions or ids, as strings); the
            source holds the union of its pairs' keys.
        texts: ``{lang: [text, ...]}``, aligned with ``keys``.
        pairs: ``{target: [key, ...]}``, the keys of its pairs with the source, in sample order.
    """

    source_lang: str
    field: str
    column: str
    parallel: str
    keys: dict[str, list[str]]
    texts: dict[str, list[str]]
    pairs: dict[str, list[str]]

    @property
    def langs(self) -> list[str]:
        return list(self.keys)

    @property
    def targets(self) -> list[str]:
        return list(self.pairs)

    def pair_indices(self, target: str) -> tuple[list[int], list[int]]:
        """Row indices into ``keys[source]`` and ``keys[target]`` of ``target``'s pairs (row i ↔ row i)."""
        src = {key: i for i, key in enumerate(self.keys[self.source_lang])}
        tgt = {key: i for i, key in enumerate(self.keys[target])}
        return [src[key] for key in self.pairs[target]], [tgt[key] for key in self.pairs[target]]

    def describe(self) -> dict[str, Any]:
        """What ``alignment_sample.json`` records: the field, the matching and each target's keys."""
        return {"source_lang": self.source_lang, "field": self.field, "column": self.column,
                "parallel": self.parallel, "n": {t: len(k) for t, k in self.pairs.items()}, "pairs": self.pairs}

    @classmethod
    def from_texts(cls, texts: Mapping[str, Sequence[str]], source_lang: str = "en", *, size: int = 256,
                   seed: int = 0, field: str = "text") -> ParallelSample:
        """A sample of row-parallel sentence lists (``texts[lang][i]`` are translations of each other).

        >>> sample = ParallelSample.from_texts({"en": ["a b", "c d", "e f", "g h", "a b", "i j"],
        ...                                     "de": ["A B", "C D", "E F", "G H", "A B", "I J"]})
        >>> len(sample.pairs["de"]), sample.parallel   # "a b" counts once
        (5, 'rows')
        """
        if source_lang not in texts:
            raise UserError(f"no sentences for the source language {source_lang!r}")
        sizes = {lang: len(rows) for lang, rows in texts.items()}
        if len(set(sizes.values())) > 1:
            raise UserError(f"row-parallel sentence lists must have the same length; got {sizes}")
        by_key = {lang: {str(i): str(t) for i, t in enumerate(rows)} for lang, rows in texts.items()}
        ordered = {source_lang: by_key[source_lang], **{k: v for k, v in by_key.items() if k != source_lang}}
        return _sample(ordered, source_lang, "rows", size=size, seed=seed, field=field, column=field)


def _as_text(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else ("" if value is None else str(value))


def repeat_agreement(source: Sequence[str], target: Sequence[str]) -> tuple[float | None, int]:
    """How well the repeats of two row-aligned text lists coincide.

    A row is *involved in a repeat* when its text occurs more than once in either list; it agrees
    when the rows sharing its text are the same rows in both lists.

    Returns:
        ``(share of the involved rows that agree, number of involved rows)``; ``(None, 0)`` when no
        text repeats (nothing to check).

    >>> repeat_agreement(["p", "p", "q", "q"], ["P", "P", "Q", "Q"])
    (1.0, 4)
    >>> repeat_agreement(["p", "p", "q", "r"], ["P", "Q", "R", "R"])
    (0.0, 4)
    """
    def groups(texts: Sequence[str]) -> list[frozenset[int]]:
        rows: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            rows.setdefault(text, []).append(i)
        return [frozenset(rows[text]) for text in texts]

    groups_src, groups_tgt = groups(source), groups(target)
    involved = [i for i in range(len(source)) if len(groups_src[i]) > 1 or len(groups_tgt[i]) > 1]
    if not involved:
        return None, 0
    return sum(groups_src[i] == groups_tgt[i] for i in involved) / len(involved), len(involved)


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def sample_pairs(source: Mapping[str, str], target: Mapping[str, str], candidates: Sequence[str], *, size: int,
                 seed: int) -> list[str]:
    """Up to ``size`` candidate keys in seeded-hash order, skipping empty and already-taken texts.

    >>> sample_pairs({"0": "a", "1": "a", "2": "b"}, {"0": "A", "1": "A", "2": "B"}, ["0", "1", "2"],
    ...              size=5, seed=0)
    ['2', '0']
    """
    taken_src: set[str] = set()
    taken_tgt: set[str] = set()
    chosen = []
    for key in sorted(candidates, key=lambda k: _rank(seed, k)):
        s, t = source[key].strip(), target[key].strip()
        if not s or not t or s in taken_src or t in taken_tgt:
            continue
        taken_src.add(s)
        taken_tgt.add(t)
        chosen.append(key)
        if len(chosen) == size:
            break
    return chosen


def _sample(texts: dict[str, dict[str, str]], source_lang: str, parallel: str, *, size: int, seed: int,
            field: str, column: str, exclude: frozenset[str] = frozenset(), what: str = "the sets") -> ParallelSample:
    """Check and sample ``texts`` ({lang: {key: text}}, source first); see the module docstring."""
    if size < MIN_PAIRS:
        raise UserError(f"the alignment sample needs at least {MIN_PAIRS} sentences (debiased CKA); got {size}")
    targets = [lang for lang in texts if lang != source_lang]
    if not targets:
        raise UserError("alignment needs at least one target language besides the source")
    src = texts[source_lang]
    if parallel == "rows":
        common = sorted(set.intersection(*(set(t) for t in texts.values())) - exclude, key=int)
        candidates = {lang: common for lang in targets}
        for lang in targets:
            share, involved = repeat_agreement([src[k] for k in common], [texts[lang][k] for k in common])
            if share is not None and share < MIN_REPEAT_AGREEMENT:
                raise UserError(
                    f"{what}: the {field} texts of {lang} do not repeat where those of {source_lang} do "
                    f"({share:.0%} of {involved} rows involved in a repeat agree): the rows are not translations "
                    "of each other")
    else:
        candidates = {lang: sorted((set(src) & set(texts[lang])) - exclude) for lang in targets}
        unshared = [lang for lang in targets if not candidates[lang]]
        if unshared:
            raise UserError(f"{what}: no example id of {', '.join(unshared)} is shared with {source_lang}: the "
                            "evaluation sets are not translations of each other")
    pairs = {lang: sample_pairs(src, texts[lang], candidates[lang], size=size, seed=seed) for lang in targets}
    small = {lang: len(keys) for lang, keys in pairs.items() if len(keys) < MIN_PAIRS}
    if small:
        raise UserError(f"{what}: too few distinct parallel {field} sentences for alignment (need {MIN_PAIRS}): "
                        + ", ".join(f"{lang} {n}" for lang, n in small.items()))
    source_keys = sorted({k for keys in pairs.values() for k in keys}, key=lambda k: _rank(seed, k))
    keys = {source_lang: source_keys, **pairs}
    return ParallelSample(source_lang=source_lang, field=field, column=column, parallel=parallel, keys=keys,
                          texts={lang: [texts[lang][k] for k in ks] for lang, ks in keys.items()}, pairs=pairs)


def parallel_sample(task: Task, data: TaskData, *, field: str | None = None, size: int = 256, seed: int = 0,
                    declared_parallel: bool = False) -> ParallelSample:
    """The alignment probe's parallel sample from a task's evaluation sets (see the module docstring).

    Args:
        task: the task (its ``parallel`` declaration and ``text_fields``).
        data: its loaded data; ``data.eval`` is ordered source first.
        field: which text field to embed (default: the task's first, e.g. XNLI's premise).
        size: pairs per target language at most (N).
        seed: seed of the sample (the run's data seed: every training seed sees the same sentences).
        declared_parallel: the user declares the rows of a task without a declaration parallel.

    Returns:
        The sample.

    Raises:
        UserError: a set that is not parallel (undeclared, sizes or repeats that disagree, no shared
            ids), an unknown field, or too few sentences.
    """
    parallel = task.parallel or ("rows" if declared_parallel else None)
    name = getattr(task, "name", type(task).__name__)
    if parallel is None:
        raise UserError(f"{name}: its evaluation sets are not parallel (their examples are not translations of "
                        "each other), so cross-lingual alignment cannot be measured on them; pass --parallel if "
                        "row i of every language's set is the same sentence translated")
    fields = dict(task.text_fields)
    if not fields:
        raise UserError(f"{name}: the task names no text field to embed")
    field = field or next(iter(fields))
    if field not in fields:
        raise UserError(f"{name} has no text field {field!r}; choose one of: {', '.join(fields)}")
    column = fields[field]
    source_lang = next(iter(data.eval))
    for lang, ds in data.eval.items():
        if column not in ds.column_names:
            raise UserError(f"{name}: the {lang} evaluation set has no column {column!r} (field {field})")
    exclude: frozenset[str] = frozenset()
    if parallel == "rows":
        sizes = {lang: data.split_sizes.get(lang, len(ds)) for lang, ds in data.eval.items()}
        if len(set(sizes.values())) > 1:
            raise UserError(f"{name}: the evaluation sets differ in size ("
                            + ", ".join(f"{lang} {n}" for lang, n in sizes.items())
                            + "): their rows cannot be translations of each other")
        keys = {lang: [str(r) for r in data.eval_rows.get(lang, range(len(ds)))] for lang, ds in data.eval.items()}
    else:
        keys = {lang: [str(i) for i in ds["id"]] for lang, ds in data.eval.items()}
        if "id" in data.train.column_names:  # few-shot examples (of any language) were trained on
            exclude = frozenset(map(str, data.train["id"]))
    texts = {lang: dict(zip(keys[lang], map(_as_text, ds[column]))) for lang, ds in data.eval.items()}
    return _sample(texts, source_lang, parallel, size=size, seed=seed, field=field, column=column,
                   exclude=exclude, what=name)
