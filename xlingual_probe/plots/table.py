"""A paper table: per-seed scores in cells, ``mean ± std``, a tested bold, and CSV / Markdown / LaTeX / HTML.

Context:
    Papers bold the best number of a column as if it were better. With four seeds and differences of a few
    tenths of a point that is often noise. Here a cell keeps its per-seed values, and the best of a column
    is bold only when it beats the runner-up in a paired test (pairs by seed) that survives a Holm
    correction over all the table's such tests (:mod:`xlingual_probe.plots._paired`). The CSV keeps every
    cell's seeds and values and every test, so a reader can redo it.

Layout:
    Rows are the things compared (methods, sweep experiments, hyper-parameter values); columns are the
    conditions (dataset, few-shot M, language). ``row_groups`` limits the bold contest to rows that compete
    (Table 5 compares values of one hyper-parameter at a time). ``column_groups`` gives a second header
    line (``XNLI`` over ``M = 0, 5, 10``); column keys stay unique (``XNLI M = 0``) and the second line
    shows each key without its group prefix.

LaTeX uses ``booktabs`` (``\\toprule``, ``\\midrule``, ``\\bottomrule``, ``\\cmidrule``); every text is
escaped (:func:`latex_escape`) so labels such as ``S_I`` or ``×10`` compile.

>>> t = Table("t", "Demo", "A caption.", rows=["DF", "ours"], columns=["XNLI"])
>>> t.set("DF", "XNLI", pd.Series({1: 70.0, 2: 71.0, 3: 72.0}))
>>> t.set("ours", "XNLI", pd.Series({1: 71.0, 2: 73.0, 3: 73.5}))
>>> print(t.to_markdown().splitlines()[-1])
| ours | **72.50 ± 1.32** |
"""

from __future__ import annotations

import csv
import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from xlingual_probe.plots._paired import holm, paired_difference
from xlingual_probe.reporting import format_mean_std, format_signed
from xlingual_probe.utils.io import atomic_write_text

__all__ = ["Cell", "Table", "latex_escape"]

ALPHA = 0.05

# text-mode escapes first, then the Unicode symbols our labels and captions use
_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
          ">": r"\textgreater{}", "±": r"$\pm$", "Δ": r"$\Delta$", "×": r"$\times$", "−": r"$-$", "σ": r"$\sigma$",
          "α": r"$\alpha$", "≤": r"$\leq$", "≥": r"$\geq$", "→": r"$\rightarrow$", "φ": r"$\varphi$",
          "…": r"\ldots{}", "—": "---", "–": "--", "·": r"$\cdot$", "θ": r"$\theta$", "ℓ": r"$\ell$"}


def latex_escape(text: object) -> str:
    r"""``text`` safe for LaTeX text mode.

    >>> latex_escape("S_I & 50% (×10) {x}")
    'S\\_I \\& 50\\% ($\\times$10) \\{x\\}'
    """
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


@dataclass
class Cell:
    """The per-seed values of one (row, column) and what else its text shows.

    Attributes:
        values: scores indexed by seed (NaN = missing).
        delta: a signed difference printed after the value, e.g. vs DF (Table 4); ``None`` = none.
        runs: the run directories the values come from (provenance).
    """

    values: pd.Series
    delta: float | None = None
    runs: list[str] = field(default_factory=list)

    @property
    def clean(self) -> pd.Series:
        return pd.to_numeric(self.values, errors="coerce").dropna()

    @property
    def mean(self) -> float:
        return float(self.clean.mean()) if len(self.clean) else math.nan

    @property
    def std(self) -> float:
        return float(self.clean.std(ddof=1)) if len(self.clean) > 1 else math.nan

    @property
    def n(self) -> int:
        return len(self.clean)

    def text(self, digits: int) -> str:
        value = format_mean_std(None if math.isnan(self.mean) else self.mean, self.std, digits)
        return value if self.delta is None else f"{value} ({format_signed(self.delta, digits)})"


@dataclass
class BoldTest:
    """The test behind one column's (and row group's) bold: best vs runner-up, paired by seed."""

    column: str
    best: str
    runner_up: str
    n: int
    diff: float
    p: float
    p_holm: float = math.nan
    bold: bool = False


@dataclass
class Table:
    """A table of per-seed cells (see the module docstring).

    Attributes:
        name: file stem (``table2-methods``).
        title: short title (``Table 2: methods × few-shot M``).
        caption: the caption (seeds, checkpoint rule, split, test are added by the builders).
        rows, columns: labels in display order.
        column_groups: a group label per column (a second header line), or ``None``.
        row_groups: lists of rows that compete for the bold; ``None`` = all rows.
        higher_is_better: per column; default True.
        digits: decimals shown.
        alpha: family-wise level of the Holm-corrected bold tests.
        row_header: the first column's header.
    """

    name: str
    title: str
    caption: str
    rows: list[str]
    columns: list[str]
    column_groups: list[str] | None = None
    row_groups: list[list[str]] | None = None
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    digits: int = 2
    alpha: float = ALPHA
    row_header: str = ""
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    def set(self, row: str, column: str, values: pd.Series, delta: float | None = None,
            runs: list[str] | None = None) -> None:
        """Put a cell (``values`` indexed by seed); a cell without any value stays empty (shown as n/a)."""
        if row not in self.rows or column not in self.columns:
            raise KeyError(f"no row {row!r} or column {column!r} in table {self.name}")
        cell = Cell(values, delta, list(runs or []))
        if cell.n:
            self.cells[(row, column)] = cell

    def cell(self, row: str, column: str) -> Cell | None:
        return self.cells.get((row, column))

    def seeds(self) -> list[int]:
        """Every seed that appears in some cell, sorted."""
        return sorted({int(s) for c in self.cells.values() for s in c.clean.index})

    def bold_tests(self) -> list[BoldTest]:
        """Best vs runner-up of every column (within each row group), Holm-adjusted together; ``bold`` set."""
        tests = []
        for column in self.columns:
            better = self.higher_is_better.get(column, True)
            for group in self.row_groups or [self.rows]:
                ranked = [(c.mean, row) for row in group if (c := self.cell(row, column)) and c.n]
                if len(ranked) < 2:
                    continue
                ranked.sort(key=lambda x: x[0], reverse=better)
                (_, best), (_, runner) = ranked[0], ranked[1]
                a, b = self.cells[(best, column)].clean, self.cells[(runner, column)].clean
                d = paired_difference(a, b) if better else paired_difference(b, a)
                tests.append(BoldTest(column, best, runner, d.n, d.mean, d.p))  # d: how much the best beats the runner-up
        for test, adjusted in zip(tests, holm([t.p for t in tests])):
            test.p_holm = adjusted
            test.bold = not math.isnan(adjusted) and adjusted < self.alpha
        return tests

    def bold_cells(self) -> set[tuple[str, str]]:
        return {(t.best, t.column) for t in self.bold_tests() if t.bold}

    def bold_rule(self) -> str:
        """The caption sentence saying how bold was decided (and whether anything could be tested)."""
        tests = self.bold_tests()
        rule = (f"Bold: the best of a column when a two-sided paired t-test against the runner-up (pairs by seed, "
                f"scipy.stats.ttest_rel) is significant after Holm correction over the table's {len(tests)} "
                f"such test(s) at α = {self.alpha:g}.")
        if tests and all(math.isnan(t.p) for t in tests):
            rule += " No test was possible (fewer than 2 paired seeds, or no variance), so nothing is bold."
        elif tests and not any(t.bold for t in tests):
            rule += " No best value passed, so nothing is bold."
        return rule

    # --- renderers -------------------------------------------------------------------------------------

    def _grid(self) -> list[list[str]]:
        return [[self.cells[(r, c)].text(self.digits) if (r, c) in self.cells else "n/a" for c in self.columns]
                for r in self.rows]

    def _header(self) -> list[str]:
        """One header line: the column keys (they include their group)."""
        return list(self.columns)

    def _sub_labels(self) -> list[str]:
        """The second header line under the groups: each column key without its group prefix."""
        groups = self.column_groups or [""] * len(self.columns)
        return [c.removeprefix(g).strip() or c for g, c in zip(groups, self.columns)]

    def to_csv(self) -> str:
        """Long form: one line per cell (row, column, mean, std, n, seeds, values, delta, bold) and the test
        behind a bold column (runner_up, diff, p, p_holm)."""
        tests = {(t.best, t.column): t for t in self.bold_tests()}
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["table", "row", "column_group", "column", "mean", "std", "n", "seeds", "values", "delta",
                         "bold", "runner_up", "diff_vs_runner_up", "p", "p_holm"])
        groups = self.column_groups or [""] * len(self.columns)
        for row in self.rows:
            for group, column in zip(groups, self.columns):
                cell = self.cell(row, column)
                if cell is None:
                    continue
                clean = cell.clean
                test = tests.get((row, column))
                writer.writerow([self.name, row, group, column, _num(cell.mean), _num(cell.std), cell.n,
                                 ";".join(str(int(s)) for s in clean.index), ";".join(repr(float(v)) for v in clean),
                                 "" if cell.delta is None else _num(cell.delta), int(bool(test and test.bold)),
                                 test.runner_up if test else "", _num(test.diff) if test else "",
                                 _num(test.p) if test else "", _num(test.p_holm) if test else ""])
        return out.getvalue()

    def to_markdown(self) -> str:
        """The caption as a paragraph, then a GitHub table (bold as ``**…**``)."""
        bold = self.bold_cells()
        lines = [f"**{self.title}.** {self.caption} {self.bold_rule()}", "",
                 "| " + " | ".join([self.row_header or " "] + self._header()) + " |",
                 "|" + "---|" * (len(self.columns) + 1)]
        for row, texts in zip(self.rows, self._grid()):
            shown = [f"**{t}**" if (row, c) in bold else t for c, t in zip(self.columns, texts)]
            lines.append("| " + " | ".join([row, *shown]) + " |")
        return "\n".join(lines) + "\n"

    def to_latex(self) -> str:
        """A ``table`` float with a booktabs ``tabular``; numbers in math mode (``$74.70 \\pm 0.28$``)."""
        bold = self.bold_cells()
        lines = [r"% needs \usepackage{booktabs}", r"\begin{table}[t]", r"\centering", r"\small",
                 r"\begin{tabular}{l" + "r" * len(self.columns) + "}", r"\toprule"]
        if self.column_groups is not None:
            spans = _spans(self.column_groups)
            head = [latex_escape(self.row_header)] if self.row_header else [""]
            rules = []
            for group, start, width in spans:
                head.append(rf"\multicolumn{{{width}}}{{c}}{{{latex_escape(group)}}}" if width > 1 else latex_escape(group))
                if group:
                    rules.append(rf"\cmidrule(lr){{{start + 2}-{start + width + 1}}}")
            lines.append(" & ".join(head) + r" \\")
            lines.append(" ".join(rules))
            lines.append(" & ".join([""] + [latex_escape(c) for c in self._sub_labels()]) + r" \\")
        else:
            lines.append(" & ".join([latex_escape(self.row_header)] + [latex_escape(c) for c in self.columns]) + r" \\")
        lines.append(r"\midrule")
        for row in self.rows:
            texts = [_latex_cell(self.cell(row, c), self.digits, (row, c) in bold) for c in self.columns]
            lines.append(" & ".join([latex_escape(row), *texts]) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}",
                  rf"\caption{{{latex_escape(self.title)}. {latex_escape(self.caption)} {latex_escape(self.bold_rule())}}}",
                  rf"\label{{tab:{latex_escape(self.name)}}}", r"\end{table}"]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        """A ``<figure>`` holding the caption and the ``<table>`` (bold as ``<strong>``); text HTML-escaped."""
        bold = self.bold_cells()
        e = html.escape
        head = []
        if self.column_groups is not None:
            head.append("<tr><th></th>" + "".join(f'<th colspan="{w}">{e(g)}</th>'
                                                  for g, _, w in _spans(self.column_groups)) + "</tr>")
            head.append("<tr><th>" + e(self.row_header) + "</th>"
                        + "".join(f"<th>{e(c)}</th>" for c in self._sub_labels()) + "</tr>")
        else:
            head.append("<tr><th>" + e(self.row_header) + "</th>"
                        + "".join(f"<th>{e(c)}</th>" for c in self.columns) + "</tr>")
        body = []
        for row, texts in zip(self.rows, self._grid()):
            cells = "".join(f"<td><strong>{e(t)}</strong></td>" if (row, c) in bold else f"<td>{e(t)}</td>"
                            for c, t in zip(self.columns, texts))
            body.append(f"<tr><th>{e(row)}</th>{cells}</tr>")
        # the caption as the figure's caption, not <caption>: a <caption> is as narrow as its table
        return (f"<figure><figcaption><b>{e(self.title)}.</b> {e(self.caption)} {e(self.bold_rule())}</figcaption>"
                f'<table id="{e(self.name)}"><thead>{"".join(head)}</thead><tbody>{"".join(body)}</tbody></table>'
                "</figure>")

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write ``NAME.csv``, ``NAME.md`` and ``NAME.tex`` into ``out_dir``; returns the paths."""
        out_dir = Path(out_dir)
        paths = []
        for suffix, text in (("csv", self.to_csv()), ("md", self.to_markdown()), ("tex", self.to_latex())):
            path = out_dir / f"{self.name}.{suffix}"
            atomic_write_text(path, text)
            paths.append(path)
        return paths


def _num(value: float | None) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(float(value))


def _spans(groups: list[str]) -> list[tuple[str, int, int]]:
    """Runs of equal adjacent group labels: ``(label, start index, width)``."""
    spans: list[tuple[str, int, int]] = []
    for i, group in enumerate(groups):
        if spans and spans[-1][0] == group:
            label, start, width = spans[-1]
            spans[-1] = (label, start, width + 1)
        else:
            spans.append((group, i, 1))
    return spans


def _latex_cell(cell: Cell | None, digits: int, bold: bool) -> str:
    if cell is None or not cell.n:
        return "n/a"
    value = f"{cell.mean:.{digits}f}" + ("" if math.isnan(cell.std) else rf" \pm {cell.std:.{digits}f}")
    math_text = rf"\mathbf{{{value}}}" if bold else value
    delta = "" if cell.delta is None or math.isnan(cell.delta) else rf"\ ({cell.delta:+.{digits}f})"
    return f"${math_text}{delta}$"
