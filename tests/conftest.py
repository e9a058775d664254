import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Every cache (synthetic worlds, tokenised features) in a fresh folder: tests neither read a
    developer's ``~/.cache/xprobe`` nor fill it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XPROBE_CACHE", str(tmp_path_factory.mktemp("xprobe-cache")))
        yield


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """Path of a random 2-layer BERT with a WordPiece tokenizer (see tests/tiny.py)."""
    from tests.tiny import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A data folder laid out like ../shared/data: xnli/, panx/, tydiqa/ + mlqa/ in the real formats."""
    from tests.tiny import write_panx, write_qa, write_xnli

    root = tmp_path_factory.mktemp("data")
    write_xnli(root / "xnli")
    write_panx(root / "panx")
    write_qa(root)
    return root


@pytest.fixture(scope="session")
def parallel_data(tmp_path_factory):
    """A data folder with xnli/ whose dev sets are parallel row for row (see tests/tiny.py)."""
    from tests.tiny import write_parallel_xnli

    return write_parallel_xnli(tmp_path_factory.mktemp("parallel-data"))
