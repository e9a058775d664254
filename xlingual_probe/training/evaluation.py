"""Evaluation of every language's validation set (each held-out half) or test set, with length-sorted,
dynamically padded batches.

Each language's examples are encoded once; features are sorted by length so a batch pads to a
similar length (a large saving on CPU), predictions are put back in the original order and the task
scores them with its official metric. Features can come from the on-disk cache
(:class:`~xlingual_probe.training.feature_cache.FeatureCache`); the model runs under
``torch.inference_mode``.

With N processes, process r runs batches r, r + N, r + 2N, ... of the length-sorted order (every
process gets batches of every length) and every prediction travels with its feature index. Nothing is
padded to make the shards equal, so the gathered predictions hold each feature exactly once (checked):
the duplicated samples that a padded last batch adds, and that Accelerate's ``gather_for_metrics``
exists to remove, cannot occur. Scores are therefore identical with 1 and N processes (tested).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import datasets
import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from tqdm.auto import tqdm

from xlingual_probe.runs import summarise_scores
from xlingual_probe.tasks import Task
from xlingual_probe.training.feature_cache import FeatureCache


@dataclass
class EvalSet:
    """One language's evaluation data: raw examples, encoded features and a length-sorted order."""

    lang: str
    examples: datasets.Dataset
    features: datasets.Dataset
    order: list[int]  # feature indices sorted by length (descending)
    split: str = "validation"  # which data: a half of the validation split ("selection", "reporting") or "test"


def prepare_eval_sets(task: Task, eval_examples: dict[str, datasets.Dataset], tokenizer, max_length: int,
                      split: str = "validation", cache: FeatureCache | None = None) -> list[EvalSet]:
    """Encode each language's examples once (through ``cache`` when given) and sort the features by length
    (``split`` names the data: a half of the validation split or ``test``)."""
    sets = []
    for lang, examples in eval_examples.items():
        if cache is not None:
            features = cache.encode(examples, train=False)
        else:
            features = task.encode(examples, tokenizer, train=False, max_length=max_length)
        lengths = [len(ids) for ids in features["input_ids"]]
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        sets.append(EvalSet(lang, examples, features, order, split))
    return sets


def model_batch(task: Task, features: datasets.Dataset, indices: list[int], collate, train: bool
                ) -> dict[str, torch.Tensor]:
    """Collate the model columns of ``features[indices]`` into a padded batch."""
    columns = [c for c in task.model_columns(train) if c in features.column_names]
    rows = features.select_columns(columns)[indices]
    return collate([{c: rows[c][i] for c in columns} for i in range(len(indices))])


def _in_feature_order(gathered: list[tuple[int, Any]], n_features: int, lang: str) -> list[Any]:
    """The predictions of ``(feature index, prediction)`` pairs gathered from every process, in feature
    order; each feature exactly once (a duplicated or lost feature would bias the score silently)."""
    ordered = sorted(gathered, key=lambda item: item[0])
    if [i for i, _ in ordered] != list(range(n_features)):
        raise RuntimeError(f"{lang}: gathered {len(ordered)} predictions for {n_features} features, "
                           "not each feature once")
    return [p for _, p in ordered]


@torch.inference_mode()
def evaluate(model: torch.nn.Module, task: Task, eval_sets: list[EvalSet], collate, accelerator: Accelerator,
             batch_size: int, source_lang: str, show_progress: bool = True) -> dict[str, Any]:
    """Score the model on every language.

    Returns:
        ``metrics`` {lang: primary metric}, ``details`` {lang: all metrics}, the source / target
        mean / overall / gap summary and ``eval_seconds``.
    """
    start = time.perf_counter()
    was_training = model.training
    model.eval()
    # the unwrapped model: a DDP forward broadcasts buffers, a collective that would hang when the
    # processes run different numbers of batches
    forward = accelerator.unwrap_model(model)
    details: dict[str, dict[str, float]] = {}
    n_batches = sum((len(s.order) + batch_size - 1) // batch_size for s in eval_sets)
    bar = tqdm(total=n_batches, desc="evaluating", leave=False,
               disable=not show_progress or not accelerator.is_main_process)
    for eval_set in eval_sets:
        batches = [eval_set.order[i:i + batch_size] for i in range(0, len(eval_set.order), batch_size)]
        mine = batches[accelerator.process_index::accelerator.num_processes]
        local: list[tuple[int, Any]] = []
        for indices in mine:
            batch = model_batch(task, eval_set.features, indices, collate, train=False)
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            with accelerator.autocast():
                outputs = forward(**batch)
            local.extend(zip(indices, task.predictions(outputs, batch)))
            bar.update(1)
        predictions = _in_feature_order(gather_object(local) if accelerator.num_processes > 1 else local,
                                        len(eval_set.order), f"{eval_set.lang} ({eval_set.split})")
        details[eval_set.lang] = task.score(predictions, eval_set.features, eval_set.examples, eval_set.lang)
    bar.close()
    model.train(was_training)
    scores = {lang: values[task.metric] for lang, values in details.items()}
    return {"metrics": scores, **summarise_scores(scores, source_lang), "details": details,
            "eval_seconds": time.perf_counter() - start}
