"""Which evaluation rows choose the checkpoint and which report it: row ids, held-out halves, id-based
subsamples and few-shot draws.

Context:
    Choosing a checkpoint on the data it is then scored on reports the maximum of noisy numbers, and
    choosing it on target-language data is not zero-shot (SPEC "Statistics and protocol"; Schmidt et
    al., ACL 2023). So every language's validation set is split once into a *selection half* (the
    checkpoint is chosen there) and a *reporting half* (every number of a table comes from there, or
    from a labelled test split). The split must be the same in every language of a parallel set (or a
    translation would sit in the other half), must never cut a unit that shares text (XNLI repeats each
    premise with three hypotheses), and must not move when the set is subsampled or reordered.

Method:
    Every evaluation row has an *example id* and a *unit* (the id that decides its half), given by the
    task (:data:`KeyFunction`):

    ============================== ================================== ==================================
    task                           example id                         unit
    ============================== ================================== ==================================
    XNLI (files and hub, parallel) row number                         premise group (:func:`premise_group_keys`)
    MLQA, XQuAD, TyDiQA, SQuAD     the question ``id`` (MLQA and      the question id
                                   XQuAD share it across languages)
    synthetic tasks (parallel)     row number                         row number
    PAN-X, bring-your-own          row number in that language's      row number
    classification                 file (not parallel)
    ============================== ================================== ==================================

    A unit's half is fixed by a seeded hash: ``u = sha256(f"halves:{seed}:{unit}")`` read as a number in
    [0, 1), selection half when ``u < 1/2`` (:func:`half_of`). It depends on nothing but the unit and
    the seed, so the same ids land in the same halves whatever the subsample, the order, the language
    or the training seed. A subsample of ``size`` rows (``--eval-size``, ``--test-size``) keeps the rows
    with the smallest ``sha256(f"subsample:{seed}:{id}")`` in file order (:func:`hash_order`): the same
    ids in every parallel language, and a smaller subsample is part of a larger one. Few-shot shots are
    drawn per training seed and per target language, the ``M`` rows with the smallest
    ``sha256(f"few-shot:{lang}:{training seed}:{id}")``; every row of their units leaves that
    language's evaluation set (both halves), so no premise is both trained on and evaluated.

>>> half_of("premise-0", seed=0) in HALVES
True
>>> keys = row_number_keys({"en": [{"x": 1}, {"x": 2}]}, "en")["en"]
>>> keys.ids, keys.units
(['0', '1'], ['0', '1'])
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xlingual_probe.utils.errors import UserError

HALVES = ("selection", "reporting")
"""The two halves of every evaluation set: the checkpoint is chosen on the first, reported on the second."""

HALVES_RULE = "sha256(f'halves:{seed}:{unit}') read as a number in [0, 1): selection half below 1/2"
FEW_SHOT_RULE = ("per target language, the M ids with the smallest sha256(f'few-shot:{lang}:{seed}:{id}'); "
                 "every row of their units left that language's evaluation set")
"""The rules as recorded in ``eval_split.json`` and ``few_shot.json``."""

UNLABELLED_TEST = ("test labels are missing or constant (XTREME ships its test files with the labels stripped), "
                   "so they cannot be scored: use labelled test data or --no-score-test")
"""The end of the one-line refusal of an unlabelled test split."""


@dataclass(frozen=True)
class RowKeys:
    """The example id and the unit of every row of one evaluation set (same order as its rows)."""

    ids: list[str]
    units: list[str]
    id_name: str = "row number"  # what an id is, for the record ("row number", "question id")
    unit_name: str = "example"  # what a unit is ("example", "premise group")


KeyFunction = Callable[[Mapping[str, Sequence[Any]], str], dict[str, RowKeys]]
"""``keys(sets, source_lang)``: the :class:`RowKeys` of every language's evaluation set."""


def row_number_keys(sets: Mapping[str, Sequence[Any]], source_lang: str) -> dict[str, RowKeys]:
    """Example id = unit = the row number (as text): parallel sets line up by row, others keep their own."""
    return {lang: RowKeys([str(i) for i in range(len(rows))], [str(i) for i in range(len(rows))])
            for lang, rows in sets.items()}


def column_keys(column: str) -> KeyFunction:
    """Example id = unit = the value of ``column`` (e.g. the QA question ``id``)."""
    def keys(sets: Mapping[str, Any], source_lang: str) -> dict[str, RowKeys]:
        out = {}
        for lang, rows in sets.items():
            ids = [str(i) for i in rows[column]]
            out[lang] = RowKeys(ids, ids, f"{column} column")
        return out

    return keys


def premise_group_keys(sets: Mapping[str, Any], source_lang: str, column: str = "text") -> dict[str, RowKeys]:
    """XNLI: example id = row number, unit = premise group (rows whose premise is the same text).

    XNLI is 15-way parallel row for row, so the groups are read from the source language's premises
    and carried to every language with as many rows; a set of another length (not parallel) is grouped
    by its own premises. A group is named after its first row: ``premise-<row>``.

    >>> sets = {"en": {"text": ["a", "a", "b", "a"]}, "de": {"text": ["x", "y", "z", "w"]}}
    >>> premise_group_keys(sets, "en")["de"].units
    ['premise-0', 'premise-0', 'premise-2', 'premise-0']
    """
    def groups(premises: Sequence[str]) -> list[str]:
        first: dict[str, int] = {}
        return [f"premise-{first.setdefault(p, i)}" for i, p in enumerate(premises)]

    source = groups(list(sets[source_lang][column])) if source_lang in sets else None
    out = {}
    for lang, rows in sets.items():
        premises = list(rows[column])
        units = source if source is not None and len(source) == len(premises) else groups(premises)
        out[lang] = RowKeys([str(i) for i in range(len(premises))], list(units), unit_name="premise group")
    return out


def unit_hash(salt: str, seed: int, key: str) -> float:
    """``sha256(f"{salt}:{seed}:{key}")`` read as a number in [0, 1) (its first 8 bytes, big-endian).

    >>> round(unit_hash("halves", 0, "premise-0"), 6) == round(unit_hash("halves", 0, "premise-0"), 6)
    True
    """
    digest = hashlib.sha256(f"{salt}:{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def half_of(unit: str, seed: int) -> str:
    """The half of ``unit``: ``selection`` when its hash is below 1/2, else ``reporting``."""
    return HALVES[0] if unit_hash("halves", seed, unit) < 0.5 else HALVES[1]


def hash_order(ids: Sequence[str], salt: str, seed: int) -> list[int]:
    """Positions of ``ids`` ordered by their seeded hash (ties, which need equal ids, by position)."""
    return sorted(range(len(ids)), key=lambda i: (unit_hash(salt, seed, ids[i]), i))


def subsample_rows(ids: Sequence[str], rows: Sequence[int], size: int | None, seed: int) -> list[int]:
    """The ``size`` rows (positions into ``ids``) of ``rows`` with the smallest subsample hash, in file order.

    Args:
        ids: the example id of every row of the set.
        rows: the candidate rows (e.g. what is left after the few-shot draw).
        size: how many to keep; ``None`` (or more than there are) keeps all.
        seed: the data seed.

    Raises:
        UserError: ``size`` is not positive.
    """
    if size is None or size >= len(rows):
        return list(rows)
    if size <= 0:
        raise UserError(f"sizes must be positive, got {size}")
    ranked = hash_order([ids[r] for r in rows], "subsample", seed)[:size]
    return sorted(rows[i] for i in ranked)


def draw_few_shot(keys: RowKeys, lang: str, m: int, seed: int) -> tuple[list[int], list[int]]:
    """Draw ``m`` shots of one target language and take their units out of its evaluation set.

    Args:
        keys: the language's row keys.
        lang: the language (part of the hash, so each language gets its own draw).
        m: shots per language.
        seed: the training seed (the paper and fsxlt draw the shots anew for every seed).

    Returns:
        The shot rows (drawn order) and the rows left for evaluation (file order).

    Raises:
        UserError: the draw would leave no evaluation data.
    """
    shots = hash_order(keys.ids, f"few-shot:{lang}", seed)[:m]
    taken = {keys.units[r] for r in shots}
    left = [r for r in range(len(keys.ids)) if keys.units[r] not in taken]
    if m >= len(keys.ids) or not left:
        raise UserError(f"--few-shot {m} leaves no evaluation data for {lang} ({len(keys.ids)} examples)")
    return shots, left


def check_labelled_test(where: str, labels: Sequence[Any]) -> None:
    """Refuse a test split whose labels are constant (what a stripped file filled with a placeholder gives).

    Raises:
        UserError: fewer than two distinct labels (one line naming ``where``).

    >>> check_labelled_test("test-de.tsv", [0, 1, 0])
    >>> check_labelled_test("test-de.tsv", [2, 2, 2])
    Traceback (most recent call last):
    ...
    xlingual_probe.utils.errors.UserError: test-de.tsv: every test label is 2: test labels are missing or constant (XTREME ships its test files with the labels stripped), so they cannot be scored: use labelled test data or --no-score-test
    """
    distinct = set(labels)
    if len(distinct) < 2:
        what = f"every test label is {next(iter(distinct))!r}" if distinct else "no test labels"
        raise UserError(f"{where}: {what}: {UNLABELLED_TEST}")
