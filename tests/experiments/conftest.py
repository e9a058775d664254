"""The results of the 4-run sweep of :func:`tests.tiny.four_run_sweep` from the in-process executor, which
every other executor must reproduce exactly."""

import pytest

from tests.tiny import four_run_sweep
from xlingual_probe.experiments.executor import SequentialExecutor
from xlingual_probe.experiments.sweep import run_sweep


@pytest.fixture(scope="session")
def reference_results(tiny_model, tiny_data, tmp_path_factory):
    """``results.csv`` of the 4-run sweep run one by one in this process."""
    out = tmp_path_factory.mktemp("reference") / "sweep"
    run_sweep(four_run_sweep(tiny_model, tiny_data, out), executor=SequentialExecutor(show_progress=False))
    return (out / "results.csv").read_text()
