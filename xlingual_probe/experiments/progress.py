"""The progress view of an executor: which runs are done, running, pending or failed.

Three views of the same state, kept current by the executor while it waits:

- a progress bar over the runs, its postfix ``done 10 · running 2 · pending 16 · failed 2``;
- one line per run that ends (``[12/30] reinit-L3 seed 1: done, overall 71.20, gap 9.80``);
- ``status.txt`` in the sweep or comparison directory (rewritten atomically every few seconds), for a
  user who can only ``cat`` a file on the cluster: every run with its key, its run directory, the
  update a running run has reached (from its ``steps.jsonl``) and a failed run's last error line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from xlingual_probe.reporting import format_score
from xlingual_probe.runs import DIVERGED, FINISHED, RunFiles
from xlingual_probe.training.slowfast import phase_warning
from xlingual_probe.utils.io import atomic_write_text, read_json

if TYPE_CHECKING:  # the executor module imports this one
    from xlingual_probe.experiments.executor import RunJob, RunOutcome

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
_ORDER = (FAILED, RUNNING, PENDING, DONE)  # status.txt lists what needs attention first


def format_result_line(summary: dict[str, Any], which: str = "final") -> str:
    """``overall 71.20, gap 9.80`` of a run summary's ``final`` (or ``best``) evaluation; a diverged
    run says so (with its last evaluation, if any).

    >>> format_result_line({"final": {"overall": 71.2, "gap": 9.8}})
    'overall 71.20, gap 9.80'
    >>> format_result_line({"status": "diverged", "diverged_at": 7, "final": None})
    'DIVERGED at update 7 (no evaluation before)'
    """
    record = summary.get(which)
    scores = "no evaluation before" if record is None else \
        f"overall {record['overall']:.2f}, gap {format_score(record.get('gap'))}"
    if summary.get("status") == DIVERGED:
        return f"DIVERGED at update {summary['diverged_at']} ({scores})"
    return scores


def _outcome_detail(outcome: RunOutcome) -> str:
    """What ``status.txt`` says after an ended run: ``reused``, ``DIVERGED at update 7 (...)``, ``error: ...``."""
    if outcome.status == FINISHED:
        return "reused" if outcome.reused else ""
    if outcome.complete:  # diverged: a result, flagged
        return f"{'reused, ' if outcome.reused else ''}{format_result_line(outcome.summary)}"
    return f"{outcome.status}: {outcome.error or ''}".rstrip(": ")


def run_position(run_dir: Path) -> str:
    """``update 120/400`` of a running run (its last ``steps.jsonl`` line; the total from
    ``config.json``), or ``""`` before its first update."""
    files = RunFiles(run_dir)
    try:
        with open(files.steps, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            lines = f.read().splitlines()
        step = int(lines[-1].split(b'"step": ', 1)[1].split(b",", 1)[0].split(b"}", 1)[0])
        total = read_json(files.config)["training"]["total_steps"]
    except (OSError, IndexError, ValueError, KeyError):
        return ""
    return f"update {step}/{total}"


class Progress:
    """The state of each run of one :meth:`~xlingual_probe.experiments.executor.Executor.run` call.

    Args:
        jobs: the runs (one job per run directory).
        path: ``status.txt`` to keep current, or ``None``.
        executor: the executor's one-line description (first line of ``status.txt``).
        show: the progress bar.
        log: where one line per ended run goes.
        refresh_seconds: the least time between two rewrites of ``status.txt`` by :meth:`refresh`.
    """

    def __init__(self, jobs: Sequence[RunJob], path: Path | None, *, executor: str, show: bool = True,
                 log: Callable[[str], None] = tqdm.write, refresh_seconds: float = 5.0):
        self.jobs = list(jobs)
        self.path = path
        self.executor = executor
        self.log = log
        self.refresh_seconds = refresh_seconds
        self.state = {job.run_dir: PENDING for job in self.jobs}
        self.outcomes: dict[Path, RunOutcome] = {}
        self.written = 0.0
        self.bar = tqdm(total=len(self.jobs), desc="runs", unit="run", position=0,
                        disable=not show or len(self.jobs) < 2)

    def counts(self) -> dict[str, int]:
        return {state: sum(s == state for s in self.state.values()) for state in (DONE, RUNNING, PENDING, FAILED)}

    def started(self, job: RunJob) -> None:
        self.state[job.run_dir] = RUNNING
        self.write()

    def ended(self, outcome: RunOutcome) -> None:
        """Record a run's outcome, report it in one line, and rewrite the views."""
        job = outcome.job
        self.outcomes[job.run_dir] = outcome
        self.state[job.run_dir] = DONE if outcome.complete else FAILED
        self.bar.update(1)
        if outcome.complete:
            line = f"{'reused' if outcome.reused else 'done'}, {format_result_line(outcome.summary)}"
        else:
            line = f"{outcome.status}: {outcome.error}" if outcome.error else outcome.status
        self.log(f"[{len(self.outcomes)}/{len(self.jobs)}] {job.label} seed {job.seed}: {line}")
        if outcome.status == FINISHED and (warning := phase_warning(outcome.summary)) is not None:
            self.log(warning)
        self.write()

    def outcome(self, job: RunJob) -> RunOutcome | None:
        return self.outcomes.get(job.run_dir)

    def refresh(self) -> None:
        """Rewrite the views if the last write is older than ``refresh_seconds`` (for waiting loops)."""
        if time.monotonic() - self.written >= self.refresh_seconds:
            self.write()

    def write(self) -> None:
        """Update the bar's postfix and rewrite ``status.txt``."""
        self.written = time.monotonic()
        counts = self.counts()
        self.bar.set_postfix_str(" · ".join(f"{state} {n}" for state, n in counts.items()), refresh=True)
        if self.path is not None:
            atomic_write_text(self.path, self.render(counts))

    def render(self, counts: dict[str, int]) -> str:
        """The text of ``status.txt``."""
        root = self.path.parent if self.path is not None else Path.cwd()
        lines = [f"# {len(self.jobs)} runs, executor {self.executor}",
                 f"# updated {datetime.now().isoformat(timespec='seconds')}",
                 "   ".join(f"{state} {n}" for state, n in counts.items()), ""]
        for state in _ORDER:
            for job in self.jobs:
                if self.state[job.run_dir] != state:
                    continue
                where = os.path.relpath(job.run_dir, root)
                detail = ""
                if state == RUNNING:
                    detail = run_position(job.run_dir)
                elif state in (FAILED, DONE) and (outcome := self.outcomes.get(job.run_dir)) is not None:
                    detail = _outcome_detail(outcome)
                lines.append(f"{state:8s} {job.describe():40s} {where}  {detail}".rstrip())
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        self.write()
        self.bar.close()
