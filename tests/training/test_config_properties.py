"""Property-based tests of the config loader: any YAML mapping is a TrainConfig or one UserError."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from xlingual_probe.commands.options import resolve_train_options
from xlingual_probe.training import TrainConfig, read_config_file
from xlingual_probe.utils.errors import UserError

FIELDS = sorted(TrainConfig.field_names() - {"model", "task", "out"})
values = st.recursive(st.none() | st.booleans() | st.integers(min_value=-10**6, max_value=10**6)
                      | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                   max_size=3), max_leaves=6)
mappings = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.sampled_from([f.replace("_", "-") for f in FIELDS]),
                                     st.text(max_size=6)), values, max_size=6)


@settings(max_examples=300, deadline=None)
@given(mapping=mappings)
@example(mapping={"recipe": [None]})  # found by this test: an unhashable recipe name was a TypeError
def test_any_mapping_is_a_config_or_one_user_error(mapping):
    path = Path(tempfile.mkdtemp()) / "config.yaml"
    path.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    try:
        values_, seeds = resolve_train_options({"config": path, "model": "m", "task": "xnli"})
        config = TrainConfig.from_dict({**values_, "seed": seeds[0], "out": "o"})
    except UserError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    again = TrainConfig.from_dict(config.to_dict())  # a valid config survives its own round trip
    assert again == config


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80))
def test_any_text_is_a_config_file_or_one_user_error(text):
    path = Path(tempfile.mkdtemp()) / "config.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        read_config_file(path)
    except UserError as exc:
        assert str(exc) and "\n" not in str(exc)
