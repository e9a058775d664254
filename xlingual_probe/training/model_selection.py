"""Model selection that does not peek: which evaluation is a run's selected checkpoint, and what it reports.

Context:
    Taking the best of many evaluations on the same data it is then reported on adds the maximum of the
    evaluation noise to the number (on the synthetic sweep the mean best − final difference was 0.6–0.9
    points for freeze / re-initialise runs, as large as the paper's effects), and choosing it on
    target-language data is not zero-shot transfer (Schmidt et al., ACL 2023; XTREME selects on English
    dev). SPEC "Statistics and protocol", *Reported checkpoint*.

Method:
    Every evaluation scores each language's validation set in two fixed halves
    (:mod:`xlingual_probe.tasks._splits`). The run's checkpoint is chosen by ``select_by``:

    ========= ======================================================= =====================
    select_by chosen on                                               target-language data
    ========= ======================================================= =====================
    source    the source language's selection half (XTREME's rule)    no (default)
    overall   the mean over every language's selection half (paper)   yes (flagged)
    last      the last evaluation                                     no
    ========= ======================================================= =====================

    Ties go to the later evaluation. The numbers a table reports come from the *reporting* half of
    every language (the record's top-level ``metrics``, ``source``, ``target_mean``, ``overall``,
    ``gap``), or from the labelled test split scored at the selected checkpoint and at the end
    (``test``); the selection half's numbers stay in the record under ``selection_half``.

>>> a = {"step": 1, "selection_half": {"source": 80.0, "overall": 70.0}}
>>> b = {"step": 2, "selection_half": {"source": 80.0, "overall": 60.0}}
>>> replaces_selected(b, a, "source"), replaces_selected(b, a, "overall"), replaces_selected(b, a, "last")
(True, False, True)
"""

from __future__ import annotations

from typing import Any

SELECT_BY = ("source", "overall", "last")
"""The model-selection rules (``TrainConfig.select_by``); the first is the default."""

SUMMARY_KEYS = ("metrics", "source", "target_mean", "overall", "gap", "details")
"""The keys of one scored split in an evaluation record (see :func:`evaluation_record`)."""


def selection_score(record: dict[str, Any], select_by: str) -> float | None:
    """The number ``select_by`` maximises for ``record`` (``None`` for ``last``: only the order counts)."""
    if select_by == "last":
        return None
    return record["selection_half"][select_by]


def replaces_selected(record: dict[str, Any], selected: dict[str, Any] | None, select_by: str) -> bool:
    """Whether ``record`` (a later evaluation) becomes the selected one: higher or equal score (ties go
    to the later evaluation), and always for ``last``."""
    if selected is None or select_by == "last":
        return True
    return selection_score(record, select_by) >= selection_score(selected, select_by)


def split_scores(result: dict[str, Any]) -> dict[str, Any]:
    """The :data:`SUMMARY_KEYS` of an :func:`~xlingual_probe.training.evaluation.evaluate` result."""
    return {key: result[key] for key in SUMMARY_KEYS}


def evaluation_record(step: int, loss: float | None, reporting: dict[str, Any], selection: dict[str, Any]
                      ) -> dict[str, Any]:
    """One ``metrics.jsonl`` record: the reporting half at the top level, the selection half nested.

    Args:
        step: the update.
        loss: mean training loss since the previous evaluation.
        reporting: :func:`~xlingual_probe.training.evaluation.evaluate` on the reporting halves.
        selection: the same on the selection halves.
    """
    return {"step": step, "loss": loss, **split_scores(reporting), "selection_half": split_scores(selection),
            "eval_seconds": reporting["eval_seconds"] + selection["eval_seconds"]}


def protocol_record(select_by: str, source_lang: str, test_langs: list[str], test_note: str | None = None
                    ) -> dict[str, Any]:
    """How the run chooses and reports its checkpoint (``protocol`` in ``config.json`` and ``summary.json``).

    ``test_note`` says why no test split is scored although the task may have one (a refused file).

    >>> protocol_record("overall", "en", [])["uses_target_data"]
    True
    """
    chosen_on = {"source": f"selection half of {source_lang}",
                 "overall": "mean over the selection halves of all languages",
                 "last": "last evaluation"}[select_by]
    return {"select_by": select_by, "selected_on": chosen_on, "uses_target_data": select_by == "overall",
            "ties": "later evaluation", "reported_on": "reporting half of every language",
            "test": {"languages": test_langs,
                     "scored": "at each newly selected checkpoint and at the end" if test_langs
                     else (test_note or "no test split")}}
