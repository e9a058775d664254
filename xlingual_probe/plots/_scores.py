"""Which score a table reports: one named choice of evaluation record and split, read from ``summary.json``.

A run's ``summary.json`` holds evaluation records (``best``: the selected checkpoint, ``final``: the last
evaluation; see :mod:`xlingual_probe.runs`). Every table and bar chart of the paper reports one number per
run; :class:`ScoreSource` names where it comes from, so a table's caption can say it and a reader can ask
for another (``--score final``, ``--score test:best``).

Test records are read defensively, in the shapes a run directory may hold them: ``summary["test"][record]``,
``summary["test_" + record]`` or ``summary[record]["test"]``, each an evaluation record (``metrics``,
``source``, ``target_mean``, ``overall``, ``gap``). A run without one raises :class:`ScoreMissing`, which
the tables turn into a "skipped: ..." line rather than a wrong number.

>>> ScoreSource.parse("test:final")
ScoreSource(record='final', split='test')
>>> ScoreSource.parse("best").describe()
'the best evaluation (the selected checkpoint), dev split'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from xlingual_probe.utils.errors import UserError

RECORDS = ("best", "final")
SPLITS = ("dev", "test")
SCORES = ("source", "target_mean", "overall", "gap")


class ScoreMissing(LookupError):
    """A run has no record for the requested score source."""


@dataclass(frozen=True)
class ScoreSource:
    """Where a table's number comes from.

    Attributes:
        record: ``best`` (the checkpoint the run selected, by its ``select_by``) or ``final`` (last evaluation).
        split: ``dev`` (the evaluation sets every run scores over time) or ``test`` (labelled test sets,
            when the run scored them).
    """

    record: str = "best"
    split: str = "dev"

    def __post_init__(self) -> None:
        if self.record not in RECORDS:
            raise UserError(f"score record must be one of {', '.join(RECORDS)}, not {self.record!r}")
        if self.split not in SPLITS:
            raise UserError(f"score split must be one of {', '.join(SPLITS)}, not {self.split!r}")

    @classmethod
    def parse(cls, text: str) -> ScoreSource:
        """``best``, ``final``, ``test:best`` or ``dev:final``.

        Raises:
            UserError: any other text.
        """
        split, _, record = text.strip().rpartition(":")
        return cls(record=record, split=split or "dev")

    @property
    def name(self) -> str:
        return self.record if self.split == "dev" else f"{self.split}:{self.record}"

    def describe(self) -> str:
        """The caption's wording."""
        what = "the best evaluation (the selected checkpoint)" if self.record == "best" else "the final evaluation"
        return f"{what}, {self.split} split"

    def record_of(self, summary: dict[str, Any]) -> dict[str, Any]:
        """The evaluation record of ``summary`` (a ``summary.json``) this source names.

        Raises:
            ScoreMissing: the summary has no such record.
        """
        if self.split == "dev":
            record = summary.get(self.record)
        else:
            nested = summary.get("test")
            record = (nested.get(self.record) if isinstance(nested, dict) else None) \
                or summary.get(f"test_{self.record}") \
                or (summary.get(self.record) or {}).get("test")
        if not isinstance(record, dict) or not isinstance(record.get("metrics"), dict):
            raise ScoreMissing(f"no {self.name} record in summary.json")
        return record


def number(value: Any) -> float:
    """A score as a float; NaN for a missing or non-numeric value (no target language, ``null``)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out
