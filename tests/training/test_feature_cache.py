"""The on-disk cache of tokenised datasets: hits give the encoder's own output, every input of the
encoding is part of the key, a changed data file is a new key."""

import os
import shutil

import pytest

from xlingual_probe.models import load_model
from xlingual_probe.tasks import DataOptions, get_task
from xlingual_probe.training.feature_cache import FeatureCache, data_identity


@pytest.fixture
def xnli(tiny_model, tiny_data, tmp_path):
    """The tiny XNLI files copied (so a test may change them), the task, its data and a tokenizer."""
    folder = shutil.copytree(tiny_data / "xnli", tmp_path / "xnli")
    task = get_task("xnli")
    opts = DataOptions(data_dir=str(folder), langs=["de"])
    _, tokenizer = load_model(str(tiny_model), "sequence", 3)
    return folder, task, opts, task.load(opts), tokenizer


def make_cache(task, tokenizer, opts, root, max_length=64, labels=None):
    return FeatureCache(task, tokenizer, max_length, data_identity(task, opts), labels=labels, root=root, enabled=True)


def test_a_hit_returns_the_encoder_s_own_features(xnli, tmp_path):
    _folder, task, opts, data, tokenizer = xnli
    first = make_cache(task, tokenizer, opts, tmp_path / "cache")
    stored = first.encode(data.eval["de"], train=False)
    second = make_cache(task, tokenizer, opts, tmp_path / "cache")
    read = second.encode(data.eval["de"], train=False)
    assert (first.misses, second.hits, second.misses) == (1, 1, 0)
    fresh = task.encode(data.eval["de"], tokenizer, train=False, max_length=64)
    assert read.column_names == fresh.column_names
    assert read.to_dict() == fresh.to_dict() == stored.to_dict()


def test_every_input_of_the_encoding_is_part_of_the_key(xnli, tmp_path):
    _folder, task, opts, data, tokenizer = xnli
    root = tmp_path / "cache"
    base = make_cache(task, tokenizer, opts, root)
    key = base.key(data.train, train=True)[0]
    assert base.key(data.train, train=True)[0] == key  # deterministic
    assert base.key(data.train, train=False)[0] != key  # training vs evaluation features
    assert make_cache(task, tokenizer, opts, root, max_length=32).key(data.train, train=True)[0] != key
    assert make_cache(task, tokenizer, opts, root, labels=["a", "b", "c"]).key(data.train, train=True)[0] != key
    assert base.key(data.train.select(range(10)), train=True)[0] != key  # other rows
    # two sets of one language (validation / test) never share an entry: the content decides
    assert base.key(data.eval["en"], train=False)[0] != base.key(data.eval["de"], train=False)[0]
    tokenizer.padding_side = "left"  # QA puts the context first then
    assert make_cache(task, tokenizer, opts, root).key(data.train, train=True)[0] != key


def test_a_changed_data_file_invalidates_the_cache(xnli, tmp_path):
    folder, task, opts, data, tokenizer = xnli
    root = tmp_path / "cache"
    make_cache(task, tokenizer, opts, root).encode(data.train, train=True)
    again = make_cache(task, tokenizer, opts, root)
    again.encode(data.train, train=True)
    assert again.hits == 1
    # the same rows, but the file changed (another dev file, even): a new key
    with open(folder / "dev-es.tsv", "a", encoding="utf-8") as f:
        f.write("the cat sees the dog .\tthe cat sees the dog .\tentailment\n")
    changed = make_cache(task, tokenizer, opts, root)
    changed.encode(data.train, train=True)
    assert (changed.hits, changed.misses) == (0, 1)
    # a file whose content changes (same size) changes its mtime: a new key as well
    path = folder / "mnli_train.tsv"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    touched = make_cache(task, tokenizer, opts, root)
    touched.encode(data.train, train=True)
    assert touched.misses == 1


def test_disabled_cache_writes_nothing(xnli, tmp_path, monkeypatch):
    _folder, task, opts, data, tokenizer = xnli
    monkeypatch.setenv("XPROBE_FEATURE_CACHE", "0")
    cache = FeatureCache(task, tokenizer, 64, data_identity(task, opts), root=tmp_path / "cache")
    features = cache.encode(data.eval["de"], train=False)
    assert len(features) == len(data.eval["de"]) and not (tmp_path / "cache").exists()


def test_a_run_stores_its_features_and_a_second_run_reads_them(tiny_model, tiny_data, tmp_path, monkeypatch):
    from tests.tiny import tiny_config
    from xlingual_probe.training import train
    from xlingual_probe.utils.io import read_jsonl

    monkeypatch.setenv("XPROBE_CACHE", str(tmp_path / "cache"))
    config = tiny_config(tiny_model, tiny_data, tmp_path / "a", max_steps=4, eval_every=4)
    first = train(config, show_progress=False)
    entries = sorted(p.name for p in (tmp_path / "cache/features").iterdir())
    assert len(entries) == 7  # training features and both held-out halves of three languages
    second = train(config.replace(out=str(tmp_path / "b")), show_progress=False)
    assert sorted(p.name for p in (tmp_path / "cache/features").iterdir()) == entries
    assert first["final"]["metrics"] == second["final"]["metrics"]
    assert first["final"]["selection_half"] == second["final"]["selection_half"]
    assert read_jsonl(tmp_path / "a/steps.jsonl") == read_jsonl(tmp_path / "b/steps.jsonl")
    # another data seed draws other halves: their features are new entries, none of the first run's is read
    train(config.replace(out=str(tmp_path / "c"), data_seed=1), show_progress=False)
    assert len({p.name for p in (tmp_path / "cache/features").iterdir()} - set(entries)) == 7


def test_tokenising_does_not_fingerprint_the_tokenizer(xnli, monkeypatch):
    """datasets would pickle the tokenizer to name each map's result (seconds for XLM-R's vocabulary)."""
    _folder, task, _opts, data, tokenizer = xnli

    def refuse(*args, **kwargs):
        raise AssertionError("map fingerprinted its function")

    monkeypatch.setattr("datasets.arrow_dataset.update_fingerprint", refuse)
    assert len(task.encode(data.train, tokenizer, train=True, max_length=64)) == len(data.train)
