"""Atomic writes and JSON Lines logging for run directories.

Every file a run directory holds is either written whole through a temporary file and a rename
(``atomic_write_*``), so a reader never sees half a file, or appended one flushed line at a time
(``append_jsonl``), so a killed run loses at most the line being written.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def _json_default(obj: Any) -> Any:
    # numpy / torch scalars and paths appear in configs and metrics
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (Path, set, tuple)):
        return str(obj) if isinstance(obj, Path) else list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(obj: Any, indent: int | None = None) -> str:
    """Serialise ``obj`` to JSON; NaN/inf become ``null`` so files stay valid JSON."""
    return json.dumps(_clean(obj), indent=indent, default=_json_default, ensure_ascii=False)


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, to_json(obj, indent=2) + "\n")


def append_jsonl(path: str | os.PathLike, record: dict[str, Any]) -> None:
    """Append one JSON object as a line and flush it to disk."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(to_json(record) + "\n")
        f.flush()


def read_mapping_file(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """Read a YAML (``safe_load``) or JSON file that must hold a mapping; problems raise UserError.

    Args:
        path: the file; ``.json`` is parsed as JSON, anything else as YAML.
        what: what the file is, for messages (``config file``, ``selection file``).
    """
    import yaml

    from xlingual_probe.utils.errors import UserError, not_utf8

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None
    try:
        values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"cannot parse {what} {path}: {str(exc).splitlines()[0]}") from None
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise UserError(f"{what} {path} must hold a mapping of names to values")
    return values


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a JSON Lines file; a torn last line (from a killed process) is ignored."""
    records = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise
    return records


def truncate_jsonl(path: str | os.PathLike, keep: Iterable[dict[str, Any]]) -> None:
    """Rewrite a JSONL file atomically with only the ``keep`` records (used when resuming)."""
    atomic_write_text(path, "".join(to_json(r) + "\n" for r in keep))
