"""``xprobe report``: one self-contained HTML page (and the same as Markdown) of every figure and table the
runs support, the weight-set selection with its evidence, and where every number came from.

The HTML embeds each figure as a PNG data URI and its styles inline: no script, no network, no file beside
it, so it can be mailed or archived as it is. Links are in-page anchors only. For every series and table
cell the provenance section lists its run directories, their seeds, the command that made them (the
``command.argv`` recorded in ``config.json``; "not recorded" for runs made before it was) and the resolved
configuration (``config.json``'s ``config``, without the per-run ``seed`` and ``out``). The Markdown twin
links the figure files written next to it (``figures/NAME.png``).
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from xlingual_probe.plots._scores import ScoreSource
from xlingual_probe.plots._sources import Sources, command_text
from xlingual_probe.plots.artefacts import ARTEFACTS, BuildResult, Output, build_artefacts, outputs_markdown
from xlingual_probe.plots.style import FORMATS
from xlingual_probe.reporting import markdown_table
from xlingual_probe.utils.io import atomic_write_text, to_json

__all__ = ["ReportPaths", "write_report"]

CSS = """body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;
color:#111;line-height:1.45}h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #ccc}
h3{font-size:1.05rem}figure{margin:1rem 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption,caption{font-size:.9rem;color:#333;text-align:left;caption-side:top;padding-bottom:.4rem}
table{border-collapse:collapse;margin:.8rem 0;font-size:.85rem}th,td{padding:.2rem .55rem;text-align:right;
border-bottom:1px solid #ddd}th:first-child,td:first-child{text-align:left}thead th{border-bottom:2px solid #333}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.8rem}pre{background:#f6f6f6;padding:.6rem;
overflow-x:auto;white-space:pre-wrap}nav ul{columns:2}.note{color:#555;font-size:.9rem}"""

_DROP_FROM_CONFIG = ("out", "seed")


@dataclass
class ReportPaths:
    """The report's files: the HTML page, its Markdown twin and the figure/table folder."""

    html: Path
    markdown: Path
    figures: Path
    result: BuildResult


class _Provenance:
    """Numbers commands and configurations as they are first met, so each is printed once and linked."""

    def __init__(self, sources: Sources):
        self.sources = sources
        self.commands: dict[str, int] = {}
        self.configs: dict[str, int] = {}
        self.config_text: dict[int, str] = {}

    def ids(self, run: str) -> tuple[int | None, int]:
        info = self.sources.runs[run].info
        text = command_text(info)
        command = self.commands.setdefault(text, len(self.commands) + 1) if text else None
        config = {k: v for k, v in (info.get("config") or {}).items() if k not in _DROP_FROM_CONFIG}
        config_json = json.dumps(config, indent=2, sort_keys=True, default=str)
        number = self.configs.setdefault(config_json, len(self.configs) + 1)
        self.config_text[number] = config_json
        return command, number

    def rows(self, output: Output) -> list[dict[str, Any]]:
        rows = []
        for label, runs in output.provenance.items():
            ids = [self.ids(r) for r in runs if r in self.sources.runs]
            seeds = [self.sources.runs[r].info.get("seed") for r in runs if r in self.sources.runs]
            rows.append({"what": label, "seeds": ", ".join(str(s) for s in seeds), "runs": runs,
                         "commands": sorted({c for c, _ in ids if c is not None}),
                         "unrecorded": sum(c is None for c, _ in ids), "configs": sorted({k for _, k in ids})})
        return rows


def _png_data_uri(output: Output) -> str:
    png = next(p for p in output.files if p.suffix == ".png")
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def _cell_text(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else value if isinstance(value, str) else to_json(value)


def _evidence_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return pd.DataFrame([[_cell_text(row.get(c)) for c in columns] for row in rows], columns=columns)


def _selection_blocks(sources: Sources) -> list[tuple[str, str, list[str], dict[str, pd.DataFrame]]]:
    """Per selection file: (path, sets as Markdown-ready lines, notes, {evidence name: table})."""
    blocks = []
    for path, selection in sources.selections.items():
        sets = [f"{name} = {unit or '(empty)'}" for name, unit in (selection.get("sets") or {}).items()]
        sets.append(f"policy IV {'on' if selection.get('policy_iv') else 'off'}")
        if isinstance(selection.get("margins"), dict):
            sets.append("margins: " + ", ".join(f"{k} = {v:.3g}" if isinstance(v, float) else f"{k} = {v}"
                                                for k, v in selection["margins"].items()))
        evidence = {}
        for name, rows in (selection.get("evidence") or {}).items():
            rows = rows.get("rows", rows) if isinstance(rows, dict) and "rows" in rows else rows
            if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
                evidence[name] = _evidence_frame(rows)
            elif isinstance(rows, dict):
                evidence[name] = _evidence_frame([{"key": k, "value": to_json(v)} for k, v in rows.items()])
        blocks.append((path, sets, [str(n) for n in selection.get("notes") or []], evidence))
    return blocks


def _html_table(frame: pd.DataFrame) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(result: BuildResult, prov: _Provenance, title: str, command: str | None) -> str:
    e = html.escape
    out = [(f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
           f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head><body>'),
           f"<h1>{e(title)}</h1>", _summary_html(result, command)]
    nav = [f'<li><a href="#{e(o.name)}">{e(o.title)}</a></li>' for o in result.outputs]
    nav += ['<li><a href="#selection">Weight-set selection</a></li>', '<li><a href="#skipped">Not drawn</a></li>',
            '<li><a href="#provenance">Provenance: commands and configurations</a></li>']
    out.append(f"<nav><h2>Contents</h2><ul>{''.join(nav)}</ul></nav>")
    for output in result.outputs:
        out.append(f'<section id="{e(output.name)}"><h2>{e(output.title)}</h2>')
        if output.figure is not None:
            width = round(output.figure.get_figwidth() * 110)
            out.append(f'<figure><img src="{_png_data_uri(output)}" alt="{e(output.title)}" width="{width}">'
                       f"<figcaption>{e(output.caption)}</figcaption></figure>")
        else:
            out.append(output.table.to_html())
        files = ", ".join(p.name for p in output.files)
        out.append(f'<p class="note">Files: {e(files)}. Where the numbers come from: '
                   f'<a href="#prov-{e(output.name)}">provenance</a>.</p></section>')
    out.append('<section id="selection"><h2>Weight-set selection</h2>')
    blocks = _selection_blocks(result.sources)
    if not blocks:
        out.append('<p class="note">No selection.json under the given directories.</p>')
    for path, sets, notes, evidence in blocks:
        out.append(f"<h3>{e(path)}</h3><ul>{''.join(f'<li>{e(s)}</li>' for s in sets)}</ul>")
        if notes:
            out.append(f"<p>Notes:</p><ul>{''.join(f'<li>{e(n)}</li>' for n in notes)}</ul>")
        for name, frame in evidence.items():
            out.append(f"<h4>Evidence: {e(name)}</h4>{_html_table(frame)}")
    out.append("</section>")
    skipped = "".join(f"<li><code>{e(n)}</code> ({e(ARTEFACTS[n].paper)}): {e(r)}</li>" for n, r in result.skipped)
    out.append(f'<section id="skipped"><h2>Not drawn</h2><ul>{skipped or "<li>nothing: every artefact was drawn</li>"}'
               "</ul></section>")
    out.append('<section id="provenance"><h2>Provenance: commands and configurations</h2>')
    for output in result.outputs:
        out.append(f'<h3 id="prov-{e(output.name)}">{e(output.title)}</h3>')
        frame = pd.DataFrame([{"series / cell": r["what"], "seeds": r["seeds"],
                               "command": _refs(r["commands"], "cmd", html_links=True) + _unrecorded(r["unrecorded"]),
                               "config": _refs(r["configs"], "cfg", html_links=True)} for r in prov.rows(output)])
        out.append(_html_table_raw(frame, raw_columns=("command", "config")))
    out.append("<h3>Commands</h3>")
    for text, number in prov.commands.items():
        out.append(f'<pre id="cmd-{number}">[cmd-{number}] {e(text)}</pre>')
    if not prov.commands:
        out.append('<p class="note">No run recorded its command line (runs made before config.json had '
                   "<code>command</code>).</p>")
    out.append("<h3>Configurations</h3>")
    for number, text in prov.config_text.items():
        out.append(f'<details id="cfg-{number}"><summary>[cfg-{number}]</summary><pre>{e(text)}</pre></details>')
    out.append("</section></body></html>")
    return "\n".join(out) + "\n"


def _html_table_raw(frame: pd.DataFrame, raw_columns: tuple[str, ...]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{v if c in raw_columns else e(str(v))}</td>" for c, v in zip(frame.columns, row))
                   + "</tr>" for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _refs(numbers: list[int], prefix: str, html_links: bool) -> str:
    if html_links:
        return ", ".join(f'<a href="#{prefix}-{n}">{prefix}-{n}</a>' for n in numbers)
    return ", ".join(f"{prefix}-{n}" for n in numbers)


def _unrecorded(count: int) -> str:
    return f" ({count} run(s): command not recorded)" if count else ""


def _summary_html(result: BuildResult, command: str | None) -> str:
    e = html.escape
    lines = [f"<p>From {len(result.sources.runs)} run directories ({len(result.sources.sweeps)} sweeps, "
             f"{len(result.sources.comparisons)} comparisons) under: "
             + ", ".join(f"<code>{e(str(p))}</code>" for p in result.sources.inputs) + ".</p>",
             (f"<p>Tables and bar charts report {e(result.score.describe())} (<code>--score "
             f"{e(result.score.name)}</code>); curves show every evaluation.</p>")]
    if command:
        lines.append(f"<p>Made by <code>{e(command)}</code>.</p>")
    return "\n".join(lines)


def _markdown(result: BuildResult, prov: _Provenance, title: str, command: str | None, figures: str) -> str:
    lines = [f"# {title}", "",
             f"From {len(result.sources.runs)} run directories ({len(result.sources.sweeps)} sweeps, "
             f"{len(result.sources.comparisons)} comparisons) under: "
             + ", ".join(f"`{p}`" for p in result.sources.inputs) + ".", "",
             f"Tables and bar charts report {result.score.describe()} (`--score {result.score.name}`).", ""]
    if command:
        lines += [f"Made by `{command}`.", ""]
    lines += outputs_markdown(result, figures)
    lines += ["## Weight-set selection", ""]
    blocks = _selection_blocks(result.sources)
    for path, sets, notes, evidence in blocks:
        lines += [f"### {path}", "", *[f"- {s}" for s in sets], ""]
        lines += [*(f"- note: {n}" for n in notes), ""] if notes else []
        for name, frame in evidence.items():
            lines += [f"#### Evidence: {name}", "", markdown_table(frame), ""]
    if not blocks:
        lines += ["No selection.json under the given directories.", ""]
    lines += ["## Provenance", ""]
    for output in result.outputs:
        frame = pd.DataFrame([{"series / cell": r["what"], "seeds": r["seeds"],
                               "command": _refs(r["commands"], "cmd", False) + _unrecorded(r["unrecorded"]),
                               "config": _refs(r["configs"], "cfg", False)} for r in prov.rows(output)])
        lines += [f"### {output.title}", "", markdown_table(frame), ""]
    lines += ["### Commands", ""] + [f"- cmd-{n}: `{t}`" for t, n in prov.commands.items()] + [""]
    lines += ["### Configurations", ""]
    for number, text in prov.config_text.items():
        lines += [f"cfg-{number}:", "", "```json", text, "```", ""]
    return "\n".join(lines)


def write_report(paths: list[str | Path], out: str | Path, *, score: ScoreSource | None = None, alpha: float = 0.05,
                 title: str = "xlingual-probe report", command: str | None = None,
                 formats: tuple[str, ...] = FORMATS) -> ReportPaths:
    """Draw everything the runs under ``paths`` support into ``out/figures`` and write ``out/report.html``
    (self-contained) and ``out/report.md``.

    Args:
        paths: run, sweep or comparison directories, or folders holding them.
        out: the report folder.
        score: the score source of the tables (default: best evaluation, dev split).
        alpha: level of the tests behind bold values and marked layers.
        title: the page title.
        command: the command line that made the report (printed at the top).
        formats: the figure files written next to it (PNG is always among them: the page embeds it).

    Raises:
        UserError: no runs under ``paths``.
    """
    out = Path(out)
    figures = out / "figures"
    formats = ("png", *(f for f in formats if f != "png"))
    result = build_artefacts(paths, figures, score=score, alpha=alpha, formats=formats)
    md = _markdown(result, _Provenance(result.sources), title, command, "figures")
    page = _html(result, _Provenance(result.sources), title, command)
    paths_ = ReportPaths(out / "report.html", out / "report.md", figures, result)
    atomic_write_text(paths_.markdown, md)
    atomic_write_text(paths_.html, page)
    return paths_
