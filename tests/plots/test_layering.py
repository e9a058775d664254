"""Figures and reports read run directories only: nothing under ``plots/`` imports the training code, the
probes or the many-run layer (the rule ``../shared/tools/import_graph.py`` checks, kept in the suite)."""

import ast
from pathlib import Path

import xlingual_probe.plots

FORBIDDEN = ("xlingual_probe.training", "xlingual_probe.probes", "xlingual_probe.experiments")


def test_plots_import_no_training_probes_or_experiments():
    found = []
    for path in sorted(Path(xlingual_probe.plots.__path__[0]).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.name}: {n}" for n in names if n.startswith(FORBIDDEN)]
    assert found == []
