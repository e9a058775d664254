"""Depth of the package's import graph: the longest import path, between modules and between folders.

Reads imports from the AST the way ``../shared/tools/import_graph.py`` does (imports under
``if TYPE_CHECKING:`` skipped, function-level imports counted) and prints the edge count and the
longest simple import path, once between modules and once between the package's folders
(``training``, ``probes``, ...; top-level modules count as their own node), plus any pair of folders
that import each other. Run on purpose: ``python benchmarks/import_depth.py xlingual_probe``.
"""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path


def import_edges(root: Path) -> dict[str, set[str]]:
    """``{module: {imported module, ...}}`` for every module of the package at ``root``."""
    pkg = root.name
    mods = {}
    for f in root.rglob("*.py"):
        rel = f.relative_to(root.parent).with_suffix("")
        mods[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = f

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        tree = ast.parse(f.read_text())
        base = m if f.name == "__init__.py" else m.rpartition(".")[0]
        skipped = {id(sub) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for sub in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                b = base
                for _ in range(max(0, node.level - 1)):
                    b = b.rpartition(".")[0]
                mod = (b + "." + node.module if node.module else b) if node.level else node.module
                targets = [mod + "." + a.name for a in node.names] + [mod]
            for t in targets:
                if t and t.split(".")[0] == pkg and (r := resolve(t)) and r != m:
                    edges[m].add(r)
    return edges


def longest_path(edges: dict[str, set[str]]) -> tuple[str, ...]:
    """The longest simple path (by nodes) of a directed graph given as adjacency sets."""

    @functools.lru_cache(None)
    def from_node(node: str, seen: frozenset[str]) -> tuple[str, ...]:
        best: tuple[str, ...] = (node,)
        for nxt in edges.get(node, ()):
            if nxt not in seen:
                path = (node,) + from_node(nxt, seen | {node})
                best = max(best, path, key=len)
        return best

    nodes = set(edges) | {t for ts in edges.values() for t in ts}
    return max((from_node(n, frozenset()) for n in sorted(nodes)), key=len)


def main(package_dir: str) -> None:
    root = Path(package_dir).resolve()
    edges = import_edges(root)
    path = longest_path(edges)
    short = [p.removeprefix(root.name + ".") for p in path]
    print(f"modules {len(edges)}, imports {sum(map(len, edges.values()))}, longest path {len(path)} modules: "
          + " -> ".join(short))

    def folder(module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else "(root)"

    folders: dict[str, set[str]] = {}
    for m, targets in edges.items():
        for t in targets:
            if folder(m) != folder(t):
                folders.setdefault(folder(m), set()).add(folder(t))
    fpath = longest_path(folders)
    both = sorted({tuple(sorted((a, b))) for a in folders for b in folders[a] if a in folders.get(b, ())})
    print(f"folders {len(set(folders) | {t for ts in folders.values() for t in ts})}, "
          f"imports between folders {sum(map(len, folders.values()))}, longest path {len(fpath)}: "
          + " -> ".join(fpath) + f"; folders importing each other: {both or 'none'}")


if __name__ == "__main__":
    sys.setrecursionlimit(10000)
    main(sys.argv[1] if len(sys.argv) > 1 else "xlingual_probe")
