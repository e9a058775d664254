"""``xprobe report``: the HTML page and its Markdown twin hold the run directories' numbers, embed every image,
link only inside the page, say where each number came from, and open cleanly in headless Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.plots.chromium import check_page, chromium_path
from xlingual_probe.plots.report import write_report
from xlingual_probe.reporting import format_mean_std


@pytest.fixture(scope="module")
def report(paper_root, tmp_path_factory):
    return write_report([paper_root], tmp_path_factory.mktemp("report"), formats=("png",),
                        command="xprobe report fixture --out report")


def html_table(page: str, table_id: str) -> dict[str, list[str]]:
    """``{row header: [cell texts]}`` of the ``<table id=...>`` in ``page`` (bold markup removed)."""
    block = re.search(rf'<table id="{re.escape(table_id)}">(.*?)</table>', page, re.DOTALL).group(1)
    body = block.split("<tbody>")[1]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL):
        header = re.search(r"<th>(.*?)</th>", row).group(1)
        rows[header] = [re.sub(r"</?strong>", "", c) for c in re.findall(r"<td>(.*?)</td>", row)]
    return rows


def expected(root: Path, comparison: str, method: str, key: str = "overall") -> str:
    """``mean ± std`` of the best records of ``root/comparison/method/seed-*`` read straight from summary.json."""
    values = [json.loads(p.read_text())["best"][key] for p in sorted((root / comparison / method).glob("*/summary.json"))]
    return format_mean_std(pd.Series(values).mean(), pd.Series(values).std(ddof=1))


def test_report_tables_equal_the_run_directories(report, paper_root):
    page = report.html.read_text(encoding="utf-8")
    table2 = html_table(page, "table2-methods")  # columns: panx M = 0, xnli M = 0, xnli M = 5
    assert table2["DF"][1] == expected(paper_root, "cmp-xnli", "direct")
    assert table2["FS"][1] == expected(paper_root, "cmp-xnli", "slow")
    assert table2["slow-and-fast"][1] == expected(paper_root, "cmp-xnli", "slowfast")
    assert table2["slow-and-fast"][2] == expected(paper_root, "cmp-xnli-M5", "slowfast")
    assert table2["FS"][0] == "n/a"
    table4 = html_table(page, "table4-source-target")  # panx source, non-source, xnli source, non-source
    assert table4["DF"][3] == expected(paper_root, "cmp-xnli", "direct", "target_mean")
    markdown = report.markdown.read_text(encoding="utf-8")
    assert f"| slow-and-fast | {table2['slow-and-fast'][0]} | **{table2['slow-and-fast'][1]}** |" in markdown


def test_report_is_self_contained(report):
    page = report.html.read_text(encoding="utf-8")
    assert "<script" not in page and "<link" not in page and "http://" not in page and "https://" not in page
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 10 and all(s.startswith("data:image/png;base64,") for s in sources)
    hrefs = re.findall(r'href="([^"]*)"', page)
    ids = set(re.findall(r'id="([^"]*)"', page))
    assert hrefs and all(h.startswith("#") and h[1:] in ids for h in hrefs)
    for image in re.findall(r"!\[[^]]*\]\(([^)]*)\)", report.markdown.read_text(encoding="utf-8")):
        assert (report.markdown.parent / image).is_file()


def test_report_says_where_each_number_came_from(report, paper_root):
    page = report.html.read_text(encoding="utf-8")
    assert f"xprobe compare --task xnli --out {paper_root / 'cmp-xnli'}" in page  # argv from config.json
    assert f"xprobe probe layers --task xnli --out {paper_root / 'sweep-xnli'}" in page
    assert "Made by <code>xprobe report fixture --out report</code>" in page
    assert '&quot;few_shot&quot;: 5' in page  # a configuration block (HTML-escaped JSON)
    prov = re.search(r'<h3 id="prov-table2-methods">.*?</table>', page, re.DOTALL).group(0)
    assert "slow-and-fast / xnli M = 0" in prov and "1, 2, 3" in prov and 'href="#cmd-' in prov


def test_report_shows_the_selection_and_its_evidence(report):
    page = report.html.read_text(encoding="utf-8")
    section = re.search(r'<section id="selection">(.*?)</section>', page, re.DOTALL).group(1)
    assert "S_I = 0-1" in section and "policy IV on" in section and "fixture selection" in section
    assert "in S_I (drop 3.00 &gt; δ)" in section and "Evidence: S_II" in section


@pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed (Debian: apt-get install chromium); "
                                                    ".ci/run installs it")
def test_report_opens_in_headless_chromium(report):
    check = check_page(report.html)
    assert len(check.images) == 10 and check.broken_images == []
    assert check.links and check.broken_links == []
    assert check.console_errors == [] and check.failed_requests == [] and check.outside_requests == []
    assert "table2-methods" in check.tables


@pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed (Debian: apt-get install chromium)")
def test_the_chromium_check_catches_a_broken_page(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<!doctype html><html><head><title>bad</title></head><body><img src="missing.png">'
                    '<img src="data:image/png;base64,AAAA"><a href="#nowhere">x</a>'
                    "<script>console.error('boom')</script></body></html>", encoding="utf-8")
    check = check_page(page)
    assert len(check.broken_images) == 2 and check.broken_links == ["#nowhere"]
    assert any("boom" in e for e in check.console_errors) and check.failed_requests
