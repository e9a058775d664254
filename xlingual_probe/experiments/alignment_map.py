"""A model's cross-lingual alignment by layer, without training (``xprobe probe alignment --no-train``).

Loads the run's task data and its starting model (pre-trained weights, re-initialisation and
NoisyTune noise when the configuration asks for them; the task head is not used) exactly as a
fine-tuning run would, measures the alignment probe once (:mod:`xlingual_probe.probes.alignment`)
and writes a run directory with ``config.json``, ``alignment.jsonl`` (step 0 only) and
``alignment_sample.json``, and no ``summary.json`` (nothing was trained). Any checkpoint folder
that ``load_model`` reads (e.g. a run's ``checkpoints/best``) can be mapped the same way.
"""

from __future__ import annotations

import time
from pathlib import Path

from xlingual_probe.probes.alignment_probe import AlignmentProbeConfig, write_records
from xlingual_probe.probes.parallel import ParallelSample
from xlingual_probe.runs import NUMERICS_VERSION, SCHEMA_VERSION, RunFiles, RunWriter
from xlingual_probe.training.config import TrainConfig
from xlingual_probe.training.data import load_task_data
from xlingual_probe.training.loop import load_starting_model, prepare_run_dir
from xlingual_probe.training.provenance import git_state, package_versions
from xlingual_probe.training.runtime import resolve_precision, run_accelerator
from xlingual_probe.utils.io import atomic_write_json

__all__ = ["alignment_sample", "map_alignment"]


def alignment_sample(config: TrainConfig, probe: AlignmentProbeConfig) -> ParallelSample:
    """The parallel sample a run of ``config`` would probe: checks the task's sets before any run starts.

    Raises:
        UserError: bad data options, or evaluation sets that are not parallel.
    """
    task, data = load_task_data(config)
    return probe.sample(task, data, config.data_seed)


def map_alignment(config: TrainConfig, probe: AlignmentProbeConfig | None = None, *, overwrite: bool = False) -> Path:
    """Measure the alignment of ``config.model``'s layers on ``config.task``'s parallel evaluation sets.

    Args:
        config: the model, task and data options (training options are ignored; ``precision``
            ``bf16``, or ``auto`` on a CUDA GPU with bf16, runs the forward passes under bf16 autocast).
        probe: the probe's options (sample size, field, retrieval).
        overwrite: replace a non-empty ``config.out``.

    Returns:
        The run directory written (``config.out``).

    Raises:
        UserError: bad data options, a non-parallel task, or a non-empty output folder without
            ``overwrite``.
    """
    probe = probe or AlignmentProbeConfig()
    files = RunFiles(config.out)
    prepare_run_dir(files, resume=False, overwrite=overwrite)
    precision = resolve_precision(config.precision)
    accelerator = run_accelerator(precision)
    task, data = load_task_data(config)
    sample = probe.sample(task, data, config.data_seed)  # a non-parallel task fails before the model loads
    model, tokenizer, model_map = load_starting_model(config, task.head, task.num_labels(data), labels=data.labels)
    model = model.to(accelerator.device)
    max_length = config.max_length or getattr(task, "default_max_length", 128)
    start = time.perf_counter()  # align_seconds: tokenising and measuring, not loading
    meter = probe.meter(sample, tokenizer, max_length, config.eval_batch_size)
    reps = meter.representations(model, len(model_map.layers), accelerator.autocast)
    meter.set_reference(reps)
    records = meter.records(0, reps)
    writer = RunWriter(files.root)
    writer.start({"schema_version": SCHEMA_VERSION, "numerics_version": NUMERICS_VERSION, "config": config.to_dict(),
                  "seed": config.seed, "versions": package_versions(), "git": git_state(),
                  "device": {"type": accelerator.device.type, "processes": 1, "precision": precision},
                  "data": {"languages": list(data.eval), "eval_examples": {k: len(v) for k, v in data.eval.items()}},
                  "training": {"total_steps": 0, "model_family": model_map.family,
                               "num_layers": len(model_map.layers)},
                  "alignment_probe": probe.to_dict(), "mode": "no-train"})
    atomic_write_json(files.alignment_sample, sample.describe())
    write_records(writer, records, time.perf_counter() - start)
    # written last, as a training run's: the map is complete (readers skip folders without it)
    writer.write_summary({"best": None, "final": None, "method": config.method, "seed": config.seed, "steps": 0,
                          "mode": "no-train", "wall_seconds": time.perf_counter() - start})
    return files.root
