"""The selection file: the paper preset, hand-written files and their errors, the markdown report."""

import json

import pytest

from xlingual_probe.selection import paper_selection, read_selection, resolve_selection, selection_markdown
from xlingual_probe.training.slowfast import slowfast_settings
from xlingual_probe.utils import UserError


def test_paper_preset_for_12_layers_is_exactly_spec():
    selection = paper_selection(12)
    assert selection["sets"] == {"S_I": "0-9", "S_II": "0-3:ffn", "V_I": "10-11", "V_II": "10-11:attention"}
    assert selection["policy_iv"] is True and selection["source"] == "paper" and selection["notes"] == []
    assert selection["components"] == {"S_II": "ffn", "V_II": "attention"}


@pytest.mark.parametrize("layers, sets", [
    (2, {"S_I": "0", "S_II": "0:ffn", "V_I": "1", "V_II": "1:attention"}),
    (6, {"S_I": "0-4", "S_II": "0-1:ffn", "V_I": "5", "V_II": "5:attention"}),
    (24, {"S_I": "0-19", "S_II": "0-7:ffn", "V_I": "20-23", "V_II": "20-23:attention"}),
])
def test_paper_preset_scales_with_a_note(layers, sets):
    selection = paper_selection(layers)
    assert selection["sets"] == sets
    assert "scaled" in selection["notes"][0]


def test_paper_preset_needs_two_layers():
    with pytest.raises(UserError, match="at least 2 layers"):
        paper_selection(1)


def test_hand_written_yaml_minimal(tmp_path):
    path = tmp_path / "sets.yaml"
    path.write_text("sets:\n  S_I: 0-8\n  S_II: 0,2,3:ffn\n  V_I: 10-11\n  V_II: 11\npolicy_iv: false\n")
    selection = read_selection(path, 12)
    assert selection["sets"] == {"S_I": "0-8", "S_II": "0,2,3:ffn", "V_I": "10-11", "V_II": "11"}
    assert selection["policy_iv"] is False and selection["source"] == "file"
    assert selection["components"] == {"S_II": "ffn", "V_II": "all"}
    # it is what train slowfast takes
    settings = slowfast_settings("slowfast", selection["sets"], policy_iv=selection["policy_iv"])
    assert settings["sets"]["S_II"] == "0,2,3:ffn" and "IV" not in settings["policies"]


def test_written_selection_round_trips(tmp_path):
    path = tmp_path / "selection.json"
    path.write_text(json.dumps(paper_selection(12)))
    selection = resolve_selection(str(path), 12)
    assert selection["source"] == "paper" and selection["sets"] == paper_selection(12)["sets"]


@pytest.mark.parametrize("text, message", [
    ("S_I: 0-9\n", "'sets' key"),
    ("[1, 2]\n", "must hold a mapping"),
    ("sets: {S_I: 0-9}\nextra: 1\n", "unknown key"),
    ("sets: {S_III: 0-9}\n", "unknown set"),
    ("sets: {S_I: [0, 1]}\n", "unit string"),
    ("sets: {S_I: 0-12}\n", "S_I = '0-12'.*out of range"),
    ("sets: {S_I: '0-9:mlp'}\n", "unknown component"),
    ("sets: {S_I: 0-3, S_II: '4:ffn'}\n", "S_II .* must lie inside S_I"),
    ("sets: {S_I: 0-10, V_I: 10-11}\n", "must be disjoint"),
    ("sets: {V_I: '11:attention', V_II: 11}\n", "V_II .* must lie inside V_I"),
    ("sets: {S_I: 0-9}\npolicy_iv: maybe\n", "policy_iv must be true or false"),
    ("sets: {S_I: 0-9}\nnum_layers: 24\n", "made for 24 layers"),
    ("sets: {S_I: [0-9\n", "cannot parse"),
])
def test_read_selection_errors(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        read_selection(path, 12)


def test_missing_file_and_auto_spec(tmp_path):
    with pytest.raises(UserError, match="not found"):
        resolve_selection(str(tmp_path / "nope.json"), 12)
    with pytest.raises(UserError, match="sweep"):
        resolve_selection("auto", 12)


def test_attention_in_s1_and_ffn_in_v1_are_disjoint_by_component(tmp_path):
    path = tmp_path / "sets.json"
    path.write_text(json.dumps({"sets": {"S_I": "0-11:attention", "V_I": "10-11:ffn", "V_II": "10-11:ffn"}}))
    assert read_selection(path, 12)["sets"]["S_II"] is None


def test_markdown_of_a_preset():
    text = selection_markdown(paper_selection(12))
    assert "| V_II | 10-11:attention |" in text and "Policy IV: **on**" in text


def test_a_written_selection_reads_back(tmp_path):
    from xlingual_probe.selection import paper_selection, read_selection, write_selection

    selection = {**paper_selection(12), "sweep": "sweeps/xnli"}
    write_selection(selection, tmp_path)
    assert read_selection(tmp_path / "selection.json", 12)["sets"] == selection["sets"]
