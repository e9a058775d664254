"""File digests are cached by (path, size, mtime): hashed once, hashed again after a change."""

import hashlib

from xlingual_probe.utils import filehash


def test_digest_is_cached_until_the_file_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("XPROBE_CACHE", str(tmp_path / "cache"))
    calls = []
    real = filehash.sha256_of_file
    monkeypatch.setattr(filehash, "sha256_of_file", lambda path: calls.append(path) or real(path))
    data = tmp_path / "dev-de.tsv"
    data.write_bytes(b"a\tb\tentailment\n")
    first = filehash.file_digest(data)
    assert first == {"path": str(data.resolve()), "size": 15, "sha256": hashlib.sha256(data.read_bytes()).hexdigest()}
    assert filehash.file_digest(data) == first and len(calls) == 1  # from the cache
    data.write_bytes(b"a\tb\tneutral\n")
    second = filehash.file_digest(data)
    assert len(calls) == 2 and second["sha256"] == hashlib.sha256(b"a\tb\tneutral\n").hexdigest()
    assert len(filehash.read_json(tmp_path / "cache" / "file-sha256.json")) == 1  # the stale entry is dropped


def test_a_damaged_cache_is_rebuilt_not_trusted(tmp_path, monkeypatch):
    monkeypatch.setenv("XPROBE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "file-sha256.json").write_text("{not json")
    data = tmp_path / "x.txt"
    data.write_text("abc")
    assert filehash.file_digest(data)["sha256"] == hashlib.sha256(b"abc").hexdigest()
