import pytest

from xlingual_probe.synthetic import WorldConfig, build_world


@pytest.fixture(scope="session")
def world():
    """The default synthetic world (generation only; nothing is pre-trained)."""
    return build_world(WorldConfig())
