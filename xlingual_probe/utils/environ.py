"""Environment variables set for a while: what a spawned child process inherits."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def environ_set(changes: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``changes`` inside the block, as before after it (unset variables removed again).

    >>> with environ_set({"XPROBE_DOCTEST": "1"}):
    ...     os.environ["XPROBE_DOCTEST"]
    '1'
    >>> "XPROBE_DOCTEST" in os.environ
    False
    """
    saved = {key: os.environ.get(key) for key in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
