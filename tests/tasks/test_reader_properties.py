"""Property-based tests of the data readers: well-formed files round-trip (LF or CRLF), anything else is one
UserError; no input makes a reader fail another way."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xlingual_probe.tasks.classification import read_table
from xlingual_probe.tasks.panx import PANX_LABELS, read_conll
from xlingual_probe.tasks.qa_data import read_squad_json
from xlingual_probe.tasks.xnli import XNLI_LABELS, read_nli_tsv
from xlingual_probe.utils.errors import UserError

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# field text: anything but the separators of the formats (tab, line ends) and surrounding blanks
field = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\t\r\n\x85"),
                min_size=1, max_size=12).map(str.strip).filter(bool)
raw_bytes = st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode("utf-8")))


def written(content: bytes, suffix: str) -> Path:
    folder = Path(tempfile.mkdtemp())
    path = folder / f"file{suffix}"
    path.write_bytes(content)
    return path


def fails_cleanly(read, path: Path) -> None:
    """``read(path)`` returns, or raises UserError with a one-line message; nothing else."""
    try:
        read(path)
    except UserError as exc:
        assert str(exc) and "\n" not in str(exc)


@SETTINGS
@given(content=raw_bytes)
def test_any_bytes_are_read_or_refused_in_one_line(content):
    fails_cleanly(lambda p: read_conll(p, PANX_LABELS), written(content, ".tsv"))
    fails_cleanly(lambda p: read_nli_tsv(p, header=False), written(content, ".tsv"))
    fails_cleanly(lambda p: read_nli_tsv(p, header=True), written(content, ".tsv"))
    fails_cleanly(read_squad_json, written(content, ".json"))
    fails_cleanly(read_table, written(content, ".tsv"))
    fails_cleanly(read_table, written(content, ".csv"))
    fails_cleanly(read_table, written(content, ".jsonl"))


@SETTINGS
@given(sentences=st.lists(st.lists(st.tuples(field, st.sampled_from(PANX_LABELS)), min_size=1, max_size=6),
                          min_size=1, max_size=5),
       newline=st.sampled_from(["\n", "\r\n"]))
def test_conll_round_trips(sentences, newline):
    text = (newline * 2).join(newline.join(f"{w}\t{t}" for w, t in s) for s in sentences) + newline
    data = read_conll(written(text.encode("utf-8"), ".tsv"), PANX_LABELS)
    assert data["tokens"] == [[w for w, _ in s] for s in sentences]
    assert data["ner_tags"] == [[PANX_LABELS.index(t) for _, t in s] for s in sentences]


@SETTINGS
@given(rows=st.lists(st.tuples(field, field, st.sampled_from(XNLI_LABELS)), min_size=1, max_size=8),
       newline=st.sampled_from(["\n", "\r\n"]))
def test_nli_tsv_round_trips(rows, newline):
    text = "".join(f"{p}\t{h}\t{y}{newline}" for p, h, y in rows)
    data = read_nli_tsv(written(text.encode("utf-8"), ".tsv"), header=False)
    assert list(zip(data["text"], data["text_pair"], data["label"])) == [(p, h, XNLI_LABELS.index(y)) for p, h, y in rows]


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                               st.sampled_from(["data", "paragraphs", "context", "qas", "id", "question", "answers",
                                                "text", "answer_start", "x"]), inner, max_size=4), max_leaves=12)


@SETTINGS
@given(doc=json_values)
def test_any_json_is_squad_or_one_user_error(doc):
    fails_cleanly(read_squad_json, written(json.dumps(doc).encode("utf-8"), ".json"))


@SETTINGS
@given(qas=st.lists(st.tuples(field, field, st.integers(min_value=0, max_value=3)), min_size=1, max_size=4))
def test_squad_json_round_trips(qas):
    context = "the context text"
    doc = {"data": [{"paragraphs": [{"context": context, "qas": [
        {"id": str(i % 2), "question": q, "answers": [{"text": a, "answer_start": s}]}
        for i, (q, a, s) in enumerate(qas)]}]}]}
    data = read_squad_json(written(json.dumps(doc).encode("utf-8"), ".json"))
    assert len(set(data["id"])) == len(qas)  # repeated ids are renamed, never merged
    assert data["question"] == [q for q, _, _ in qas]
    assert [a["text"] for a in data["answers"]] == [[a] for _, a, _ in qas]
