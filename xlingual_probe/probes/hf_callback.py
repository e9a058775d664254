"""The gap-over-time probe for your own ``transformers.Trainer`` scripts.

Context:
    ``xprobe train`` evaluates every language every ``eval_every`` updates and writes the run
    directory that ``xprobe plot``, :func:`~xlingual_probe.runs.load_runs` and the reports read.
    :class:`GapCallback` gives a ``Trainer`` script the same record: every ``eval_every`` global
    steps (and at the end of training) it scores the Trainer's model on each language's evaluation
    set and appends one line to ``metrics.jsonl`` with the loop's schema — ``step``, ``loss`` (mean
    of the training losses the Trainer logged since the previous evaluation; ``null`` when none was
    logged), ``metrics`` {lang: score}, ``source``, ``target_mean``, ``overall``, ``gap``,
    ``details`` and ``eval_seconds``. It writes ``config.json`` first and ``summary.json``
    (``best`` and ``final``) at the end, so the folder is a run directory like any other. The sets
    given to the callback are scored whole, with no held-out halves to choose a checkpoint on, so its
    ``best`` is the last evaluation (``select_by`` ``last``): a table never reports the maximum over
    the data it was chosen on.

    The callback is thin, as Trainer callbacks should be: it turns Trainer events into evaluations
    and file writes, and changes nothing in training. It does not call ``trainer.evaluate`` or
    ``trainer.predict`` (they would fire the Trainer's own logging and callbacks); it runs the model
    itself in eval mode, without gradients and without a ``DataLoader`` (whose iterator draws a seed
    from the global RNG), so the training losses are the same with and without it.

Usage::

    from transformers import Trainer, TrainingArguments
    from xlingual_probe.probes.hf_callback import GapCallback

    # per-language validation sets, tokenised as the Trainer's own datasets (with a `label(s)` column)
    gap = GapCallback({"en": dev_en, "de": dev_de, "sw": dev_sw}, source_lang="en",
                      output_dir="runs/my-trainer", eval_every=100)        # accuracy by default
    trainer = Trainer(model=model, args=TrainingArguments("out", logging_steps=10),
                      train_dataset=train_en, processing_class=tokenizer, callbacks=[gap])
    trainer.train()
    # then: xprobe plot runs/my-trainer      (or xlingual_probe.runs.load_runs("runs/my-trainer"))

Scores are on a 0–100 scale. By default a prediction is the argmax of the logits and the score is
accuracy over the positions whose label is not -100 (sequence classification accuracy; token
accuracy for tagging). ``task="panx"`` (any registered token task) scores entity-level F1 with
seqeval, naming the ids with the evaluation sets' ``ClassLabel`` if they have one, else the model's
``id2label``; names that are not IOB2 tags (``LABEL_0``… of a model built without ``id2label``) are
an error, not a score, and so is a model whose ``id2label`` disagrees with the data's labels (for
sentence tasks too). ``task="xnli"`` (any sentence task) scores accuracy. Anything else:
pass ``compute_metric``, a function of a :class:`transformers.EvalPrediction` returning a score on
0–100, or a dict of scores (with ``metric_name`` saying which one is primary, unless it has one key).

Batches are made with ``data_collator`` if given, else the collator of the Trainer's training
``DataLoader``, else padding with the Trainer's tokenizer. In a multi-process run only the main
process evaluates (on the whole sets); the others wait for it at the next gradient synchronisation.
"""

from __future__ import annotations

import inspect
import platform
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import ClassLabel
from transformers import (
    DataCollatorWithPadding,
    EvalPrediction,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
    default_data_collator,
)

from xlingual_probe.runs import SCHEMA_VERSION, RunWriter, summarise_scores
from xlingual_probe.tasks.panx import check_iob2_tags
from xlingual_probe.training.model_selection import protocol_record
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import read_jsonl

__all__ = ["GapCallback", "label_accuracy", "seqeval_f1"]

IGNORE_INDEX = -100
_LABEL_KEYS = ("labels", "label", "label_ids")

MetricFn = Callable[[EvalPrediction], "float | Mapping[str, float]"]


def label_accuracy(prediction: EvalPrediction) -> float:
    """Accuracy (0–100) of the logits' argmax over the positions whose label is not -100.

    >>> logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    >>> label_accuracy(EvalPrediction(predictions=logits, label_ids=np.array([1, 1, -100])))
    50.0
    """
    predicted = np.asarray(prediction.predictions).argmax(axis=-1)
    labels = np.asarray(prediction.label_ids)
    keep = labels != IGNORE_INDEX
    return 100.0 * float((predicted[keep] == labels[keep]).mean()) if keep.any() else 0.0


def seqeval_f1(id2label: Mapping[int, str]) -> MetricFn:
    """Entity-level F1 / precision / recall (seqeval default mode, 0–100) of token-classification logits."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    def score(prediction: EvalPrediction) -> dict[str, float]:
        predicted = np.asarray(prediction.predictions).argmax(axis=-1)
        labels = np.asarray(prediction.label_ids)
        y_true = [[id2label[int(g)] for g in row_g if g != IGNORE_INDEX] for row_g in labels]
        y_pred = [[id2label[int(p)] for p, g in zip(row_p, row_g) if g != IGNORE_INDEX]
                  for row_p, row_g in zip(predicted, labels)]
        return {name: 100.0 * float(fn(y_true, y_pred, zero_division=0))
                for name, fn in (("f1", f1_score), ("precision", precision_score), ("recall", recall_score))}

    return score


def _pad_concat(arrays: list[np.ndarray], pad: float) -> np.ndarray:
    """Concatenate per-batch arrays along axis 0, padding axis 1 (sequence length) to the longest."""
    if arrays[0].ndim < 2 or len({a.shape[1] for a in arrays}) == 1:
        return np.concatenate(arrays)
    width = max(a.shape[1] for a in arrays)
    return np.concatenate([np.pad(a, [(0, 0), (0, width - a.shape[1])] + [(0, 0)] * (a.ndim - 2),
                                  constant_values=pad) for a in arrays])


class GapCallback(TrainerCallback):
    """Evaluate every language every ``eval_every`` steps and write a run directory (see the module).

    Args:
        eval_datasets: ``{lang: dataset}``, tokenised like the Trainer's ``eval_dataset`` (a
            ``datasets.Dataset`` or a sequence of feature dicts), with the labels in ``labels``
            (or ``label`` / ``label_ids``).
        source_lang: the fine-tuning language (it must be a key of ``eval_datasets``).
        output_dir: the run directory to write.
        eval_every: evaluate every this many global (optimizer) steps, and at the end.
        compute_metric: ``EvalPrediction -> score (0–100) | {name: score}``; excludes ``task``.
        task: a registered task name whose head picks the metric (sentence tasks: accuracy;
            token tasks: seqeval F1); QA needs ``compute_metric``.
        metric_name: the primary metric's name (the key to use when ``compute_metric`` returns a
            dict); default: ``accuracy``, the task's metric, or with ``compute_metric`` the only
            key of its dict (``score`` for a number).
        data_collator: builds a batch from a list of features (default: see the module).
        batch_size: features per evaluation batch (default: ``per_device_eval_batch_size``).
        method: the method name recorded in ``summary.json``.
        config: more keys for ``config.json``'s ``config`` (e.g. your hyper-parameters).

    Raises:
        UserError: inconsistent arguments (unknown source language, both ``task`` and
            ``compute_metric``, a QA task without ``compute_metric``, ...).
    """

    def __init__(self, eval_datasets: Mapping[str, Any], source_lang: str = "en", *,
                 output_dir: str | Path, eval_every: int = 100, compute_metric: MetricFn | None = None,
                 task: str | None = None, metric_name: str | None = None,
                 data_collator: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None,
                 batch_size: int | None = None, method: str = "hf-trainer",
                 config: Mapping[str, Any] | None = None):
        if source_lang not in eval_datasets:
            raise UserError(f"source language {source_lang!r} has no evaluation set "
                            f"(given: {', '.join(eval_datasets)})")
        if eval_every <= 0:
            raise UserError("eval_every must be positive")
        if compute_metric is not None and task is not None:
            raise UserError("give either compute_metric or task, not both")
        self.head = None
        if task is not None:
            from xlingual_probe.tasks import TASKS

            task_cls = TASKS.get(task)
            if task_cls.head == "qa":
                raise UserError(f"task {task!r} is extractive QA: its score needs the raw examples; "
                                "pass compute_metric instead")
            self.head, metric_name = task_cls.head, metric_name or task_cls.metric
        # source first, as the loop orders languages
        self.eval_datasets = {source_lang: eval_datasets[source_lang],
                              **{k: v for k, v in eval_datasets.items() if k != source_lang}}
        self.source_lang, self.eval_every = source_lang, eval_every
        self.writer = RunWriter(output_dir)
        self.files = self.writer.files
        # with a user's compute_metric the name comes from its result unless given (see _score)
        self.compute_metric = compute_metric
        self.metric_name = metric_name or (None if compute_metric is not None else "accuracy")
        self.data_collator, self.batch_size, self.method = data_collator, batch_size, method
        self.extra_config = dict(config or {})
        self._losses: list[float] = []
        self._pending: dict[str, Any] | None = None
        self._last_step = -1
        self._eval_seconds = 0.0
        self._start = time.perf_counter()

    # ---- Trainer events -------------------------------------------------------------------------

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       model=None, **kwargs: Any) -> None:
        self._losses, self._pending, self._eval_seconds = [], None, 0.0
        self._start = time.perf_counter()
        self._last_step = state.global_step if state.global_step > 0 else -1
        self.writer.enabled = state.is_world_process_zero
        # one writer per run directory, released at the end of training; a Trainer that raised never
        # got there, so training again in the same process takes the lease back
        self.writer.release()
        self.writer.acquire(reentrant=True)
        if state.global_step > 0:  # resumed from a Trainer checkpoint: drop the steps that will be redone
            self.writer.resume_at(state.global_step)
        else:
            self.writer.start(self._run_info(args, state, model))

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self._losses.append(float(logs["loss"]))
        # the Trainer logs step t's loss after on_step_end(t): the record evaluated there waits for it
        if self._pending is not None and self._pending["step"] == state.global_step and logs and "loss" in logs:
            self._flush()

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> None:
        self._flush()
        if state.global_step % self.eval_every == 0:
            self._evaluate(args, state, **kwargs)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        self._flush()
        if state.global_step != self._last_step:
            self._evaluate(args, state, **kwargs)
            self._flush()
        if state.is_world_process_zero and self.files.metrics.is_file():
            records = read_jsonl(self.files.metrics)
            if records:
                wall = time.perf_counter() - self._start
                protocol = {**protocol_record("last", self.source_lang, []),
                            "reported_on": "the whole evaluation sets given to GapCallback (no held-out halves)"}
                self.writer.write_summary({
                    "status": "finished", "best": records[-1], "final": records[-1], "select_by": "last",
                    "protocol": protocol,
                    "wall_seconds": wall, "train_seconds": wall - self._eval_seconds,
                    "eval_seconds": self._eval_seconds, "method": self.method, "seed": args.seed,
                    "steps": state.global_step, "skipped_nonfinite": 0})
        self.writer.release()

    # ---- evaluation -----------------------------------------------------------------------------

    def _flush(self) -> None:
        if self._pending is None:
            return
        record, self._pending = self._pending, None
        record["loss"] = sum(self._losses) / len(self._losses) if self._losses else None
        self._losses.clear()
        self.writer.append("metrics", record)

    def _evaluate(self, args: TrainingArguments, state: TrainerState, model=None, **kwargs: Any) -> None:
        self._last_step = state.global_step
        if not state.is_world_process_zero or model is None:
            return
        start = time.perf_counter()
        collate = self._collator(kwargs)
        batch_size = self.batch_size or args.per_device_eval_batch_size
        metric = self._metric_fn(model)
        details: dict[str, dict[str, float]] = {}
        was_training = model.training
        model.eval()  # no dropout: evaluation draws no random numbers
        try:
            for lang, dataset in self.eval_datasets.items():
                details[lang] = self._score(metric(self._predict(model, dataset, collate, batch_size)))
        finally:
            model.train(was_training)
        scores = {lang: values[self.metric_name] for lang, values in details.items()}
        seconds = time.perf_counter() - start
        self._eval_seconds += seconds
        self._pending = {"step": state.global_step, "loss": None, "metrics": scores,
                         **summarise_scores(scores, self.source_lang), "details": details, "eval_seconds": seconds}

    def _score(self, value: float | Mapping[str, float]) -> dict[str, float]:
        if not isinstance(value, Mapping):
            self.metric_name = self.metric_name or "score"
            return {self.metric_name: float(value)}
        values = {k: float(v) for k, v in value.items()}
        if self.metric_name is None and len(values) == 1:
            self.metric_name = next(iter(values))
        if self.metric_name not in values:
            raise UserError(f"compute_metric returned {', '.join(values)}: pass metric_name= naming the "
                            "primary one")
        return values

    def _metric_fn(self, model: torch.nn.Module) -> MetricFn:
        if self.compute_metric is not None:
            return self.compute_metric
        names = self._label_names(model)
        if self.head == "token":
            if names is None:
                raise UserError("task token scoring needs label names: give the model config.id2label or the "
                                "datasets' labels a ClassLabel feature")
            check_iob2_tags(names, "the model" if self._data_label_names() is None else "the data")
            return seqeval_f1(dict(enumerate(names)))
        return label_accuracy

    def _data_label_names(self) -> list[str] | None:
        """The label names of the evaluation sets' ``ClassLabel`` (all sets must agree), or ``None``."""
        found: dict[str, list[str]] = {}
        for lang, dataset in self.eval_datasets.items():
            features = getattr(dataset, "features", None) or {}
            feature = next((features[k] for k in _LABEL_KEYS if k in features), None)
            feature = getattr(feature, "feature", feature)  # token tasks: a list of class labels
            if isinstance(feature, ClassLabel):
                found[lang] = list(feature.names)
        if len({tuple(v) for v in found.values()}) > 1:
            raise UserError(f"the evaluation sets name their labels differently: {found}")
        return next(iter(found.values()), None)

    def _label_names(self, model: torch.nn.Module) -> list[str] | None:
        """The names of the label ids, checked against each other where both the model and the data name them.

        The model's ``id2label`` is ignored when it holds only transformers' placeholders
        (``LABEL_0`` …: a model built without label names); the data's ``ClassLabel`` wins then.

        Raises:
            UserError: the model and the data name the same ids differently (scores would compare
                the wrong classes).
        """
        id2label = getattr(getattr(model, "config", None), "id2label", None) or {}
        model_names = [id2label[k] for k in sorted(id2label, key=int)] if id2label else None
        if model_names and all(re.fullmatch(r"LABEL_\d+", str(n)) for n in model_names):
            model_names = None
        data_names = self._data_label_names()
        if model_names and data_names and model_names != data_names:
            raise UserError(f"the model's labels ({', '.join(model_names)}) and the data's ({', '.join(data_names)}) "
                            "differ: predicted ids would be scored against the wrong classes; build the model with "
                            "the data's id2label")
        if data_names is None and id2label and model_names is None:
            return [id2label[k] for k in sorted(id2label, key=int)]  # placeholders: the caller decides
        return data_names or model_names

    def _collator(self, kwargs: dict[str, Any]) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
        if self.data_collator is not None:
            return self.data_collator
        loader = kwargs.get("train_dataloader")
        if loader is not None and getattr(loader, "collate_fn", None) is not None:
            return loader.collate_fn
        tokenizer = kwargs.get("processing_class")
        return DataCollatorWithPadding(tokenizer) if tokenizer is not None else default_data_collator

    @torch.inference_mode()
    def _predict(self, model: torch.nn.Module, dataset: Any, collate, batch_size: int) -> EvalPrediction:
        device = next(model.parameters()).device
        accepted = set(inspect.signature(model.forward).parameters)
        rows = _feature_rows(dataset, accepted | set(_LABEL_KEYS))
        predictions, labels = [], []
        for i in range(0, len(rows), batch_size):
            batch = dict(collate(rows[i:i + batch_size]))
            gold = next((batch.pop(k) for k in _LABEL_KEYS if k in batch), None)
            inputs = {k: v.to(device) for k, v in batch.items() if k in accepted and isinstance(v, torch.Tensor)}
            outputs = model(**inputs)
            logits = outputs.logits if getattr(outputs, "logits", None) is not None else \
                (outputs.start_logits, outputs.end_logits)
            predictions.append(tuple(t.float().cpu().numpy() for t in logits) if isinstance(logits, tuple)
                               else logits.float().cpu().numpy())
            if gold is not None:
                labels.append(np.asarray(gold))
        if isinstance(predictions[0], tuple):
            merged = tuple(_pad_concat([p[j] for p in predictions], -100.0) for j in range(len(predictions[0])))
        else:
            merged = _pad_concat(predictions, -100.0)
        return EvalPrediction(predictions=merged, label_ids=_pad_concat(labels, IGNORE_INDEX) if labels else None)

    def _run_info(self, args: TrainingArguments, state: TrainerState, model) -> dict[str, Any]:
        import transformers

        name = getattr(getattr(model, "config", None), "_name_or_path", None) if model is not None else None
        config = {"model": name, "task": None, "out": str(self.files.root), "source_lang": self.source_lang,
                  "langs": list(self.eval_datasets), "max_steps": state.max_steps,
                  "batch_size": args.per_device_train_batch_size * args.gradient_accumulation_steps
                  * max(args.world_size, 1), "lr": args.learning_rate, "weight_decay": args.weight_decay,
                  # TrainingArguments fields differ across transformers versions
                  **{key: getattr(args, key) for key in ("warmup_ratio", "warmup_steps") if hasattr(args, key)},
                  "eval_every": self.eval_every, "seed": args.seed, "method": self.method, **self.extra_config}
        return {"schema_version": SCHEMA_VERSION, "config": config, "seed": args.seed,
                "versions": {"python": platform.python_version(), "torch": torch.__version__,
                             "transformers": transformers.__version__},
                "device": {"type": str(args.device.type), "processes": args.world_size},
                "data": {"metric": self.metric_name, "languages": list(self.eval_datasets),
                         "eval_examples": {lang: len(ds) for lang, ds in self.eval_datasets.items()}},
                "training": {"total_steps": state.max_steps}, "source": "transformers.Trainer (GapCallback)"}


def _feature_rows(dataset: Any, keep: set[str]) -> Sequence[dict[str, Any]]:
    """The features as a list of dicts holding only the columns the model (or the labels) use."""
    column_names = getattr(dataset, "column_names", None)
    if column_names is not None:  # datasets.Dataset: drop unused columns before reading the rows
        dataset = dataset.remove_columns([c for c in column_names if c not in keep])
    return [{k: v for k, v in dict(dataset[i]).items() if k in keep} for i in range(len(dataset))]
