"""``make_executor``: the command-line options of each executor, and bad ones."""

import re

import pytest

from xlingual_probe.experiments.executors import make_executor
from xlingual_probe.experiments.processes import ProcessExecutor
from xlingual_probe.utils.errors import UserError


@pytest.mark.parametrize("options, message", [
    ({"executor": "nope"}, "unknown --executor 'nope'"),
    ({"address": "auto"}, "--address applies to --executor ray, not local"),
    ({"executor": "processes", "partition": "gpu"}, "--partition applies to --executor slurm"),
    ({"executor": "processes", "workers": 0}, "--workers must be at least 1"),
    ({"executor": "ray", "gpus_per_run": -1}, "--gpus-per-run must be >= 0"),
    ({"executor": "slurm", "gpus_per_run": 0.5}, "whole number"),
    ({"executor": "slurm", "time": "soon"}, "--time takes minutes"),
    ({"executor": "slurm", "slurm_arg": ["account"]}, "KEY=VALUE"),
    ({"threads_per_run": 0}, "--threads-per-run must be positive"),
])
def test_bad_options_are_one_clear_error(options, message):
    with pytest.raises(UserError, match=re.escape(message)):
        make_executor(**options, show_progress=False)


def test_processes_options():
    executor = make_executor("processes", workers=3, threads_per_run=2, retry_failed=True, show_progress=False)
    assert isinstance(executor, ProcessExecutor) and executor.workers == 3 and executor.threads == 2
    assert executor.retry_failed
