"""The exception and warning types the CLI turns into one-line messages, and the reading of disk errors."""

from __future__ import annotations

import errno

# errors of the disk rather than of the program: the CLI reports them in one line
_DISK_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
                errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
                errno.EPERM: "permission denied", errno.EIO: "an input/output error"}


class UserError(Exception):
    """A problem with the user's input (unknown name, missing file, malformed data, bad option).

    The CLI prints ``error: <message>`` and exits with status 2 instead of showing a traceback,
    so the message must say what was wrong and, where possible, what to do instead.
    """


class RunWarning(UserWarning):
    """Something the user should know that does not stop the work (a skipped incomplete run, a corrupted
    checkpoint replaced by the previous one, truncated evaluation inputs). The CLI prints it as one
    ``warning: <message>`` line."""


def not_utf8(path: object, exc: UnicodeDecodeError) -> UserError:
    r"""The error for a data or config file that is not UTF-8 text.

    >>> str(not_utf8("dev-de.tsv", UnicodeDecodeError("utf-8", b"caf\xe9", 3, 4, "invalid continuation byte")))
    'dev-de.tsv: not UTF-8 text (invalid continuation byte at byte 3); convert it, e.g. iconv -f latin1 -t utf-8'
    """
    return UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); convert it, e.g. "
                     "iconv -f latin1 -t utf-8")


def disk_error_message(exc: OSError) -> str | None:
    """The one-line message for an error of the disk (full, read-only, no permission), else ``None``.

    Writes are atomic and checkpoints are swapped in whole, so after such an error the run directory
    holds its last good state and the same command with ``--resume`` continues from it.

    >>> disk_error_message(OSError(errno.ENOSPC, "No space left on device", "runs/x/steps.jsonl"))
    'cannot write runs/x/steps.jsonl: No space left on device (the disk is full). Free space or choose another --out, then run the same command with --resume: the last checkpoint and the files written before are intact'
    >>> disk_error_message(OSError(errno.ENOENT, "No such file")) is None
    True
    """
    if exc.errno not in _DISK_ERRORS:
        return None
    where = f"write {exc.filename}" if exc.filename else "write"
    return (f"cannot {where}: {exc.strerror or exc} ({_DISK_ERRORS[exc.errno]}). Free space or choose another "
            "--out, then run the same command with --resume: the last checkpoint and the files written before "
            "are intact")
