"""``--executor ray``: Ray tasks on a local Ray instance give the in-process results."""

import pytest

from tests.tiny import four_run_sweep
from xlingual_probe.experiments.sweep import run_sweep

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'xlingual-probe[ray]'")


@pytest.fixture(scope="session")
def ray_instance():
    """One local Ray instance for the test session (its start-up takes seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_tasks_match_in_process(ray_instance, tiny_model, tiny_data, tmp_path, reference_results):
    from xlingual_probe.experiments.ray_executor import RayExecutor

    out = tmp_path / "sweep"
    executor = RayExecutor(cpus_per_run=1, show_progress=False, refresh_seconds=0.5)
    assert executor.threads == 1  # --cpus-per-run on CPU runs
    run_sweep(four_run_sweep(tiny_model, tiny_data, out), executor=executor)
    assert not executor.failures
    assert (out / "results.csv").read_text() == reference_results
    assert "done 4   running 0   pending 0   failed 0" in (out / "status.txt").read_text()
    assert len(list((out / "logs").glob("*.log"))) == 4
