"""Encoding helpers shared by the tasks.

``tokenize_examples`` runs a task's batched tokenising function over raw examples without
``datasets``' fingerprinting, which pickled the tokenizer on every call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import datasets


def tokenize_examples(examples: datasets.Dataset, function: Callable[..., dict[str, list]], **kwargs: Any
                      ) -> datasets.Dataset:
    """``examples.map(function, batched=True, remove_columns=<all>, **kwargs)``, in memory and unnamed.

    ``datasets`` names the result of every ``map`` by hashing the function with all it closes over;
    a tokenising function closes over the tokenizer, which is pickled for that: about 3 s per call
    for XLM-R's 250k-piece vocabulary, once per language and run, before any work. The name is
    only used to look the result up in datasets' own cache, which encoding never uses (encoded
    features are cached by :mod:`xlingual_probe.training.feature_cache`), so a random name is given.
    """
    from datasets.fingerprint import generate_random_fingerprint

    return examples.map(function, batched=True, remove_columns=examples.column_names, keep_in_memory=True,
                        load_from_cache_file=False, new_fingerprint=generate_random_fingerprint(),
                        desc="tokenising", **kwargs)
