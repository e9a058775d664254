"""The alignment probe during fine-tuning: a training-loop callback and a ``transformers`` Trainer callback.

Both write ``alignment.jsonl`` (schema in :mod:`xlingual_probe.runs`; the measures in
:mod:`xlingual_probe.probes.alignment`) and ``alignment_sample.json`` (the parallel sample), with
the same records for the same model: one per layer and language at update 0 (before the first
update), every ``every`` updates (default: the run's ``eval_every``) and at the last update.

Starting point:
    ``cka_to_pretrained`` compares with the representations of the model as fine-tuning starts,
    computed once. In the loop that is the model after its re-initialisation and NoisyTune noise
    (as for the CKA probe); a resumed run rebuilds it with
    :meth:`~xlingual_probe.training.callbacks.LoopContext.starting_model` under saved-and-restored
    RNG states. A resumed Trainer run cannot rebuild it: its ``cka_to_pretrained`` is null from then.

RNG and training:
    The probe draws no random numbers: forward passes run in eval mode (no dropout) without
    gradients, the sample is drawn by a seeded hash. A run with the probe has the same losses as
    one without (tested, for both forms).

Usage with a Trainer::

    from xlingual_probe.probes.alignment_probe import AlignmentCallback
    from xlingual_probe.probes.parallel import ParallelSample

    sample = ParallelSample.from_texts({"en": en_sentences, "de": de_sentences, "sw": sw_sentences})
    align = AlignmentCallback(sample, tokenizer, output_dir="runs/my-trainer", every=100)
    trainer = Trainer(..., callbacks=[gap, align])     # with GapCallback: the same run directory
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from xlingual_probe.probes.alignment import RETRIEVAL, AlignmentMeter, Representations
from xlingual_probe.probes.cka_probe import preserved_rng
from xlingual_probe.probes.parallel import ParallelSample, parallel_sample
from xlingual_probe.runs import SCHEMA_VERSION, RunWriter
from xlingual_probe.training.callbacks import Callback, LoopContext
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import atomic_write_json

__all__ = ["AlignmentCallback", "AlignmentProbe", "AlignmentProbeConfig", "write_records"]


@dataclass
class AlignmentProbeConfig:
    """Options of the alignment probe (``xprobe probe alignment --align-*``), recorded in ``config.json``.

    Attributes:
        every: probe every this many updates; ``None`` = the run's ``eval_every``.
        size: parallel sentences per target language at most (N).
        field: the text field to embed (e.g. ``premise``, ``hypothesis``, ``question``,
            ``context``); ``None`` = the task's first.
        retrieval: ``cosine`` (nearest neighbour) or ``margin`` (Artetxe & Schwenk 2019).
        k: the margin's neighbourhood size.
        parallel: declare the rows of a task without a declaration parallel (``--parallel``).
        seed: seed of the sample; ``None`` = the run's ``data_seed`` (the same sentences for every
            training seed).
        max_length: tokens per sentence; ``None`` = the run's ``max_length`` (or the task's default).
        batch_size: sentences per forward pass; ``None`` = the run's ``eval_batch_size``.
    """

    every: int | None = None
    size: int = 256
    field: str | None = None
    retrieval: str = "cosine"
    k: int = 4
    parallel: bool = False
    seed: int | None = None
    max_length: int | None = None
    batch_size: int | None = None

    def __post_init__(self) -> None:
        checks = [(self.every is None or self.every > 0, "--align-every must be positive"),
                  (self.size >= 4, "--align-size must be at least 4 (debiased CKA)"),
                  (self.retrieval in RETRIEVAL, f"--align-retrieval must be one of {', '.join(RETRIEVAL)}"),
                  (self.k >= 1, "--align-k must be positive"),
                  (self.max_length is None or self.max_length > 0, "--align-max-length must be positive"),
                  (self.batch_size is None or self.batch_size > 0, "--align-batch-size must be positive")]
        for ok, message in checks:
            if not ok:
                raise UserError(message)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sample(self, task: Any, data: Any, data_seed: int) -> ParallelSample:
        """The parallel sample of ``task``'s evaluation sets under these options."""
        return parallel_sample(task, data, field=self.field, size=self.size,
                               seed=data_seed if self.seed is None else self.seed, declared_parallel=self.parallel)

    def meter(self, sample: ParallelSample, tokenizer: Any, max_length: int, batch_size: int) -> AlignmentMeter:
        """The meter of ``sample`` (the run's ``max_length`` / ``batch_size`` unless set here)."""
        return AlignmentMeter(sample, tokenizer, max_length=self.max_length or max_length,
                              batch_size=self.batch_size or batch_size, retrieval=self.retrieval, k=self.k)


def write_records(writer: RunWriter, records: list[dict[str, Any]], seconds: float) -> None:
    """Append one probe step's records to ``alignment.jsonl`` with the step's ``align_seconds``."""
    for record in records:
        writer.append("alignment", {**record, "align_seconds": seconds})


class AlignmentProbe(Callback):
    """Per-layer cross-lingual alignment of the working model, written to ``alignment.jsonl``.

    Args:
        config: the probe's options (default: every ``eval_every`` updates, 256 sentences, cosine).

    Attributes:
        meter: the tokenised sample and starting representations (main process, during training).
        total_seconds: the probe's time in this invocation (sampling and tokenising included).
        probes: probe steps in this invocation (update 0 included).

    >>> AlignmentProbe(AlignmentProbeConfig(every=50)).config.every
    50
    """

    def __init__(self, config: AlignmentProbeConfig | None = None):
        self.config = config or AlignmentProbeConfig()
        self.every = self.config.every
        self.meter: AlignmentMeter | None = None
        self.total_seconds, self.probes = 0.0, 0

    def _representations(self, ctx: LoopContext, model: torch.nn.Module) -> Representations:
        assert self.meter is not None
        return self.meter.representations(model, len(ctx.model_map.layers), ctx.accelerator.autocast)

    def on_train_begin(self, ctx: LoopContext, start_step: int) -> None:
        self.every = self.config.every or ctx.config.eval_every
        self.meter, self.total_seconds, self.probes = None, 0.0, 0
        if not ctx.accelerator.is_main_process:
            return
        start = time.perf_counter()
        if ctx.data is None:
            raise UserError("the alignment probe needs the run's data (LoopContext.data)")
        sample = self.config.sample(ctx.task, ctx.data, ctx.config.data_seed)
        max_length = ctx.config.max_length or getattr(ctx.task, "default_max_length", 128)
        self.meter = self.config.meter(sample, ctx.tokenizer, max_length, ctx.config.eval_batch_size)
        if start_step == 0:
            reps = self._representations(ctx, ctx.accelerator.unwrap_model(ctx.model))
            self.meter.set_reference(reps)
            atomic_write_json(ctx.files.alignment_sample, sample.describe())
            self._write(ctx, 0, reps, start)
        else:  # the records up to the checkpoint are kept; the starting point is rebuilt
            with preserved_rng():
                reference = ctx.starting_model().to(ctx.accelerator.device)
            self.meter.set_reference(self._representations(ctx, reference))
            del reference
            self.total_seconds += time.perf_counter() - start

    def _write(self, ctx: LoopContext, step: int, reps: Representations, start: float) -> None:
        assert self.meter is not None
        records = self.meter.records(step, reps)
        seconds = time.perf_counter() - start
        write_records(ctx.writer, records, seconds)
        self.total_seconds += seconds
        self.probes += 1

    def on_step_end(self, ctx: LoopContext, step: int, loss: float, batch: dict[str, torch.Tensor]) -> None:
        if self.meter is None or (step % self.every and step != ctx.total_steps):
            return
        start = time.perf_counter()
        self._write(ctx, step, self._representations(ctx, ctx.accelerator.unwrap_model(ctx.model)), start)

    def on_train_end(self, ctx: LoopContext, summary: dict[str, Any]) -> None:
        self.meter = None  # free the starting representations


class AlignmentCallback(TrainerCallback):
    """The alignment probe for a ``transformers.Trainer``: the loop's records, in ``output_dir``.

    Args:
        sample: the parallel sentences (e.g. :meth:`ParallelSample.from_texts`).
        tokenizer: the model's tokenizer.
        output_dir: the run directory (the same as a :class:`~xlingual_probe.probes.hf_callback.GapCallback`'s
            to keep both in one run).
        every: probe every this many global steps, at step 0 and at the last step.
        retrieval: ``cosine`` or ``margin``; ``k``: the margin's neighbourhood size.
        max_length: tokens per sentence; ``batch_size``: sentences per forward pass.

    The records of update 0 are written at the first step's end, so a ``GapCallback`` that starts
    the run directory in its own ``on_train_begin`` (deleting old logs) may come before or after.
    """

    def __init__(self, sample: ParallelSample, tokenizer: Any, *, output_dir: str | Path, every: int = 100,
                 retrieval: str = "cosine", k: int = 4, max_length: int = 128, batch_size: int = 64):
        if every <= 0:
            raise UserError("every must be positive")
        self.sample, self.every = sample, every
        self.meter = AlignmentMeter(sample, tokenizer, max_length=max_length, batch_size=batch_size,
                                    retrieval=retrieval, k=k)
        self.writer = RunWriter(output_dir)
        self.options = {"every": every, "field": sample.field, "retrieval": retrieval, "k": k,
                        "max_length": max_length, "batch_size": batch_size}
        self._pending: list[dict[str, Any]] | None = None
        self._last_step = -1

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       model: torch.nn.Module | None = None, **kwargs: Any) -> None:
        self.writer.enabled = state.is_world_process_zero
        self._pending, self._last_step = None, state.global_step
        if not self.writer.enabled or model is None:
            return
        if state.global_step > 0:  # resumed: the starting point is gone
            self.writer.resume_at(state.global_step)
            self.meter.set_reference(None)
            return
        self.writer.files.alignment.unlink(missing_ok=True)
        start = time.perf_counter()
        reps = self.meter.representations(model)
        self.meter.set_reference(reps)
        seconds = time.perf_counter() - start
        self._pending = [{**r, "align_seconds": seconds} for r in self.meter.records(0, reps)]

    def _flush(self, args: TrainingArguments, model: torch.nn.Module | None) -> None:
        if self._pending is None:
            return
        files = self.writer.files
        files.root.mkdir(parents=True, exist_ok=True)
        if not files.config.is_file():  # alone (without a GapCallback): a minimal config.json
            name = getattr(getattr(model, "config", None), "_name_or_path", None)
            atomic_write_json(files.config, {
                "schema_version": SCHEMA_VERSION, "seed": args.seed, "source": "transformers.Trainer (AlignmentCallback)",
                "config": {"model": name, "source_lang": self.sample.source_lang, "langs": self.sample.langs,
                           "seed": args.seed, "method": "hf-trainer"},
                "alignment_probe": self.options})
        atomic_write_json(files.alignment_sample, self.sample.describe())
        for record in self._pending:
            self.writer.append("alignment", record)
        self._pending = None

    def _probe(self, state: TrainerState, model: torch.nn.Module | None) -> None:
        self._last_step = state.global_step
        if not self.writer.enabled or model is None:
            return
        start = time.perf_counter()
        records = self.meter.records(state.global_step, self.meter.representations(model))
        write_records(self.writer, records, time.perf_counter() - start)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    model: torch.nn.Module | None = None, **kwargs: Any) -> None:
        self._flush(args, model)
        if state.global_step % self.every == 0 or state.global_step == state.max_steps:
            self._probe(state, model)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     model: torch.nn.Module | None = None, **kwargs: Any) -> None:
        self._flush(args, model)
        if state.global_step != self._last_step:
            self._probe(state, model)
