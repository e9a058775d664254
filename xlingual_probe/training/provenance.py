"""What a run records about where it ran: package versions, git commit, device, the command line."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ARGV_ENV = "XPROBE_ARGV"  # set by the CLI, inherited by worker processes that run a job elsewhere
_PACKAGES = ("xlingual-probe", "torch", "transformers", "datasets", "accelerate", "tokenizers",
             "safetensors", "numpy", "seqeval")


def package_versions() -> dict[str, str | None]:
    """Installed versions of Python and the packages that decide a run's numbers."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state() -> dict[str, object]:
    """The commit of the xlingual-probe source tree (``None`` outside a git checkout) and whether it is dirty."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def command_line() -> dict[str, object]:
    """``{"argv": [...], "cwd": ...}``: the command that made this run (``config.json``'s ``command``).

    The ``xprobe`` entry point puts its argv in the environment (:data:`ARGV_ENV`), so a run carried out
    by a worker process (an executor's) records the user's command, not the worker's; elsewhere (a
    Python script, a notebook) it is this process's ``sys.argv``.
    """
    recorded = os.environ.get(ARGV_ENV)
    try:
        argv = json.loads(recorded) if recorded else list(sys.argv)
    except json.JSONDecodeError:
        argv = list(sys.argv)
    return {"argv": [str(a) for a in argv], "cwd": os.getcwd()}
