"""Tables: mean ± std, the tested bold (paired t-test, Holm over columns), CSV / Markdown / LaTeX / HTML."""

import csv
import io

import pandas as pd
import pytest

from tests.plots.latex_check import latex_problems
from xlingual_probe.plots.table import Table, latex_escape

X = {"A": {1: 70.0, 2: 71.0, 3: 72.0}, "B": {1: 71.0, 2: 73.0, 3: 73.5}, "C": {1: 60.0, 2: 61.0, 3: 62.0}}
# B − A = (1, 2, 1.5): p = 0.0351 (two-sided paired t, df 2); alone it passes α = 0.05
Z = {"A": {1: 10.0, 2: 12.0, 3: 13.0}, "B": {1: 11.0, 2: 14.0, 3: 14.2}}
# B − A = (1, 2, 1.2): p = 0.0445; with X, Holm doubles the smaller p: 0.0702 > 0.05, nothing bold


def table(columns: dict[str, dict[str, dict[int, float]]], **kwargs) -> Table:
    t = Table("t", "Table T", "Caption.", rows=["A", "B", "C"], columns=list(columns), **kwargs)
    for column, rows in columns.items():
        for row, values in rows.items():
            t.set(row, column, pd.Series(values))
    return t


def test_mean_std_and_bold_when_the_paired_test_passes():
    t = table({"X": X})
    assert t.cell("B", "X").mean == pytest.approx(72.5) and t.cell("B", "X").std == pytest.approx(1.3229, abs=1e-4)
    (test,) = t.bold_tests()
    assert (test.best, test.runner_up, test.n) == ("B", "A", 3)
    assert test.diff == pytest.approx(1.5) and test.p == pytest.approx(0.03510, abs=1e-5) and test.bold
    assert t.bold_cells() == {("B", "X")}
    assert "| B | **72.50 ± 1.32** |" in t.to_markdown()


def test_holm_over_columns_removes_bold_that_a_single_test_would_give():
    t = table({"X": X, "Z": Z})
    tests = {x.column: x for x in t.bold_tests()}
    assert tests["Z"].p == pytest.approx(0.04452, abs=1e-4)
    assert tests["X"].p_holm == pytest.approx(2 * 0.03510, abs=1e-4)
    assert tests["Z"].p_holm == pytest.approx(2 * 0.03510, abs=1e-4)  # monotone: max(0.0702, 0.0445)
    assert t.bold_cells() == set()
    assert "No best value passed" in t.bold_rule()


def test_no_bold_without_a_testable_difference():
    constant = {"A": {1: 50.0, 2: 52.0}, "B": {1: 50.5, 2: 52.5}}  # B − A = 0.5 every seed: no variance
    single = {"A": {1: 50.0}, "B": {1: 51.0}}
    for columns in ({"Y": constant}, {"Y": single}):
        t = table(columns)
        assert t.bold_cells() == set()
        assert "No test was possible" in t.bold_rule()
    lower = table({"gap": {"A": {1: 5.0, 2: 6.0, 3: 7.0}, "B": {1: 4.0, 2: 4.0, 3: 5.5}}}, higher_is_better={"gap": False})
    (test,) = lower.bold_tests()
    assert test.best == "B" and test.diff == pytest.approx(1.5)  # smaller is better: B beats A by 1.5


def test_row_groups_compete_separately():
    t = table({"X": X}, row_groups=[["A", "C"], ["B"]])
    (test,) = t.bold_tests()  # the group of one row has no contest
    assert (test.best, test.runner_up) == ("A", "C")


def test_csv_keeps_every_seed_and_the_test():
    t = table({"X": X})
    rows = {r["row"]: r for r in csv.DictReader(io.StringIO(t.to_csv()))}
    assert rows["B"]["seeds"] == "1;2;3" and [float(v) for v in rows["B"]["values"].split(";")] == [71.0, 73.0, 73.5]
    assert float(rows["B"]["mean"]) == pytest.approx(72.5) and rows["B"]["bold"] == "1"
    assert rows["B"]["runner_up"] == "A" and float(rows["B"]["p"]) == pytest.approx(0.0351, abs=1e-4)
    assert rows["A"]["bold"] == "0" and rows["A"]["p"] == ""


def test_latex_is_booktabs_escaped_and_balanced():
    t = Table("t_1", "Table 5: c_1 & r", "50% of S_I {x} #1 ~ ^ Δ × −", rows=["S_I & S_II", "only-V_I"],
              columns=["XNLI M = 0", "XNLI M = 5"], column_groups=["XNLI", "XNLI"], row_header="method")
    for row in t.rows:
        for column in t.columns:
            t.set(row, column, pd.Series({1: 70.0, 2: 71.0, 3: 72.5}), delta=0.5)
    tex = t.to_latex()
    assert latex_problems(tex, columns=2) == []
    for needle in (r"\toprule", r"\midrule", r"\bottomrule", r"\cmidrule(lr){2-3}", r"\multicolumn{2}{c}{XNLI}",
                   r"S\_I \& S\_II", r"50\% of S\_I \{x\} \#1", r"$71.17 \pm 1.26\ (+0.50)$", r"\label{tab:t\_1}"):
        assert needle in tex, needle
    assert latex_problems(r"\begin{tabular}{l} a_b & 50% \\ {") != []  # the checker itself catches faults


def test_latex_bold_is_math_bold():
    tex = table({"X": X}).to_latex()
    assert r"$\mathbf{72.50 \pm 1.32}$" in tex and latex_problems(tex, columns=1) == []


def test_latex_escape_covers_specials():
    assert latex_escape("a_b%c#d&e$f{g}h~i^j\\k") == (r"a\_b\%c\#d\&e\$f\{g\}h\textasciitilde{}i"
                                                      r"\textasciicircum{}j\textbackslash{}k")


def test_html_table_escapes_and_bolds():
    t = table({"X": X})
    t.rows[2] = "<C>"
    t.cells[("<C>", "X")] = t.cells.pop(("C", "X"))
    page = t.to_html()
    assert "<strong>72.50 ± 1.32</strong>" in page and "&lt;C&gt;" in page and "<C>" not in page
