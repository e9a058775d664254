"""Property-based tests of the unit / layer-set parser: any string is a layer set or one UserError."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from xlingual_probe.models.units import COMPONENTS, parse_layers, split_unit
from xlingual_probe.selection._rules import format_layers
from xlingual_probe.utils.errors import UserError

layer_counts = st.integers(min_value=1, max_value=48)
unit_alphabet = st.sampled_from(list("0123456789-,: ") + ["top", "bottom", "all", "ffn", "attention", "head",
                                                          "embeddings", "x", "1e3", "−"])


@settings(max_examples=300, deadline=None)
@given(spec=st.one_of(st.text(max_size=20), st.lists(unit_alphabet, max_size=8).map("".join)), n=layer_counts)
def test_any_string_is_a_unit_or_one_user_error(spec, n):
    try:
        kind, layers, component = split_unit(spec, n)
    except UserError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert kind in ("embeddings", "head", "layers") and component in COMPONENTS
    assert layers == sorted(set(layers)) and all(0 <= layer < n for layer in layers)
    assert layers or kind != "layers"  # a layer set never silently names no layer


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=layer_counts)
def test_formatted_layer_sets_parse_back(data, n):
    layers = data.draw(st.sets(st.integers(min_value=0, max_value=n - 1), min_size=1))
    assert parse_layers(format_layers(sorted(layers)), n) == sorted(layers)


@settings(max_examples=200, deadline=None)
@given(n=layer_counts, k=st.integers(min_value=-60, max_value=60))
def test_top_and_bottom_k(n, k):
    for word in ("top", "bottom"):
        try:
            layers = parse_layers(f"{word}{k}" if k >= 0 else f"{word}-{-k}", n)
        except UserError:
            assert not 0 < k <= n
            continue
        assert 0 < k <= n and len(layers) == k
        assert layers == (list(range(k)) if word == "bottom" else list(range(n - k, n)))


@settings(max_examples=200, deadline=None)
@given(n=layer_counts, i=st.integers(min_value=-60, max_value=60))
def test_single_and_negative_indices(n, i):
    try:
        layers = parse_layers(str(i), n)
    except UserError:
        assert not -n <= i < n
        return
    assert layers == [i % n]


def test_a_backwards_range_is_an_error_not_an_empty_set():
    import pytest

    with pytest.raises(UserError, match="runs backwards"):
        parse_layers("3-1", 12)
    assert parse_layers("-3--1", 12) == [9, 10, 11]
