"""The data fingerprint: every file a run reads, the examples it uses, and QA's training file."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.tiny import squad_json, tiny_config, write_grouped_xnli
from xlingual_probe.tasks import get_task
from xlingual_probe.training import train
from xlingual_probe.training.data import data_fingerprint, in_domain_languages, load_fingerprinted
from xlingual_probe.training.identity import identity_differences, run_identity
from xlingual_probe.utils import read_json


@pytest.fixture
def data(tiny_data, tmp_path):
    """A private copy of the fixture data (tests here change files)."""
    return shutil.copytree(tiny_data, tmp_path / "data")


def test_every_file_read_is_listed_with_its_bytes_hash(data, tmp_path):
    _, loaded, fingerprint = load_fingerprinted(tiny_config("m", data, tmp_path / "run"))
    listed = {s["path"]: s for s in fingerprint["sources"]}
    expected = [data / "xnli" / name for name in ("mnli_train.tsv", "dev-en.tsv", "dev-de.tsv", "dev-es.tsv")]
    assert sorted(listed) == sorted(str(p.resolve()) for p in expected)  # the header sniff adds no second entry
    for path in expected:
        entry = listed[str(path.resolve())]
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["size"] == path.stat().st_size
        assert entry["role"] == ("train" if path.name == "mnli_train.tsv" else "eval")
    assert set(fingerprint["examples"]["eval"]) == set(loaded.eval) == {"en", "de", "es"}


def test_examples_digest_follows_the_sampled_examples(data, tmp_path):
    base = load_fingerprinted(tiny_config("m", data, tmp_path / "run", train_size=64, eval_size=20))[2]["examples"]
    again = load_fingerprinted(tiny_config("m", data, tmp_path / "run", train_size=64, eval_size=20))[2]["examples"]
    assert again == base
    other = load_fingerprinted(tiny_config("m", data, tmp_path / "run", train_size=64, eval_size=20,
                                           data_seed=1))[2]["examples"]
    assert other["train"] != base["train"] and other["eval"]["de"] != base["eval"]["de"]
    shots = load_fingerprinted(tiny_config("m", data, tmp_path / "run", train_size=64, eval_size=20,
                                           few_shot=2))[2]["examples"]
    assert shots["train"] != base["train"] and shots["eval"]["en"] == base["eval"]["en"]


def test_test_splits_are_listed_with_their_role_and_their_sampled_examples(tmp_path):
    config = tiny_config("m", write_grouped_xnli(tmp_path / "data", n_dev=8, n_test=4), tmp_path / "run")
    _, loaded, fingerprint = load_fingerprinted(config)
    roles = {Path(s["path"]).name: s["role"] for s in fingerprint["sources"]}
    assert roles["test-de.tsv"] == "test" and roles["dev-de.tsv"] == "eval" and roles["mnli_train.tsv"] == "train"
    assert set(fingerprint["examples"]["test"]) == set(loaded.test) == {"en", "de", "es"}
    small_config = config.replace(test_size=6)  # an id-based test subsample
    small = load_fingerprinted(small_config)[2]
    smaller = small["examples"]
    assert smaller["test"]["de"] != fingerprint["examples"]["test"]["de"]
    assert smaller["eval"] == fingerprint["examples"]["eval"]
    reasons = identity_differences(run_identity(config, fingerprint), run_identity(small_config, small))
    assert "data: the de test examples differ" in reasons and "config test_size (None there, 6 now)" in reasons
    off = load_fingerprinted(config.replace(score_test=False))[2]
    assert off["examples"]["test"] == {} and "test" not in {s["role"] for s in off["sources"]}
    # few-shot examples are drawn per training seed: another seed trains on other shots
    shots = load_fingerprinted(config.replace(few_shot=2))[2]["examples"]
    other_seed = load_fingerprinted(config.replace(few_shot=2, seed=2))[2]["examples"]
    assert shots["train"] != other_seed["train"] and shots["eval"]["de"] != other_seed["eval"]["de"]


def test_data_fingerprint_is_remembered_until_a_file_changes(data, tmp_path, monkeypatch):
    config = tiny_config("m", data, tmp_path / "run")
    first = data_fingerprint(config)
    calls = []
    task_class = type(get_task("xnli"))
    original = task_class.load
    monkeypatch.setattr(task_class, "load", lambda self, opts: calls.append(1) or original(self, opts))
    assert data_fingerprint(config) == first and calls == []  # from memory: no reload
    with open(data / "xnli" / "dev-de.tsv", "a", encoding="utf-8") as f:
        f.write("the cat sees the dog .\tthe cat sees the dog .\tentailment\n")
    changed = data_fingerprint(config)
    assert calls == [1] and changed != first
    assert changed["examples"]["eval"]["de"] != first["examples"]["eval"]["de"]


def test_qa_training_file_is_recorded_and_printed(data, tmp_path, capsys):
    # no SQuAD file in the folder: MLQA trains on TyDiQA-GoldP's English training set (XTREME's fallback)
    config = tiny_config("m", data, tmp_path / "run", task="mlqa")
    task, _, fingerprint = load_fingerprinted(config)
    train_sources = [s for s in fingerprint["sources"] if s["role"] == "train"]
    assert [(s["dataset"], s["path"].endswith("tydiqa.goldp.en.train.json")) for s in train_sources] == [("tydiqa", True)]
    assert in_domain_languages(task, fingerprint, "en") == []  # MLQA-en after TyDiQA training: zero-shot
    # with SQuAD present it is used
    (data / "squad").mkdir()
    (data / "squad" / "train-v1.1.json").write_text(json.dumps(squad_json(20, "en", 5)))
    squad = [s for s in load_fingerprinted(config)[2]["sources"] if s["role"] == "train"]
    assert [s["dataset"] for s in squad] == ["squad"]


def test_tydiqa_en_after_tydiqa_en_training_is_in_domain(tiny_model, data, tmp_path, capsys):
    for lang, words in (("en", "en"), ("fi", "de")):  # the fixture's words exist in en, de and es only
        (data / "tydiqa" / f"tydiqa.goldp.{lang}.dev.json").write_text(json.dumps(squad_json(6, words, 3)))
    config = tiny_config(tiny_model, data, tmp_path / "run", task="tydiqa", langs=["fi"], max_steps=1,
                         eval_every=1, train_size=8, max_length=96)
    train(config, show_progress=True)
    printed = capsys.readouterr()
    assert "tydiqa.goldp.en.train.json (tydiqa, sha256" in printed.out + printed.err
    assert "the en evaluation is in-domain (same dataset), not zero-shot" in printed.out + printed.err
    info = read_json(tmp_path / "run" / "config.json")
    assert info["data"]["in_domain"] == ["en"]
    assert info["data"]["train_sources"][0].endswith("tydiqa.goldp.en.train.json")
    assert {s["role"] for s in info["data_fingerprint"]["sources"]} == {"train", "eval"}
