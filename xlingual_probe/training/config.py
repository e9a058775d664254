"""The configuration of one fine-tuning run (``xprobe train ...``), resolved and saved in ``config.json``."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xlingual_probe.training.model_selection import SELECT_BY
from xlingual_probe.training.recipes import RECIPES, USER_RECIPES
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import read_mapping_file


@dataclass
class TrainConfig:
    """Everything that defines a fine-tuning run. Same config + seed on CPU ⇒ same numbers.

    Attributes:
        model: Hugging Face model name, local checkpoint folder, or ``synthetic``.
        task: registered task name (``xnli``, ``panx``, ``mlqa``, ``classification``, ...).
        out: the run directory to write.
        data_dir: local data folder; ``None`` loads from the hub (or ``$XPROBE_DATA_DIR``).
        source_lang: fine-tuning language.
        langs: evaluation languages; ``None`` = every language of the task.
        train_size: seeded subsample of the training set (examples).
        eval_size: seeded subsample of each language's evaluation set (examples, by id: the same ids in
            every parallel language).
        few_shot: examples per target language moved from its validation split into training, drawn
            anew for every training seed (their ids go to ``few_shot.json``).
        text_columns: bring-your-own classification: text column(s).
        label_column: bring-your-own classification: label column.
        train_file: explicit training file (e.g. a SQuAD JSON for QA).
        max_length: tokens per feature; ``None`` = the task's default (128; 384 for QA).
        max_steps: number of updates; ``None`` = ``epochs`` over the training set.
        epochs: passes over the training set when ``max_steps`` is not set.
        batch_size: examples (features) per update, summed over all processes and accumulation
            steps: each process runs ``batch_size / (processes · grad_accum)`` per forward pass.
        grad_accum: gradient accumulation: each update sums the gradients of this many micro-batches
            (weighted so the update equals the one of the whole batch), so a large batch fits a
            small GPU; ``batch_size`` stays the batch of one update.
        eval_batch_size: features per evaluation batch (per process).
        lr: peak learning rate of the linear warm-up + linear decay schedule.
        warmup_ratio: fraction of the updates spent warming up.
        warmup_steps: warm-up updates; overrides ``warmup_ratio`` when set (XTREME's QA script: 500).
        weight_decay: AdamW weight decay (not applied to biases and LayerNorm weights).
        max_grad_norm: gradient-norm clipping threshold (``0`` disables clipping).
        eval_every: evaluate every language's validation set every this many updates (and at the end).
        eval_at_start: also evaluate the untouched model at update 0.
        select_by: how the run's checkpoint is chosen (:mod:`~xlingual_probe.training.model_selection`):
            ``source`` (the source language's selection half: XTREME's rule, no target data),
            ``overall`` (mean over every language's selection half: the paper's rule, uses target
            data) or ``last``; every language is reported on its reporting half.
        score_test: score the labelled test splits at the selected checkpoint and at the end:
            ``None`` where the task has them (local files or the hub), ``True`` required, ``False`` off.
        test_size: seeded subsample of each language's test split (examples, by id).
        save_every: write a resumable checkpoint every this many updates (``None`` = ``eval_every``;
            ``0`` = never).
        save_best: keep the weights of the selected checkpoint in ``checkpoints/best`` (safetensors).
        seed: training seed (head initialisation, dropout, data order).
        data_seed: seed of the data subsampling (shared by all training seeds).
        precision: ``auto``, ``fp32`` or ``bf16`` (mixed precision through Accelerate). ``auto`` is
            bf16 on a CUDA GPU that supports it (the fast choice there) and fp32 elsewhere (bf16
            autocast is usually slower than fp32 on CPUs); ``config.json`` records the one used.
        tf32: let float32 matrix products on CUDA use TF32 tensor cores (faster on Ampere and later;
            it changes the numbers, so it is part of the run's configuration; no effect on CPU).
        num_processes: run on this many local processes (one per GPU, or CPU processes with gloo),
            spawned by the run itself; ``batch_size`` stays the global batch. Under
            ``accelerate launch`` leave it at 1 (or give the launcher's count).
        report_to: experiment trackers that mirror the run directory's records: ``tensorboard``,
            ``wandb``, ``mlflow`` (optional extras); empty or ``["none"]`` = none.
        freeze_embeddings: keep the embedding parameters fixed (a large saving for big vocabularies).
        freeze: units frozen during fine-tuning (unit syntax: see ``models.parse_unit``).
        reinit: units re-initialised with the model's own ``_init_weights`` before fine-tuning.
        lr_scale: constant learning-rate multipliers per unit, e.g. ``{"top2:attention": 10}``.
        noise_lambda: NoisyTune: before fine-tuning, perturb every pre-trained matrix by
            U(−λ/2, λ/2)·std (head excluded); ``0`` = off (the paper's λ is 0.15).
        slowfast: slow-and-fast / FS / FF settings (sets as units, c1, c2, r, window, threshold,
            phase_mode, policies, swap), see :mod:`xlingual_probe.training.slowfast`; ``None`` = off.
        method: name of the fine-tuning method, recorded in the summary (``direct`` for DF).
        trust_remote_code: allow model code from the hub (off unless asked for).
        threads: CPU threads of the run's PyTorch kernels in each of its processes (``torch.set_num_threads``,
            :func:`~xlingual_probe.training.runtime.machine_settings`); ``None`` = PyTorch's default (the
            process's environment, e.g. ``OMP_NUM_THREADS``, else the machine's cores).
            Part of the run's identity: PyTorch's CPU kernels may split a large sum or matrix product by
            thread, so the same run with another thread count may differ in the last digits (whether it
            does depends on the tensor sizes: the tiny test BERT's 20-update run was bit-identical with 1
            and 2 threads). The executors set it (``--threads-per-run``); ``config.json``'s
            ``device.cpu_threads`` records the count used. Left out of the run identity when ``None``.
        recipe: the recipe the values came from (``xtreme``, ``paper``, ``synthetic``; ``None`` = none),
            see :mod:`xlingual_probe.training.recipes`; recorded, it changes no value by itself.
        qa_stride: what a QA task's ``doc_stride`` (128) means: ``between-starts`` (XTREME: tokens
            from one window's start to the next) or ``overlap`` (HF ``run_qa.py``: tokens shared by
            consecutive windows); see :mod:`xlingual_probe.tasks.qa`.
        skip_nonfinite: updates with a NaN/inf training loss that may be skipped (no optimizer
            step) before the run stops as diverged; ``0`` = stop at the first one.
    """

    model: str
    task: str
    out: str
    data_dir: str | None = None
    source_lang: str = "en"
    langs: list[str] | None = None
    train_size: int | None = None
    eval_size: int | None = None
    few_shot: int = 0
    text_columns: list[str] | None = None
    label_column: str | None = None
    train_file: str | None = None
    max_length: int | None = None
    max_steps: int | None = None
    epochs: float = 1.0
    batch_size: int = 32
    grad_accum: int = 1
    eval_batch_size: int = 64
    lr: float = 2e-5
    warmup_ratio: float = 0.1
    warmup_steps: int | None = None
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    eval_every: int = 100
    eval_at_start: bool = False
    select_by: str = SELECT_BY[0]
    score_test: bool | None = None
    test_size: int | None = None
    save_every: int | None = None
    save_best: bool = True
    seed: int = 42
    data_seed: int = 0
    precision: str = "auto"
    tf32: bool = False
    num_processes: int = 1
    report_to: list[str] = field(default_factory=list)
    freeze_embeddings: bool = False
    freeze: list[str] = field(default_factory=list)
    reinit: list[str] = field(default_factory=list)
    lr_scale: dict[str, float] = field(default_factory=dict)
    noise_lambda: float = 0.0
    slowfast: dict[str, Any] | None = None
    method: str = "direct"
    trust_remote_code: bool = False
    threads: int | None = None
    recipe: str | None = None
    qa_stride: str = "between-starts"
    skip_nonfinite: int = 0

    def __post_init__(self) -> None:
        check_field_types(self)
        checks = [
            (self.batch_size > 0, "--batch-size must be positive"),
            (self.eval_batch_size > 0, "--eval-batch-size must be positive"),
            (self.lr > 0, "--lr must be positive"),
            (self.eval_every > 0, "--eval-every must be positive"),
            (self.max_steps is None or self.max_steps > 0, "--max-steps must be positive"),
            (self.epochs > 0, "--epochs must be positive"),
            (0 <= self.warmup_ratio < 1, "--warmup-ratio must be in [0, 1)"),
            (self.select_by in SELECT_BY, f"--select-by must be one of {', '.join(SELECT_BY)}"),
            (self.precision in ("auto", "fp32", "bf16"), "--precision must be 'auto', 'fp32' or 'bf16'"),
            (self.few_shot >= 0, "--few-shot must be >= 0"),
            (self.noise_lambda >= 0, "--noise-lambda must be >= 0"),
            (self.threads is None or self.threads > 0, "--threads-per-run must be positive"),
            (self.grad_accum >= 1, "--grad-accum must be >= 1"),
            (self.batch_size % max(self.grad_accum, 1) == 0,
             (f"--batch-size {self.batch_size} is not divisible by --grad-accum {self.grad_accum} "
              "(each update is split into equal micro-batches)")),
            (self.warmup_steps is None or self.warmup_steps >= 0, "--warmup-steps must be >= 0"),
            (self.recipe is None or self.recipe in RECIPES,
             f"unknown recipe {self.recipe!r}; choose one of: {', '.join(USER_RECIPES)}"),
            (self.qa_stride in ("between-starts", "overlap"), "--qa-stride must be 'between-starts' or 'overlap'"),
            (self.skip_nonfinite >= 0, "--skip-nonfinite must be >= 0"),
            (self.max_length is None or self.max_length > 0, "--max-length must be positive"),
            (self.train_size is None or self.train_size > 0, "--train-size must be positive"),
            (self.eval_size is None or self.eval_size > 0, "--eval-size must be positive"),
            (self.test_size is None or self.test_size > 0, "--test-size must be positive"),
            (self.save_every is None or self.save_every >= 0, "--save-every must be >= 0 (0 = never)"),
            (self.weight_decay >= 0, "--weight-decay must be >= 0"),
            (self.max_grad_norm >= 0, "--max-grad-norm must be >= 0 (0 = no clipping)"),
            (self.num_processes >= 1, "--num-processes must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)

    @property
    def checkpoint_every(self) -> int:
        return self.eval_every if self.save_every is None else self.save_every

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        unknown = set(values) - cls.field_names()
        if unknown:
            raise UserError(f"unknown config key(s): {', '.join(map(repr, sorted(unknown)))}")
        return cls(**values)


_KINDS = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "list[str]": (list,),
          "dict[str, float]": (dict,), "dict[str, Any]": (dict,)}
_KIND_NAMES = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
               "list[str]": "a list of strings", "dict[str, float]": "a mapping of units to numbers",
               "dict[str, Any]": "a mapping"}


def check_field_types(config: TrainConfig) -> None:
    """Raise :class:`UserError` for a value of the wrong type (a config file's ``lr: fast``, ``langs: 5``).

    Numbers written as strings (PyYAML reads ``1e-3`` as a string) become floats; an integer field
    takes no fraction, no bool; a float must be finite.

    Raises:
        UserError: the first field of the wrong type, named as its command-line option.
    """
    for f in dataclasses.fields(config):
        kind, optional = str(f.type).removesuffix(" | None"), str(f.type).endswith(" | None")
        value = getattr(config, f.name)
        if value is None and optional:
            continue
        option = "--" + f.name.replace("_", "-")
        if kind == "float" and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
            else:
                setattr(config, f.name, value)
        types = _KINDS[kind]
        ok = isinstance(value, types) and (kind == "bool" or not isinstance(value, bool))
        if ok and kind == "float":
            ok = math.isfinite(value)
        if ok and kind == "list[str]":
            ok = all(isinstance(v, str) for v in value)
        if not ok:
            raise UserError(f"{option} must be {_KIND_NAMES[kind]}{' or null' if optional else ''}, not {value!r}")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config file (YAML through ``safe_load``); keys use ``_`` or ``-``."""
    return {str(k).replace("-", "_"): v for k, v in read_mapping_file(path, "config file").items()}


def check_seeds(seeds: list[int]) -> None:
    """At least one seed and no repeats (each seed names a run directory)."""
    if not seeds:
        raise UserError("give at least one --seed")
    if len(set(seeds)) != len(seeds):
        raise UserError(f"repeated seed in {seeds}")
