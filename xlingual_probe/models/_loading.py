"""Load a pre-trained encoder with a task head, and its (fast) tokenizer.

One function for every task: the task's ``head`` picks the Auto class (sentence classification for
XNLI/PAWS-X, token classification for NER/POS, span extraction for MLQA/XQuAD). Every way loading can
fail for the user — a typo in the model name, no network, ``HF_HUB_OFFLINE=1`` with an empty cache, a
missing local folder, a checkpoint fine-tuned with another label count — becomes one :class:`UserError`
line instead of a page of hub traceback. Offline mode is left to transformers itself, which reads
``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``.

What the checkpoint held is part of the result (:func:`load_pretrained`): the parameters it did not
hold — the new task head, and e.g. the pooler of multilingual-e5, which ships without one — are newly
initialised, not pre-trained, and NoisyTune must leave them alone.

Weights are always loaded in float32: transformers v5 defaults to ``dtype="auto"``, which would give
half-precision weights for checkpoints stored that way, and the optimizer experiments assume float32
master weights (mixed precision is the training loop's business, through autocast).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from xlingual_probe.utils.errors import UserError

HEADS = {
    "sequence": AutoModelForSequenceClassification,
    "token": AutoModelForTokenClassification,
    "qa": AutoModelForQuestionAnswering,
}


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _load_error(name_or_path: str, what: str, error: BaseException) -> UserError:
    return UserError(f"cannot load the {what} of {name_or_path!r}: {_one_line(error)} — give a local "
                     "folder (with config.json) or a hub name; offline (HF_HUB_OFFLINE=1) only local "
                     "folders and models already in the Hugging Face cache work")


def _ensure_pad_token(tokenizer: PreTrainedTokenizerBase, name_or_path: str) -> None:
    # dynamic padding needs a pad token; encoders without one usually pad with a special token that
    # the attention mask hides anyway
    if tokenizer.pad_token is not None:
        return
    for fallback in ("eos_token", "sep_token", "unk_token"):
        token = getattr(tokenizer, fallback, None)
        if token is not None:
            tokenizer.pad_token = token
            return
    raise UserError(f"the tokenizer of {name_or_path!r} has no pad token and no eos/sep/unk token to pad with")


@dataclass
class LoadedModel:
    """A model loaded from a checkpoint, its tokenizer, and which of its parameters the checkpoint held.

    Attributes:
        model: the model (float32, eval mode, as ``from_pretrained`` leaves it).
        tokenizer: its fast tokenizer, with a pad token.
        new_parameters: names (as ``named_parameters`` spells them) of the parameters the checkpoint
            did not hold or held with another shape: newly initialised, not pre-trained.
    """

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    new_parameters: frozenset[str]


def load_model(
    name_or_path: str,
    head: str,
    num_labels: int,
    *,
    labels: list[str] | None = None,
    trust_remote_code: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """:func:`load_pretrained`'s model and tokenizer (see there)."""
    loaded = load_pretrained(name_or_path, head, num_labels, labels=labels, trust_remote_code=trust_remote_code)
    return loaded.model, loaded.tokenizer


def load_pretrained(
    name_or_path: str,
    head: str,
    num_labels: int,
    *,
    labels: list[str] | None = None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load ``name_or_path`` with a freshly initialised task head, in float32, and its fast tokenizer.

    Args:
        name_or_path: hub name (e.g. ``xlm-roberta-base``) or local folder.
        head: ``"sequence"``, ``"token"`` or ``"qa"``.
        num_labels: classes of the head; ignored for ``"qa"`` (always 2: start and end logits).
        labels: class names (index = class id), stored as ``id2label`` / ``label2id``.
        trust_remote_code: allow the checkpoint's own modelling code (off unless asked).

    Returns:
        The model (in eval mode, as ``from_pretrained`` leaves it), its tokenizer, which always has a pad
        token (``model.config.pad_token_id`` matches it when the config had none), and the names of
        the parameters the checkpoint did not hold (``transformers``' loading info: missing or
        shape-mismatched keys).

    Raises:
        UserError: for an unknown head, labels that do not match ``num_labels``, a tokenizer that is
            not fast (offsets and word ids are needed), or any failure to find or load the model.
    """
    if head not in HEADS:
        raise UserError(f"unknown head {head!r}; choose one of: {', '.join(HEADS)}")
    if head == "qa":
        num_labels, labels = 2, None
    if labels is not None and len(labels) != num_labels:
        raise UserError(f"{len(labels)} label names given for {num_labels} labels")
    # an explicit path never falls through to the hub, whose "repo id" message would confuse
    if name_or_path.startswith(("/", ".", "~")) or os.path.isabs(name_or_path):
        if not Path(name_or_path).expanduser().is_dir():
            raise UserError(f"model folder not found: {name_or_path}")
        name_or_path = str(Path(name_or_path).expanduser())
    remote: dict[str, Any] = {"trust_remote_code": True} if trust_remote_code else {}

    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, **remote)
    except (OSError, ValueError) as e:
        raise _load_error(name_or_path, "tokenizer", e) from e
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(f"the tokenizer of {name_or_path!r} is not a fast (Rust) tokenizer; "
                        "offsets and word ids need one")
    _ensure_pad_token(tokenizer, name_or_path)

    try:
        config = AutoConfig.from_pretrained(name_or_path, **remote)
    except (OSError, ValueError) as e:
        raise _load_error(name_or_path, "config", e) from e
    config.num_labels = num_labels
    if labels is not None:
        config.id2label = dict(enumerate(labels))
        config.label2id = {label: i for i, label in enumerate(labels)}
    if getattr(config, "pad_token_id", None) is None:
        config.pad_token_id = tokenizer.pad_token_id

    try:
        model, info = HEADS[head].from_pretrained(name_or_path, config=config, dtype=torch.float32,
                                                  output_loading_info=True, **remote)
    except (OSError, ValueError) as e:
        raise _load_error(name_or_path, "weights", e) from e
    except RuntimeError as e:
        if "mismatch" not in str(e):
            raise
        raise UserError(f"the head of {name_or_path!r} does not fit {num_labels} labels (a checkpoint "
                        "already fine-tuned on another label set?); start from the pre-trained encoder "
                        "instead") from e
    not_loaded = set(info.get("missing_keys") or ()) | {key[0] for key in info.get("mismatched_keys") or ()}
    new = frozenset(name for name, _ in model.named_parameters() if name in not_loaded)
    return LoadedModel(model, tokenizer, new)
