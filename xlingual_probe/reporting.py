"""Tables of means ± standard deviations over seeds, as the paper reports every number: the one
place where scores become text (``mean ± std``, signed differences, Markdown tables).

>>> import pandas as pd
>>> df = pd.DataFrame({"method": ["DF", "DF"], "overall": [74.5, 74.9]})
>>> print(mean_std_table(df, ["method"], ["overall"]).to_string(index=False))
method      overall  seeds
    DF 74.70 ± 0.28      2
"""

from __future__ import annotations

import math

import pandas as pd

from xlingual_probe.runs import REPORTED, load_runs


def format_score(value: float | None) -> str:
    """One score with two decimals, ``n/a`` when there is none (e.g. no target language); 0 stays 0.00.

    >>> format_score(0.0), format_score(None)
    ('0.00', 'n/a')
    """
    return "n/a" if value is None else f"{value:.2f}"


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_mean_std(mean: float | None, std: float | None, digits: int = 2) -> str:
    """``mean ± std``; ``n/a`` without a mean, ``± n/a`` without a std (one seed).

    >>> format_mean_std(74.7, 0.28284), format_mean_std(74.5, float("nan")), format_mean_std(None, None)
    ('74.70 ± 0.28', '74.50 ± n/a', 'n/a')
    """
    if _missing(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± " + ("n/a" if _missing(std) else f"{std:.{digits}f}")


def format_values(values: pd.Series, digits: int = 2) -> str:
    """``mean ± std`` of the values (sample std, ddof=1; ``± n/a`` for a single value; NaN dropped)."""
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return "n/a"
    return format_mean_std(values.mean(), values.std(ddof=1) if len(values) > 1 else None, digits)


def format_signed(value: float | None, digits: int = 2) -> str:
    """A difference with its sign (``+0.25``), ``n/a`` when missing.

    >>> format_signed(0.25), format_signed(-1.0), format_signed(float("nan"))
    ('+0.25', '-1.00', 'n/a')
    """
    return "n/a" if _missing(value) else f"{value:+.{digits}f}"


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table of ``frame`` (no index).

    >>> print(markdown_table(pd.DataFrame({"a": [1], "b": ["x"]})))
    | a | b |
    |---|---|
    | 1 | x |
    """
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def mean_std_table(frame: pd.DataFrame, by: list[str], columns: list[str], digits: int = 2) -> pd.DataFrame:
    """One row per group of ``by``: ``mean ± std`` of each column, plus ``seeds`` when >1 row per group."""
    rows = []
    for key, group in frame.groupby(by, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        row.update({c: format_values(group[c], digits) for c in columns})
        if len(group) > 1:
            row["seeds"] = len(group)
        rows.append(row)
    return pd.DataFrame(rows)


def summary_columns(which: str) -> str:
    """The column prefix of ``load_runs(...).summaries`` holding the scores ``which`` (see
    :data:`~xlingual_probe.runs.REPORTED`; ``best`` = ``selected``).

    >>> summary_columns("selected"), summary_columns("final-test")
    ('best_', 'final_test_')
    """
    record, part = REPORTED["selected" if which == "best" else which]
    return f"{record}_{part + '_' if part else ''}"


def protocol_caption(select_by: str, which: str = "selected", source_lang: str = "en") -> str:
    """One sentence saying which checkpoint a table reports and on which data (for every caption).

    >>> protocol_caption("source")
    "Checkpoint chosen on the en selection half (--select-by source; no target-language data), scored on each language's reporting half (held out from the choice)."
    >>> protocol_caption("overall", "final-test")
    'Last evaluation, scored on the labelled test split.'
    """
    which = "selected" if which == "best" else which
    chosen = which.startswith("selected") and select_by != "last"
    if not chosen:
        checkpoint = "Last evaluation" + (" (--select-by last)" if which.startswith("selected") else "")
    elif select_by == "source":
        checkpoint = f"Checkpoint chosen on the {source_lang} selection half (--select-by source; no target-language data)"
    else:
        checkpoint = ("Checkpoint chosen on the mean of every language's selection half (--select-by overall, the "
                      "paper's rule; uses target-language data)")
    scored = ("the labelled test split" if which.endswith("test")
              else "each language's reporting half" + (" (held out from the choice)" if chosen else ""))
    return f"{checkpoint}, scored on {scored}."


def seed_summary_table(run_dirs: list[str], which: str = "selected") -> pd.DataFrame:
    """Source, target mean, overall and gap (mean ± std over the runs) of complete runs, per method.

    ``which`` names the scores (:data:`~xlingual_probe.runs.REPORTED`): by default the selected
    checkpoint on the reporting halves, never the maximum over the data it was chosen on. A diverged
    run counts in ``seeds`` but has no score: a ``diverged`` column says how many there were (present
    only when there were any).
    """
    summaries = load_runs(run_dirs).summaries
    prefix = summary_columns(which)
    columns = [f"{prefix}{k}" for k in ("source", "target_mean", "overall", "gap")]
    table = mean_std_table(summaries, ["method"], columns)
    diverged = (summaries["status"] == "diverged").groupby(summaries["method"], sort=False).sum()
    if diverged.any():
        table["diverged"] = table["method"].map(diverged).astype(int)
    return table.rename(columns={c: c.removeprefix(prefix) for c in columns})
