"""One writer per directory: a lease file naming its holder, kept alive by a heartbeat.

Context:
    Two processes appending to one run directory interleave their ``steps.jsonl`` records and
    overwrite each other's checkpoints, and nothing in the files says so afterwards. This happens
    in practice: the same command started twice, a job array with one ``--out``, or a launcher
    (``torchrun``, ``accelerate launch``) whose processes never joined one job.

Method:
    :class:`DirectoryLease` creates ``lease.json`` in the directory with ``O_CREAT | O_EXCL`` (so
    of two processes starting together exactly one wins) holding ``host``, ``pid``, ``slurm_job_id``
    and ``slurm_restart_count`` (when ``SLURM_JOB_ID`` is set), ``acquired`` and ``heartbeat``
    (Unix times). A daemon thread rewrites ``heartbeat`` every ``stale_after / 10`` seconds; on
    every beat it re-reads the file and, should another process have taken the lease over, stops
    and marks the lease lost (:meth:`DirectoryLease.check` then raises). Releasing deletes the file.

    A lease held by someone else is taken over only when its holder is certainly gone: on the same
    host its pid no longer exists; the same Slurm job was requeued (a higher
    ``SLURM_RESTART_COUNT``, e.g. after a node failure); or its heartbeat is older than
    ``stale_after`` seconds (default 600, environment variable ``XPROBE_LEASE_STALE_SECONDS``),
    for a holder on another host that stopped beating. Anything else is refused with one line
    naming the holder. A lease held by this very process (left by an interrupted call in a notebook
    or a test) is taken back.

    Heartbeats compare wall-clock times across hosts, so the hosts' clocks must roughly agree (NTP);
    a stale-after of minutes leaves ample room.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import atomic_write_json

LEASE_FILE = "lease.json"
_HELD: dict[Path, DirectoryLease] = {}  # directories whose lease a DirectoryLease of this process holds now
STALE_ENV = "XPROBE_LEASE_STALE_SECONDS"
DEFAULT_STALE_SECONDS = 600.0


def stale_seconds() -> float:
    """Seconds without a heartbeat after which a lease counts as abandoned (``XPROBE_LEASE_STALE_SECONDS``)."""
    text = os.environ.get(STALE_ENV)
    if not text:
        return DEFAULT_STALE_SECONDS
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{STALE_ENV}={text!r} is not a number of seconds") from None
    if value <= 0:
        raise UserError(f"{STALE_ENV} must be positive, not {text}")
    return value


def this_holder() -> dict[str, Any]:
    """The identity of this process as a lease records it (without times)."""
    holder: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    if os.environ.get("SLURM_JOB_ID"):
        holder["slurm_job_id"] = os.environ["SLURM_JOB_ID"]
        holder["slurm_restart_count"] = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    return holder


def describe_holder(holder: dict[str, Any], now: float | None = None) -> str:
    """``pid 12 on host n7 (Slurm job 99), last heartbeat 3 s ago``.

    >>> describe_holder({"host": "n7", "pid": 12, "slurm_job_id": "99", "heartbeat": 10.0}, now=13.0)
    'pid 12 on host n7 (Slurm job 99), last heartbeat 3 s ago'
    """
    text = f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"
    if holder.get("slurm_job_id"):
        text += f" (Slurm job {holder['slurm_job_id']})"
    if isinstance(holder.get("heartbeat"), (int, float)):
        text += f", last heartbeat {max(0.0, (now or time.time()) - holder['heartbeat']):.0f} s ago"
    return text


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _same_process(holder: dict[str, Any], me: dict[str, Any]) -> bool:
    return holder.get("host") == me["host"] and holder.get("pid") == me["pid"]


def abandoned(holder: dict[str, Any], stale_after: float, now: float | None = None) -> str | None:
    """Why the lease of ``holder`` may be taken over, or ``None`` while its holder may still be alive.

    >>> abandoned({"host": "elsewhere", "pid": 1, "heartbeat": 0.0}, 600, now=601.0)
    'no heartbeat for 601 s (more than 600 s)'
    >>> abandoned({"host": "elsewhere", "pid": 1, "heartbeat": 0.0}, 600, now=30.0) is None
    True
    """
    me, now = this_holder(), now or time.time()
    if holder.get("host") == me["host"] and isinstance(holder.get("pid"), int) and not _pid_alive(holder["pid"]):
        return f"its process {holder['pid']} is gone"
    if (holder.get("slurm_job_id") and holder.get("slurm_job_id") == me.get("slurm_job_id")
            and int(holder.get("slurm_restart_count") or 0) < me.get("slurm_restart_count", 0)):
        return f"Slurm job {holder['slurm_job_id']} was requeued"
    beat = holder.get("heartbeat")
    if not isinstance(beat, (int, float)) or now - beat > stale_after:
        age = "ever" if not isinstance(beat, (int, float)) else f"{now - beat:.0f} s"
        return f"no heartbeat for {age} (more than {stale_after:.0f} s)"
    return None


class DirectoryLease:
    """The lease on one directory (see the module docstring).

    Args:
        root: the directory (created when missing).
        stale_after: seconds without a heartbeat after which the lease may be taken over
            (default :func:`stale_seconds`).
        reentrant: take the lease from another holder *in this process* instead of refusing (for a
            Trainer callback, whose lease is never released when training raises, so that running
            the training again in the same notebook works).

    Attributes:
        lost: the record of the process that took the lease over, or ``None``.
        taken_over: why an earlier holder's lease was taken over at :meth:`acquire`, or ``None``.
    """

    def __init__(self, root: str | Path, stale_after: float | None = None, reentrant: bool = False):
        self.root = Path(root)
        self.reentrant = reentrant
        self.path = self.root / LEASE_FILE
        self.stale_after = stale_seconds() if stale_after is None else stale_after
        self.lost: dict[str, Any] | None = None
        self.taken_over: str | None = None
        self._record: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._record is not None

    def acquire(self) -> DirectoryLease:
        """Take the lease (creating the directory); returns itself.

        Raises:
            UserError: another live process holds it, or the directory cannot be written.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the output folder {self.root}: {exc.strerror or exc}") from None
        if not self.root.is_dir():
            raise UserError(f"the output path {self.root} exists and is not a folder; choose another --out")
        for _ in range(5):
            if self._create():
                self._start_heartbeat()
                return self
            holder = self._read()
            if holder is None:  # vanished between our attempt and the read: try again
                continue
            if _same_process(holder, this_holder()):
                other = _HELD.get(self.root.resolve())
                if other is not None and not self.reentrant:
                    raise UserError(f"{self.root} is already being written by this process (another run or "
                                    "callback on the same --out); use another --out")
                if other is not None:
                    other.release()
                self.taken_over = "this process left it behind"
            else:
                self.taken_over = abandoned(holder, self.stale_after)
                if self.taken_over is None:
                    raise UserError(f"{self.root} is in use by {describe_holder(holder)}: a run directory has one "
                                    "writer. Wait for it to finish or use another --out; if that process is gone, "
                                    f"its lease goes stale after {self.stale_after:.0f} s without a heartbeat "
                                    f"({STALE_ENV})")
            self._remove_if(holder)
        raise UserError(f"could not take the lease of {self.root}: other processes keep taking it")

    def _create(self) -> bool:
        now = time.time()
        record = {**this_holder(), "acquired": now, "heartbeat": now}
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            raise UserError(f"cannot write in the output folder {self.root}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f)
        self._record = record
        _HELD[self.root.resolve()] = self
        return True

    def _read(self) -> dict[str, Any] | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            holder = json.loads(text)
        except json.JSONDecodeError:
            holder = None
        # a torn or foreign file: judge it by its age alone
        return holder if isinstance(holder, dict) else {"heartbeat": self.path.stat().st_mtime}

    def _remove_if(self, holder: dict[str, Any]) -> None:
        """Delete the lease file if it still holds ``holder`` (a fresh lease taken meanwhile stays)."""
        current = self._read()
        if current is not None and current.get("pid") == holder.get("pid") and current.get("host") == holder.get("host"):
            self.path.unlink(missing_ok=True)

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name=f"lease-heartbeat {self.root}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        interval = max(0.05, self.stale_after / 10)
        while not self._stop.wait(interval):
            current = self._read()
            if current is None or not _same_process(current, this_holder()) or self._record is None:
                self.lost = current or {"host": "?", "pid": "?"}
                return
            self._record["heartbeat"] = time.time()
            try:
                atomic_write_json(self.path, self._record)
            except OSError:  # a full disk must not kill the run from this thread; the next beat retries
                continue

    def check(self) -> None:
        """Raise :class:`UserError` if another process has taken the lease over."""
        if self.lost is not None:
            raise UserError(f"lost the lease of {self.root} to {describe_holder(self.lost)}; stopping so that "
                            "the directory keeps one writer")

    def release(self) -> None:
        """Stop the heartbeat and delete the lease file (if it is still ours)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._record is not None:
            current = self._read()
            if current is not None and _same_process(current, this_holder()):
                self.path.unlink(missing_ok=True)
            self._record = None
            if _HELD.get(self.root.resolve()) is self:
                del _HELD[self.root.resolve()]
