"""Small shared helpers: atomic file writes, JSONL logging, registries, errors."""

from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import append_jsonl, atomic_write_json, atomic_write_text, read_json, read_jsonl
from xlingual_probe.utils.registry import Registry

__all__ = [
    "Registry",
    "UserError",
    "append_jsonl",
    "atomic_write_json",
    "atomic_write_text",
    "read_json",
    "read_jsonl",
]
