"""Tables of means ± standard deviations over seeds, as the paper reports every number.

>>> import pandas as pd
>>> df = pd.DataFrame({"method": ["DF", "DF"], "overall": [74.5, 74.9]})
>>> print(mean_std_table(df, ["method"], ["overall"]).to_string(index=False))
method      overall  seeds
    DF 74.70 ± 0.28      2
"""

from __future__ import annotations

import pandas as pd

from xlingual_probe.runs import load_runs


def format_score(value: float | None) -> str:
    """One score with two decimals, ``n/a`` when there is none (e.g. no target language); 0 stays 0.00.

    >>> format_score(0.0), format_score(None)
    ('0.00', 'n/a')
    """
    return "n/a" if value is None else f"{value:.2f}"


def format_mean_std(values: pd.Series, digits: int = 2) -> str:
    """``mean ± std`` (sample std, ddof=1; ``± n/a`` for a single value)."""
    values = values.dropna()
    if values.empty:
        return "n/a"
    if len(values) == 1:
        return f"{values.iloc[0]:.{digits}f} ± n/a"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def mean_std_table(frame: pd.DataFrame, by: list[str], columns: list[str], digits: int = 2) -> pd.DataFrame:
    """One row per group of ``by``: ``mean ± std`` of each column, plus ``seeds`` when >1 row per group."""
    rows = []
    for key, group in frame.groupby(by, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        row.update({c: format_mean_std(group[c], digits) for c in columns})
        if len(group) > 1:
            row["seeds"] = len(group)
        rows.append(row)
    return pd.DataFrame(rows)


def seed_summary_table(run_dirs: list[str], which: str = "best") -> pd.DataFrame:
    """Source, target mean, overall and gap (mean ± std over the runs) of finished runs, per method."""
    summaries = load_runs(run_dirs).summaries
    columns = [f"{which}_{k}" for k in ("source", "target_mean", "overall", "gap")]
    table = mean_std_table(summaries, ["method"], columns)
    return table.rename(columns={c: c.removeprefix(f"{which}_") for c in columns})
