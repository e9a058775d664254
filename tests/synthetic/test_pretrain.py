"""The synthetic checkpoint: built once per config hash, atomically, loadable as an ordinary HF model."""

from __future__ import annotations

import dataclasses
import os
import time

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer

from xlingual_probe.synthetic import (
    PRESETS,
    ensure_pretrained,
    get_preset,
    is_synthetic_name,
    load_world_config,
    resolve_synthetic_model,
)
from xlingual_probe.synthetic.pretrain import STALE_BUILD_SECONDS, mask_tokens
from xlingual_probe.utils.errors import UserError


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XPROBE_CACHE", str(tmp_path))
    return tmp_path


def test_resolve_builds_once_and_reuses(cache):
    path = resolve_synthetic_model("synthetic:tiny", progress=False, threads=1)
    assert path.startswith(str(cache / "synthetic"))
    assert path.endswith(get_preset("tiny").config_hash())
    files = {p.name for p in (cache / "synthetic").iterdir()}
    assert files == {get_preset("tiny").config_hash()}  # no temporary folder left behind
    stamp = (cache / "synthetic" / files.pop() / "world.json").stat().st_mtime_ns
    assert resolve_synthetic_model("synthetic:tiny", progress=False, threads=1) == path
    assert (cache / "synthetic" / get_preset("tiny").config_hash() / "world.json").stat().st_mtime_ns == stamp

    assert load_world_config(path) == get_preset("tiny")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForMaskedLM.from_pretrained(path)
    assert model.config.num_hidden_layers == 4 and model.config.model_type == "xlm-roberta"
    enc = tok(["kalo mi.", "ra."], padding=True, return_tensors="pt")
    assert model(**enc).logits.shape[-1] == len(tok)
    clf = AutoModelForSequenceClassification.from_pretrained(path, num_labels=3)
    assert clf(**enc).logits.shape == (2, 3)


def test_other_names_pass_through_and_unknown_presets_fail():
    assert resolve_synthetic_model("xlm-roberta-base") == "xlm-roberta-base"
    assert not is_synthetic_name("synthetics") and is_synthetic_name("synthetic")
    with pytest.raises(UserError, match="tiny"):
        resolve_synthetic_model("synthetic:nope")


def test_config_hash_tracks_every_setting():
    base = PRESETS["default"]
    assert base.config_hash() == dataclasses.replace(base).config_hash()
    changed = dataclasses.replace(base, pretrain=dataclasses.replace(base.pretrain, steps=base.pretrain.steps + 1))
    assert changed.config_hash() != base.config_hash()
    assert type(base).from_dict(base.to_dict()) == base


def test_masking_never_touches_special_tokens():
    from xlingual_probe.synthetic import build_tokenizer

    tok = build_tokenizer()
    ids = torch.tensor([tok("kalo mi ra su.", "ra su.")["input_ids"]] * 64)
    inputs, labels = mask_tokens(ids, tok, 0.5, torch.Generator().manual_seed(0))
    special = ids < 4
    assert (labels[special] == -100).all() and (inputs[special] == ids[special]).all()
    assert 0.3 < (labels != -100).float().mean() < 0.6


def test_ensure_pretrained_is_keyed_by_hash(cache):
    a = ensure_pretrained(get_preset("tiny"), progress=False, threads=1)
    other = dataclasses.replace(get_preset("tiny"), seed=5)
    b = ensure_pretrained(other, progress=False, threads=1)
    assert a != b and a.is_dir() and b.is_dir()


def test_killed_builds_are_cleaned_up_live_ones_are_not(cache):
    config = get_preset("tiny")
    root = cache / "synthetic"
    killed, live, other = (root / f".{config.config_hash()}.killed", root / f".{config.config_hash()}.live",
                           root / ".0123456789ab.killed")
    for folder in (killed, live, other):
        folder.mkdir(parents=True)
    old = time.time() - STALE_BUILD_SECONDS - 60
    for folder in (killed, other):
        os.utime(folder, (old, old))
    ensure_pretrained(config, progress=False, threads=1)
    assert not killed.exists()
    assert live.is_dir()  # may belong to a build running now
    assert other.is_dir()  # another world's build is not ours to judge


def test_threads_default_to_two_and_can_be_one(monkeypatch):
    from xlingual_probe.synthetic.pretrain import default_threads

    monkeypatch.delenv("XPROBE_SYNTHETIC_THREADS", raising=False)
    assert default_threads() == 2
    monkeypatch.setenv("XPROBE_SYNTHETIC_THREADS", "1")
    assert default_threads() == 1
    monkeypatch.setenv("XPROBE_SYNTHETIC_THREADS", "two")
    with pytest.raises(UserError):
        default_threads()


def test_synthetic_tasks_use_the_model_s_own_world(cache):
    """A checkpoint of another world (here seed 5) gets that world's examples, not the default world's."""
    from xlingual_probe.synthetic import build_world, nli_examples
    from xlingual_probe.training import TrainConfig
    from xlingual_probe.training.data import load_task_data

    other = dataclasses.replace(get_preset("tiny"), seed=5)
    path = ensure_pretrained(other, progress=False, threads=1)
    _, data = load_task_data(TrainConfig(model=str(path), task="synthetic-nli", out="unused"))
    assert data.train["text"] == [row["text"] for row in nli_examples(build_world(other), "train", other.nli_train, "en")]
    assert len(data.eval["en"]) == other.nli_eval
    _, default = load_task_data(TrainConfig(model="xlm-roberta-base", task="synthetic-nli", out="unused", train_size=5))
    assert default.train["text"] != data.train["text"][:5]
