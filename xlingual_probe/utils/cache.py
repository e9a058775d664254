"""Where the toolkit keeps what it can rebuild: one root for every cache.

The synthetic world's pre-trained checkpoints and the tokenised datasets of a sweep live below one
folder, chosen the way XDG-aware tools choose theirs: ``$XPROBE_CACHE`` when set, else
``$XDG_CACHE_HOME/xprobe``, else ``~/.cache/xprobe``. Deleting the folder is always safe: everything
in it is rebuilt on demand.

>>> import os, unittest.mock
>>> env = {k: v for k, v in os.environ.items() if k != "XPROBE_CACHE"}
>>> with unittest.mock.patch.dict(os.environ, {**env, "XDG_CACHE_HOME": "/tmp/xdg"}, clear=True):
...     print(cache_dir("synthetic"))
/tmp/xdg/xprobe/synthetic
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``<cache root>/<parts...>`` (not created): the root is ``$XPROBE_CACHE``, else
    ``$XDG_CACHE_HOME/xprobe``, else ``~/.cache/xprobe``."""
    root = os.environ.get("XPROBE_CACHE")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = str(Path(xdg) / "xprobe") if xdg else "~/.cache/xprobe"
    return Path(root).expanduser().joinpath(*parts)
