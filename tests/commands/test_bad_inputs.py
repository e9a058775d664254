"""The bad-input catalogue (docs/bad-inputs.md): one test per row, and the table lists exactly these rows.

Each bad input must give one ``error:`` line that says what is wrong, exit status 2, and nothing that
looks like a result. Property-based tests (hypothesis) check that the data readers, the unit parser and
the config loader never fail any other way.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from xlingual_probe.cli import main
from xlingual_probe.utils.io import atomic_write_json

DOC = Path(__file__).resolve().parents[2] / "docs" / "bad-inputs.md"
RESULT_FILES = ("summary.json", "metrics.jsonl", "steps.jsonl", "results.csv", "comparison.csv", "config.json")


@pytest.fixture(scope="module")
def world(tiny_model, tiny_data, tmp_path_factory):
    """Paths every row needs: the tiny model and data, a T5 checkpoint, a scratch folder."""
    from transformers import AutoTokenizer, T5Config, T5Model

    root = tmp_path_factory.mktemp("bad")
    t5 = root / "t5"  # a pre-trained encoder-decoder: no adapter maps its two layer lists
    T5Model(T5Config(num_layers=2, d_model=32, d_ff=64, num_heads=2, d_kv=16, vocab_size=200)).save_pretrained(t5)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(t5)
    return SimpleNamespace(model=str(tiny_model), data=Path(tiny_data), t5=str(t5), root=root, cleanup=None)


def data_copy(world, name: str, rel: str, content: str | bytes) -> str:
    """The fixture data folder with one file replaced."""
    folder = world.root / f"data-{name}"
    if not folder.exists():
        shutil.copytree(world.data, folder)
    path = folder / rel
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content, encoding="utf-8")
    return str(folder)


def train_args(world, out: Path, *extra: str, method: str = "direct", task: str = "xnli",
               data: str | None = None, model: str | None = None) -> list[str]:
    return ["train", method, "--model", model or world.model, "--task", task, "--data-dir", data or str(world.data),
            "--max-steps", "2", "--batch-size", "16", "--quiet", "--out", str(out), *extra]


def _sweep_of_another_model(world, out):
    atomic_write_json(out / "sweep.json", {"schema_version": 1, "options": {}, "num_layers": 2, "jobs": [],
                                           "train": {"model": "other-model", "task": "xnli"}})
    return ["probe", "layers", "--model", world.model, "--task", "xnli", "--data-dir", str(world.data),
            "--max-steps", "2", "--experiments", "reinit", "--seed", "1", "--quiet", "--out", str(out)]


def _comparison_of_another_model(world, out):
    atomic_write_json(out / "compare.json", {"schema_version": 1, "train": {"model": "other-model", "task": "xnli"}})
    return ["compare", "--model", world.model, "--task", "xnli", "--data-dir", str(world.data), "--max-steps", "2",
            "--methods", "direct", "--seed", "1", "--quiet", "--out", str(out)]


def _another_run(world, out):
    from xlingual_probe.runs import NUMERICS_VERSION
    from xlingual_probe.training import TrainConfig

    argv = train_args(world, out, "--resume", "--lr", "1e-3")
    other = TrainConfig(model=world.model, task="xnli", out=str(out), data_dir=str(world.data), max_steps=2,
                        batch_size=16, lr=5e-3)  # another learning rate: another run
    atomic_write_json(out / "config.json", {"config": other.to_dict(), "numerics_version": NUMERICS_VERSION})
    return argv


def _other_files(world, out):
    (out / "notes.txt").write_text("my notes")
    return train_args(world, out, "--overwrite")


def _out_in_use(world, out):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    world.cleanup = holder
    (out / "lease.json").write_text(json.dumps({"host": socket.gethostname(), "pid": holder.pid,
                                                 "heartbeat": 4e9, "acquired": 4e9}))
    return train_args(world, out, "--resume")


def _file_as_out(world, out):
    out.rmdir()
    out.write_text("not a folder")
    return train_args(world, out)


def _selection(world, out):
    sel = world.root / "sel.yaml"
    sel.write_text("sets: {S_I: 0-30, S_II: null, V_I: null, V_II: null}\n")
    return train_args(world, out, "--sets", str(sel), method="slowfast")


def _config(text: str | bytes):
    def build(world, out):
        path = world.root / f"config-{abs(hash(text))}.yaml"
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
        return train_args(world, out, "--config", str(path))
    return build


def _data(rel: str, content: str | bytes, task: str = "xnli"):
    def build(world, out):
        return train_args(world, out, task=task, data=data_copy(world, re.sub(r"\W", "", f"{rel}{content!r}")[:60],
                                                                    rel, content))
    return build


def _classification(world, out):
    folder = world.root / "classification"
    folder.mkdir(exist_ok=True)
    for split in ("train", "dev"):
        (folder / f"{split}-en.tsv").write_text("text\tlabel\nthe cat sees the dog\tyes\nthe dog\tno\n")
    return train_args(world, out, "--text-columns", "nope", "--label-column", "label", task="classification",
                      data=str(folder))


def _args(*extra: str, **kwargs):
    return lambda world, out: train_args(world, out, *extra, **kwargs)


def _batch_on_three_processes(world, out, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setattr("xlingual_probe.training.loop.run_accelerator",
                        lambda precision, **kw: SimpleNamespace(num_processes=3, is_main_process=True))
    return train_args(world, out)


def _launch_did_not_join(world, out, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr("xlingual_probe.training.loop.run_accelerator",
                        lambda precision, **kw: SimpleNamespace(num_processes=1, is_main_process=False))
    return train_args(world, out)


XNLI_DEV = "xnli/dev-de.tsv"
CATALOGUE = {
    "unknown-model": (lambda w, o: train_args(w, o, model="no-such-org/no-such-model"),
                      "cannot load the tokenizer of 'no-such-org/no-such-model'"),
    "missing-model-folder": (lambda w, o: train_args(w, o, model="./no-such-folder"),
                             "model folder not found: ./no-such-folder"),
    "unsupported-architecture": (lambda w, o: train_args(w, o, model=w.t5), "register an adapter"),
    "unknown-task": (_args(task="xnlii"), "unknown task 'xnlii'; choose one of: classification"),
    "unknown-method": (_args(method="directt"), "unknown method 'directt'"),
    "unknown-language": (_args("--langs", "en,xx"), "language(s) xx not available for task 'xnli'"),
    "unknown-source-language": (_args("--source-lang", "xx"), "source language 'xx' is not available"),
    "missing-data-folder": (lambda w, o: train_args(w, o, data="/no/such/folder"), "data folder not found"),
    "tsv-too-few-columns": (_data(XNLI_DEV, "a\tb\n"), ("dev-de.tsv:1: expected premise, hypothesis and label "
                                                      "separated by tabs (3 columns), got 2")),
    "tsv-too-many-columns": (_data(XNLI_DEV, "a\tb\tneutral\textra\n"), "(3 columns), got 4"),
    "tsv-unknown-label": (_data(XNLI_DEV, "a\tb\tmaybe\n"), "dev-de.tsv:1: unknown label 'maybe'"),
    "tsv-empty": (_data(XNLI_DEV, ""), "dev-de.tsv holds no examples"),
    "tsv-bad-encoding": (_data(XNLI_DEV, "caf\xe9\tb\tneutral\n".encode("latin-1")),
                         "dev-de.tsv: not UTF-8 text (invalid continuation byte at byte 3)"),
    "json-not-json": (_data("mlqa/dev-context-de-question-de.json", "{not json", "mlqa"), "is not valid JSON"),
    "json-wrong-shape": (_data("mlqa/dev-context-de-question-de.json", "[]", "mlqa"),
                         'is not SQuAD-v1.1 JSON: expected an object with a "data" list of articles'),
    "json-empty": (_data("mlqa/dev-context-de-question-de.json", "", "mlqa"), "is not valid JSON: Expecting value"),
    "json-bad-encoding": (_data("mlqa/dev-context-de-question-de.json", b'{"data": "\xe9"}', "mlqa"),
                          "not UTF-8 text"),
    "conll-no-tab": (_data("panx/dev-de.tsv", "word B-PER\n", "panx"), "expected token<TAB>tag, got 'word B-PER'"),
    "conll-unknown-tag": (_data("panx/dev-de.tsv", "word\tB-XYZ\n", "panx"), "unknown tag 'B-XYZ'"),
    "conll-empty": (_data("panx/dev-de.tsv", "", "panx"), "holds no sentences"),
    "conll-bad-encoding": (_data("panx/dev-de.tsv", b"caf\xe9\tO\n", "panx"), "not UTF-8 text"),
    "classification-missing-column": (_classification, "column 'nope' not found (columns: text, label)"),
    "config-wrong-type": (_config("lr: fast\n"), "--lr must be a number, not 'fast'"),
    "config-unknown-key": (_config("learning_rate: 1e-3\n"), "unknown option(s) in config: 'learning_rate'"),
    "config-not-yaml": (_config("lr: [1\n"), "cannot parse config file"),
    "config-bad-encoding": (_config(b"lr: \xe9\n"), "not UTF-8 text"),
    "selection-layers-out-of-range": (_selection, "layer 30 out of range: the model has 2 layers (0-1)"),
    "negative-lr": (_args("--lr", "-1"), "--lr must be positive"),
    "c1-above-1": (_args("--sets", "paper", "--c1", "2", method="slowfast"), "c1 must be in [0, 1]"),
    "c2-below-1": (_args("--sets", "paper", "--c2", "0.5", method="slowfast"), "c2 must be a finite number >= 1"),
    "window-below-1": (_args("--sets", "paper", "--window", "0", method="slowfast"), "window must be an integer >= 1"),
    "eval-every-0": (_args("--eval-every", "0"), "--eval-every must be positive"),
    "max-length-too-small": (_args("--max-length", "2"), "--max-length 2 leaves no room for text"),
    "batch-not-divisible": (_batch_on_three_processes, ("--batch-size 16 must be divisible by processes × "
                                                       "accumulation steps (3 × 1 = 3)")),
    "launch-did-not-join": (_launch_did_not_join, "started 2 processes (WORLD_SIZE=2, RANK=1) but they did not join"),
    "processes-under-an-executor": (_args("--num-processes", "2", "--executor", "processes", "--workers", "2"),
                                    ("--num-processes 2 runs each run on 2 processes of this machine, which "
                                     "--executor processes cannot start")),
    "out-holds-another-run": (_another_run, "its run identity differs: config epochs"),
    "out-holds-other-files": (_other_files, "holds files (notes.txt, ...) but no run directory (no config.json)"),
    "out-is-a-file": (_file_as_out, "cannot create the output folder"),
    "out-in-use": (_out_in_use, "is in use by pid"),
    "sweep-of-another-model": (_sweep_of_another_model, ("holds a sweep of other-model on xnli with other training "
                                                        "options")),
    "comparison-of-another-model": (_comparison_of_another_model, "holds a comparison of other-model on xnli"),
}
ACCEPTED = {"tsv-crlf", "conll-crlf"}  # rows whose right outcome is no error: see the reader tests below


def _build(row: str, world, out: Path, monkeypatch) -> list[str]:
    build, _ = CATALOGUE[row]
    if build in (_batch_on_three_processes, _launch_did_not_join):
        return build(world, out, monkeypatch)
    return build(world, out)


def snapshot(path: Path) -> dict[str, bytes]:
    """What a path holds (a folder's files, or a file), to check a refused command changed nothing."""
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("row", list(CATALOGUE))
def test_bad_input_is_one_error_line_exit_2_and_no_result(row, world, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    argv = _build(row, world, out, monkeypatch)
    before = snapshot(out)
    monkeypatch.setattr("sys.argv", ["xprobe", *argv])
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        if world.cleanup is not None:
            world.cleanup.kill()
            world.cleanup.wait()
            world.cleanup = None
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_info.value.code == 2, err
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert CATALOGUE[row][1] in err[0], err[0]
    assert snapshot(out) == before  # nothing written, nothing deleted
    assert not any(name in RESULT_FILES for name in snapshot(out) if name not in before)


def test_the_documented_table_lists_exactly_the_tested_rows():
    rows = [r for r in re.findall(r"^\| ([a-z0-9-]+) \|", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
            if r != "id"]
    assert len(rows) == len(set(rows))
    assert set(rows) == set(CATALOGUE) | ACCEPTED


def test_crlf_files_are_read_exactly_as_lf_files(tiny_data, tmp_path):
    from xlingual_probe.tasks.panx import PANX_LABELS, read_conll
    from xlingual_probe.tasks.xnli import read_nli_tsv

    for rel, read in (("xnli/dev-de.tsv", lambda p: read_nli_tsv(p, header=False)),
                      ("panx/dev-de.tsv", lambda p: read_conll(p, PANX_LABELS, "de"))):
        crlf = tmp_path / Path(rel).name
        crlf.write_bytes(Path(tiny_data, rel).read_bytes().replace(b"\n", b"\r\n"))
        assert b"\r\n" in crlf.read_bytes()
        assert read(crlf).to_dict() == read(Path(tiny_data, rel)).to_dict()
