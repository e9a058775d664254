"""SHA-256 of data files, cached by (path, size, modification time) so a sweep hashes each file once.

A 148-run sweep checks the identity of every run against the data files it uses; re-reading gigabytes
for each would cost more than some runs. The digest of a file is stored in
``file-sha256.json`` in the cache root (:func:`xlingual_probe.utils.cache.cache_dir`) under its resolved path, size and
``st_mtime_ns``: a file that is rewritten (new mtime) or resized is hashed again; one that is not is
looked up. The cache is written atomically; two processes that write it at once may lose one entry,
which only costs a re-hash.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     _ = (Path(d) / "a.txt").write_text("abc")
...     sha256_of_file(Path(d) / "a.txt")[:12]
'ba7816bf8f01'
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from xlingual_probe.utils.cache import cache_dir
from xlingual_probe.utils.io import atomic_write_json, read_json

_CHUNK = 1 << 20


def _cache_file() -> Path:
    return cache_dir("file-sha256.json")


def sha256_of_file(path: str | os.PathLike) -> str:
    """The SHA-256 hex digest of a file's bytes (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_digest(path: str | os.PathLike) -> dict[str, Any]:
    """``{"path", "size", "sha256"}`` of a file (resolved path), the digest from the cache when the
    file's size and modification time are unchanged.

    Raises:
        FileNotFoundError: the file does not exist.
    """
    resolved = Path(path).resolve()
    stat = resolved.stat()
    key = f"{resolved}|{stat.st_size}|{stat.st_mtime_ns}"
    cache_path = _cache_file()
    try:
        cache = read_json(cache_path) if cache_path.is_file() else {}
    except ValueError:  # a damaged cache is rebuilt, never trusted
        cache = {}
    digest = cache.get(key)
    if digest is None:
        digest = sha256_of_file(resolved)
        stale = [k for k in cache if k.startswith(f"{resolved}|")]
        for k in stale:
            del cache[k]
        cache[key] = digest
        try:
            atomic_write_json(cache_path, cache)
        except OSError:  # a read-only cache folder only costs re-hashing
            pass
    return {"path": str(resolved), "size": stat.st_size, "sha256": digest}
