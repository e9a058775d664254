"""Checks of generated LaTeX without a TeX installation: balanced braces, escaped special characters,
math delimiters in pairs, one ``&`` per column in every table row, no raw Unicode symbols."""

from __future__ import annotations

import re

ESCAPED = re.compile(r"\\[&%$#_{}]")
RAW_SYMBOLS = "±Δ×−σα≤≥→φ…θℓ·"


def latex_problems(tex: str, columns: int | None = None) -> list[str]:
    """Everything wrong with ``tex`` that a LaTeX run would trip on (empty list = fine)."""
    problems = []
    depth = 0
    for number, line in enumerate(tex.splitlines(), start=1):
        if line.startswith("%"):
            continue
        text = ESCAPED.sub("", line)
        for ch in text:
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if depth < 0:
                problems.append(f"line {number}: '}}' without '{{'")
                depth = 0
        if text.count("$") % 2:
            problems.append(f"line {number}: unpaired $")
        outside = "".join(text.split("$")[0::2])
        for ch in "_^#%~":
            if ch in outside:
                problems.append(f"line {number}: unescaped {ch!r} outside math")
        if any(s in line for s in RAW_SYMBOLS):
            problems.append(f"line {number}: raw Unicode symbol")
        row = columns is not None and line.rstrip().endswith(r"\\") and "multicolumn" not in line
        if row and outside.count("&") != columns:
            problems.append(f"line {number}: {outside.count('&')} '&' for {columns + 1} columns")
    if depth:
        problems.append(f"{depth} unclosed '{{'")
    return problems
