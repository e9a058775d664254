"""The options shared by several commands: training (``train``, ``probe``, ``compare``), slow-and-fast
(``train``, ``compare``) and execution (every command that fine-tunes: ``--executor`` and its resources).

Each training option defaults to ``None`` (= not given), so the value comes from, in order of
precedence: the command line, the ``--config`` file (YAML or JSON), the recipe (``--recipe``, else the
task's default recipe: :mod:`xlingual_probe.training.recipes`), the command's own defaults, and
:class:`~xlingual_probe.training.TrainConfig`'s defaults. :func:`with_train_options` adds the options
to a typer command's signature and hands the command one dict, ``train_opts``;
:func:`with_policy_options` does the same for the slow-and-fast options (``policy_opts``) and
:func:`with_executor_options` for the execution options (``executor_opts``, the keyword arguments of
:func:`~xlingual_probe.experiments.executors.make_executor`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from xlingual_probe.training import TrainConfig, read_config_file
from xlingual_probe.training.recipes import apply_recipe, describe_recipe
from xlingual_probe.utils.errors import UserError

_OPTS = "Training options"
_DATA = "Data options"
_POLICY = "Slow-and-fast options"


def _option(name: str, annotation: Any, help: str, panel: str = _OPTS, flag: str | None = None,
            default: Any = None) -> inspect.Parameter:
    decls = [flag] if flag else [f"--{name.replace('_', '-')}"]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[annotation, typer.Option(*decls, help=help, rich_help_panel=panel,
                                                                           show_default=default is not None)])


TRAIN_OPTIONS: list[inspect.Parameter] = [
    _option("config", Optional[Path], "YAML/JSON file of options (flags override it).", _OPTS),
    _option("model", Optional[str], "Hub name, local folder, or 'synthetic'.", _OPTS),
    _option("task", Optional[str], "xnli, panx, mlqa, xquad, tydiqa, squad-json, classification, synthetic-*.", _DATA),
    _option("data_dir", Optional[str], "Local data folder (default: $XPROBE_DATA_DIR, else the hub).", _DATA),
    _option("source_lang", Optional[str], "Fine-tuning language [en].", _DATA),
    _option("langs", Optional[str], "Comma-separated evaluation languages [all of the task's].", _DATA),
    _option("train_size", Optional[int], "Seeded subsample of the training set.", _DATA),
    _option("eval_size", Optional[int], "Seeded subsample per evaluation language.", _DATA),
    _option("few_shot", Optional[int], "Examples per target language moved from its validation split into training "
            "(drawn per seed; ids in few_shot.json).", _DATA),
    _option("text_columns", Optional[str], "classification: comma-separated text column(s).", _DATA),
    _option("label_column", Optional[str], "classification: label column.", _DATA),
    _option("train_file", Optional[str], "Explicit training file (e.g. SQuAD JSON for QA).", _DATA),
    _option("recipe", Optional[str], "Hyper-parameters of 'xtreme' (the XTREME scripts; the benchmarks' default) "
            "or 'paper' (Appendix B; selects by overall); options given override them [the task's].", _OPTS),
    _option("max_length", Optional[int], "Tokens per feature [recipe: 128; QA 384].", _DATA),
    _option("max_steps", Optional[int], "Number of updates (overrides --epochs) [recipe].", _OPTS),
    _option("epochs", Optional[float], "Passes over the training set [recipe].", _OPTS),
    _option("batch_size", Optional[int], "Examples per update, summed over processes and --grad-accum [recipe: 32].",
            _OPTS),
    _option("grad_accum", Optional[int], "Micro-batches per update (same update, less memory) [1].", _OPTS),
    _option("eval_batch_size", Optional[int], "Features per evaluation batch [64].", _OPTS),
    _option("lr", Optional[float], "Peak learning rate [recipe].", _OPTS),
    _option("warmup_ratio", Optional[float], "Warm-up fraction of the updates [recipe].", _OPTS),
    _option("warmup_steps", Optional[int], "Warm-up updates (overrides --warmup-ratio) [recipe].", _OPTS),
    _option("weight_decay", Optional[float], "AdamW weight decay [recipe: 0].", _OPTS),
    _option("max_grad_norm", Optional[float], "Gradient clipping (0 = off) [1.0].", _OPTS),
    _option("eval_every", Optional[int], "Evaluate all languages every N updates [recipe: 100].", _OPTS),
    _option("eval_at_start", Optional[bool], "Also evaluate before the first update.", _OPTS,
            flag="--eval-at-start/--no-eval-at-start"),
    _option("select_by", Optional[str], "Choose the checkpoint on the selection half of: 'source' (XTREME, no "
            "target data), 'overall' (paper: all languages, uses target data), or take the 'last' [recipe: source].", _OPTS),
    _option("score_test", Optional[bool], "Score the labelled test splits at the selected checkpoint and the end "
            "[where the task has them].", _DATA, flag="--score-test/--no-score-test"),
    _option("test_size", Optional[int], "Seeded subsample per test language.", _DATA),
    _option("save_every", Optional[int], "Resumable checkpoint every N updates (0 = never) [= eval-every].", _OPTS),
    _option("save_best", Optional[bool], "Keep the selected checkpoint's weights [yes].", _OPTS,
            flag="--save-best/--no-save-best"),
    _option("seed", Optional[list[int]], "Training seed; repeat for one run per seed [42].", _OPTS),
    _option("data_seed", Optional[int], "Seed of the data subsampling [0].", _OPTS),
    _option("precision", Optional[str], "auto (the default: bf16 on a CUDA GPU, fp32 elsewhere), fp32 or bf16.", _OPTS),
    _option("tf32", Optional[bool], "TF32 matrix products on CUDA (faster; changes the numbers).", _OPTS,
            flag="--tf32/--no-tf32"),
    _option("num_processes", Optional[int], "Processes per run (GPUs, or CPU processes); --batch-size stays "
            "the global batch [1].", _OPTS),
    _option("report_to", Optional[str], "Experiment trackers, comma-separated: tensorboard, wandb, mlflow (default: none).",
            _OPTS),
    _option("freeze_embeddings", Optional[bool], "Freeze the embeddings (fast on CPU for big vocabularies).", _OPTS,
            flag="--freeze-embeddings/--no-freeze-embeddings"),
    _option("trust_remote_code", Optional[bool], "Allow model code from the hub.", _OPTS,
            flag="--trust-remote-code/--no-trust-remote-code"),
    _option("qa_stride", Optional[str], "QA doc stride (128): tokens between window starts (between-starts, "
            "XTREME; the default) or shared by consecutive windows (overlap, HF run_qa.py).", _DATA),
    _option("skip_nonfinite", Optional[int], "Skip up to N updates with a NaN/inf loss before stopping the run as "
            "diverged [0].", _OPTS),
]
_LIST_OPTIONS = {"langs", "text_columns", "report_to"}

# the slow-and-fast hyper-parameters (None = SPEC's default), then how the weight sets are chosen
POLICY_HYPER = ("c1", "c2", "r", "window", "threshold", "phase_mode")
POLICY_OPTIONS: list[inspect.Parameter] = [
    _option("sets", str, "Weight sets of the policy methods: paper, auto (run a layer sweep + CKA and select) "
            "or a selection file.", _POLICY, default="paper"),
    _option("c1", Optional[float], "K of S_I in phase 1 (policy I) [0.01].", _POLICY),
    _option("c2", Optional[float], "K of V_II in phase 2 (policy IV) [10].", _POLICY),
    _option("r", Optional[float], "Exponent of R(φ) (policy II) [3].", _POLICY),
    _option("window", Optional[int], "Updates per loss mean [100].", _POLICY),
    _option("threshold", Optional[float], "Phase-1 loss drop per window [0.1].", _POLICY),
    _option("phase_mode", Optional[str], "per-step (can return to phase 1) or latch [per-step].", _POLICY),
    _option("policy_iv", str, "auto (from the selection), on or off.", _POLICY, default="auto"),
    _option("noise_lambda", float, "NoisyTune's λ.", _POLICY, default=0.15),
]


def _with_options(options: list[inspect.Parameter], bundle: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding ``options`` to a typer command's signature; it receives them as one dict, ``bundle``."""
    names = {p.name for p in options}

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != bundle]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            opts = {name: kwargs.pop(name) for name in names}
            return command(**{bundle: opts}, **kwargs)

        params = own + options
        # typer reads the signature and the type hints: both must describe the merged parameters
        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate


_EXEC = "Execution options"
EXECUTOR_OPTIONS: list[inspect.Parameter] = [
    _option("executor", str, "Where the runs execute: local (one by one here), processes, ray or slurm.", _EXEC,
            default="local"),
    _option("workers", Optional[int], "processes: worker processes; slurm: array tasks "
            "running at once (default: one per GPU, else 2; slurm: no cap).", _EXEC),
    _option("threads_per_run", Optional[int], "CPU threads of each run, part of its config (default: local: "
            "PyTorch's; processes: cores / workers; ray, slurm: --cpus-per-run).", _EXEC),
    _option("retry_failed", bool, "Run again the runs recorded as failed (error, diverged).", _EXEC,
            flag="--retry-failed", default=False),
    _option("address", Optional[str], "ray: address of an existing cluster, e.g. auto or "
            "ray://head:10001 (default: a local instance).", _EXEC),
    _option("gpus_per_run", float, "ray, slurm: GPUs per run (ray: a fraction shares a GPU).", _EXEC, default=0.0),
    _option("cpus_per_run", int, "ray, slurm: CPU cores per run.", _EXEC, default=1),
    _option("partition", Optional[str], "slurm: partition (default: the cluster's).", _EXEC),
    _option("time", Optional[str], "slurm: time limit per run, minutes or [D-]HH:MM:SS; a run that reaches it "
            "is requeued and resumes (default: 60).", _EXEC),
    _option("mem_gb", Optional[float], "slurm: memory per run in GB (default: the partition's).", _EXEC),
    _option("slurm_arg", Optional[list[str]], "slurm: another sbatch option as KEY=VALUE, e.g. account=abc "
            "(repeatable).", _EXEC),
]

with_train_options = _with_options(TRAIN_OPTIONS, "train_opts")
with_train_options.__doc__ = "Add :data:`TRAIN_OPTIONS` to a command's CLI signature; it receives them as ``train_opts``."
with_policy_options = _with_options(POLICY_OPTIONS, "policy_opts")
with_policy_options.__doc__ = ("Add :data:`POLICY_OPTIONS` to a command's CLI signature; it receives them as "
                               "``policy_opts``.")


with_executor_options = _with_options(EXECUTOR_OPTIONS, "executor_opts")
with_executor_options.__doc__ = ("Add :data:`EXECUTOR_OPTIONS` to a command's CLI signature; it receives them as "
                                 "``executor_opts``.")


def policy_hyper(policy_opts: dict[str, Any]) -> dict[str, Any]:
    """The slow-and-fast hyper-parameters given on the command line (``c1`` … ``phase_mode``, unset ones left out)."""
    return {k: policy_opts[k] for k in POLICY_HYPER if policy_opts.get(k) is not None}


def resolve_train_options(train_opts: dict[str, Any], defaults: dict[str, Any] | None = None,
                          log: Callable[[str], None] | None = typer.echo) -> tuple[dict[str, Any], list[int]]:
    """Merge defaults < recipe < config file < flags; returns the TrainConfig values (without seed) and the seeds.

    The recipe (:func:`~xlingual_probe.training.recipes.apply_recipe`) is the one the config file or
    the flags name, else the task's default; its line (values, overrides) goes to ``log``.
    """
    given: dict[str, Any] = {}
    if train_opts.get("config") is not None:
        given.update(read_config_file(train_opts["config"]))
    given.update({k: v for k, v in train_opts.items() if v is not None and k != "config"})
    for required in ("model", "task"):
        if not given.get(required):
            raise UserError(f"--{required} is required (on the command line or in --config)")
    values = {**(defaults or {}), **apply_recipe(given)}
    for key in _LIST_OPTIONS:
        if isinstance(values.get(key), str):
            values[key] = [x.strip() for x in values[key].split(",") if x.strip()]
    seeds = values.pop("seed", None)
    seeds = [42] if seeds in (None, []) else ([seeds] if isinstance(seeds, int) else seeds)
    if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise UserError(f"--seed must be an integer or a list of integers, not {seeds!r}")
    unknown = set(values) - TrainConfig.field_names()
    if unknown:
        raise UserError(f"unknown option(s) in config: {', '.join(map(repr, sorted(unknown)))}")
    if log is not None and (line := describe_recipe(values)) is not None:
        log(line)
    return values, seeds
