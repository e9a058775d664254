"""The fine-tuning loop: one explicit function that reads top to bottom.

``train(config)`` loads the task's data and the model, applies the run's model changes
(re-initialise / freeze units), builds one optimizer parameter group per weight set, and runs AdamW
with linear warm-up and decay. After each update it logs the loss, lets a learning-rate policy set
each group's multiplier for the next rate, and every ``eval_every`` updates evaluates every language
(the gap-over-time probe), keeps the best evaluation, and writes a resumable checkpoint. Plug-ins
(callbacks, policies) attach at named points; see :mod:`xlingual_probe.training.callbacks`.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Sequence
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from xlingual_probe.models import (
    ModelMap,
    build_param_groups,
    freeze_parameters,
    get_model_map,
    load_model,
    reinitialize,
)
from xlingual_probe.models.units import resolve_model_name, resolve_units
from xlingual_probe.runs import NUMERICS_VERSION, SCHEMA_VERSION, RunFiles, RunWriter
from xlingual_probe.tasks import DataOptions, Task, TaskData, get_task
from xlingual_probe.training.callbacks import Callback, ConstantScales, LoopContext, LRPolicy
from xlingual_probe.training.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint, save_model
from xlingual_probe.training.config import TrainConfig
from xlingual_probe.training.evaluation import evaluate, model_batch, prepare_eval_sets
from xlingual_probe.training.noisytune import apply_noisytune
from xlingual_probe.training.provenance import git_state, package_versions
from xlingual_probe.training.schedule import apply_learning_rates, linear_schedule_factor
from xlingual_probe.training.slowfast import SlowFastLRPolicy
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import read_json, read_jsonl


def prepare_run_dir(files: RunFiles, resume: bool, overwrite: bool) -> str:
    """Decide what to do with the output folder: ``"fresh"``, ``"resume"`` or ``"done"``.

    Raises:
        UserError: the folder holds something and neither ``resume`` nor ``overwrite`` was given.
    """
    if files.root.exists() and any(files.root.iterdir()):
        if overwrite:
            shutil.rmtree(files.root)
            return "fresh"
        if not resume:
            raise UserError(f"output folder {files.root} is not empty: pass --resume to continue it "
                            "or --overwrite to replace it")
        if files.is_finished():
            return "done"
        return "resume" if has_checkpoint(files.last_checkpoint) else "fresh"
    return "fresh"


def _check_same_config(files: RunFiles, config: TrainConfig) -> None:
    """Refuse to resume or reuse a run made under a different configuration or numerics version (its
    numbers would not be this configuration's)."""
    info = read_json(files.config)
    saved, current = info["config"], config.to_dict()
    changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if info.get("numerics_version", 1) != NUMERICS_VERSION:
        changed.append(f"numerics_version ({info.get('numerics_version', 1)} there, {NUMERICS_VERSION} in this code)")
    if changed:
        raise UserError(f"cannot resume {files.root}: its config differs in {', '.join(changed)} "
                        "(use --overwrite to start again, or another --out)")


def check_run_dir(config: TrainConfig, resume: bool) -> str:
    """What :func:`train` (without ``overwrite``) will do with ``config.out``: ``"fresh"``, ``"resume"`` or
    ``"done"``, with the same checks, and without touching the folder (executors call it before they
    dispatch a run).

    Raises:
        UserError: the folder is not empty and ``resume`` is off, or it holds a run of another config
            or numerics version.
    """
    files = RunFiles(config.out)
    state = prepare_run_dir(files, resume, overwrite=False)
    if state in ("done", "resume"):
        _check_same_config(files, config)
    return state


def load_task_data(config: TrainConfig) -> tuple[Task, TaskData]:
    """The run's task (adapted to the model by :meth:`~xlingual_probe.tasks.Task.for_model`: a synthetic
    task draws its data from a synthetic model's own world) and its data. Nothing is loaded or
    pre-trained here, so a bad data option fails before the model is built."""
    task = get_task(config.task).for_model(config.model)
    opts = DataOptions(data_dir=config.data_dir, source_lang=config.source_lang, langs=config.langs,
                       train_size=config.train_size, eval_size=config.eval_size, seed=config.data_seed,
                       few_shot=config.few_shot, text_columns=config.text_columns,
                       label_column=config.label_column, train_file=config.train_file)
    return task, task.load(opts)


def _policy_for(config: TrainConfig, model_map, policy: LRPolicy | None) -> LRPolicy:
    if policy is None and config.slowfast:
        policy = SlowFastLRPolicy(config.slowfast)
    if policy is not None:
        if config.lr_scale:
            raise UserError("lr_scale cannot be combined with a learning-rate policy")
        return policy
    sets = {spec: resolve_units(model_map, [spec]) for spec in config.lr_scale}
    return ConstantScales(sets, dict(config.lr_scale))


def _epoch_batches(n_examples: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The shuffled batches of one epoch; a pure function of (seed, epoch) so resuming repeats them."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n_examples, generator=generator).tolist()
    return [order[i:i + batch_size] for i in range(0, n_examples, batch_size)]


def load_starting_model(config: TrainConfig, head: str, num_labels: int, labels: list[str] | None = None
                        ) -> tuple[torch.nn.Module, Any, ModelMap]:
    """The run's model before its first update: the pre-trained weights with a new ``head``, then the
    run's re-initialisation and NoisyTune noise. Returns ``(model, tokenizer, model map)``.

    Seeds the RNGs with ``config.seed`` right before loading: the head's and the re-initialisation's
    draws are part of the run's identity; the noise has its own generator seeded by ``config.seed``.
    The model name is resolved first, so building the synthetic world (the first time, which draws
    random numbers) cannot shift them. The CKA probe calls it to rebuild a resumed run's starting point.
    """
    name = resolve_model_name(config.model)
    set_seed(config.seed)
    model, tokenizer = load_model(name, head, num_labels, labels=labels, trust_remote_code=config.trust_remote_code)
    model_map = get_model_map(model)
    if config.reinit:
        reinitialize(model, model_map, resolve_units(model_map, config.reinit))
    if config.noise_lambda > 0:
        noise = torch.Generator().manual_seed(config.seed)
        apply_noisytune(model, model_map.head, lam=config.noise_lambda, generator=noise)
    return model, tokenizer, model_map


def train(config: TrainConfig, *, callbacks: Sequence[Callback] = (), policy: LRPolicy | None = None,
          resume: bool = False, overwrite: bool = False, show_progress: bool = True,
          extra_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fine-tune ``config.model`` on ``config.task`` and write the run directory ``config.out``.

    Args:
        config: the run's configuration.
        callbacks: observers (e.g. the CKA probe).
        policy: a learning-rate policy; default: slow-and-fast from ``config.slowfast`` if set,
            else the constant multipliers of ``config.lr_scale``.
        resume: continue an unfinished run in ``config.out`` from its last checkpoint (a finished
            run is returned as it is).
        overwrite: delete ``config.out`` first.
        show_progress: show progress bars.
        extra_config: more keys for ``config.json`` (e.g. a method's resolved weight sets).

    Returns:
        The content of ``summary.json``.
    """
    invocation_start = time.perf_counter()
    files = RunFiles(config.out)
    state = prepare_run_dir(files, resume, overwrite)
    if state in ("done", "resume"):
        _check_same_config(files, config)
    if state == "done":
        return read_json(files.summary)
    if config.threads is not None:  # before any kernel runs: the thread count is part of the run's numbers
        torch.set_num_threads(config.threads)
    accelerator = Accelerator(mixed_precision="bf16" if config.precision == "bf16" else "no")
    if config.batch_size % accelerator.num_processes:
        raise UserError(f"--batch-size {config.batch_size} must be divisible by the number of processes "
                        f"({accelerator.num_processes})")
    set_seed(config.seed)

    # data before the model: a bad data option fails fast, before any download or folder is made
    task, data = load_task_data(config)
    max_length = config.max_length or getattr(task, "default_max_length", 128)
    model, tokenizer, model_map = load_starting_model(config, task.head, task.num_labels(data), labels=data.labels)
    frozen = resolve_units(model_map, config.freeze + (["embeddings"] if config.freeze_embeddings else []))
    freeze_parameters(model, frozen)
    policy = _policy_for(config, model_map, policy)
    sets = policy.param_sets(model, model_map)
    groups, group_names = build_param_groups(model, sets, weight_decay=config.weight_decay)
    optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)

    train_features = task.encode(data.train, tokenizer, train=True, max_length=max_length)
    eval_sets = prepare_eval_sets(task, data.eval, tokenizer, max_length)
    collate = task.collator(tokenizer)
    steps_per_epoch = math.ceil(len(train_features) / config.batch_size)
    total_steps = config.max_steps or max(1, math.ceil(config.epochs * steps_per_epoch))
    warmup_steps = int(config.warmup_ratio * total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    writer = RunWriter(files.root, enabled=accelerator.is_main_process)
    ctx = LoopContext(config, accelerator, model, tokenizer, task, model_map, writer,
                      rebuild_starting_model=lambda: load_starting_model(
                          config, task.head, task.num_labels(data), labels=data.labels)[0])

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    run_info = {
        "schema_version": SCHEMA_VERSION, "numerics_version": NUMERICS_VERSION, "config": config.to_dict(),
        "seed": config.seed,
        "versions": package_versions(), "git": git_state(),
        "device": {"type": accelerator.device.type, "processes": accelerator.num_processes,
                   "threads": torch.get_num_threads()},
        "data": {"metric": task.metric, "languages": list(data.eval), "train_examples": len(data.train),
                 "train_features": len(train_features), "max_length": max_length,
                 "eval_examples": {lang: len(ds) for lang, ds in data.eval.items()}},
        "training": {"total_steps": total_steps, "warmup_steps": warmup_steps,
                     "steps_per_epoch": steps_per_epoch, "trainable_parameters": trainable,
                     "frozen_parameters": len(frozen), "model_family": model_map.family,
                     "num_layers": len(model_map.layers)},
        **(extra_config or {}),
    }
    start_step, best, losses_since_eval = 0, None, []
    timers = {"train_seconds": 0.0, "eval_seconds": 0.0, "wall_seconds": 0.0}
    if state == "resume":
        saved = load_checkpoint(accelerator, files.last_checkpoint)
        start_step, best, losses_since_eval = saved["step"], saved["best"], saved["losses_since_eval"]
        timers = saved["timers"]
        policy.load_state_dict(saved["policy"])
        # drop what was logged after the checkpoint: those updates are about to be redone
        writer.resume_at(start_step)
    else:
        writer.start(run_info)
        writer.write_param_groups(group_names)
    for callback in callbacks:
        callback.on_train_begin(ctx, start_step)

    def run_evaluation(step: int) -> dict[str, Any]:
        nonlocal best
        result = evaluate(model, task, eval_sets, collate, accelerator, config.eval_batch_size,
                          config.source_lang, show_progress)
        timers["eval_seconds"] += result["eval_seconds"]
        loss = sum(losses_since_eval) / len(losses_since_eval) if losses_since_eval else None
        record = {"step": step, "loss": loss, **result}
        losses_since_eval.clear()
        key = "overall" if config.select_by == "overall" else "source"
        is_best = best is None or record[key] > best[key]
        if is_best:
            best = record
        writer.append("metrics", record)
        if is_best and config.save_best:
            save_model(accelerator, model, tokenizer, files.best_checkpoint)
        for callback in callbacks:
            callback.on_evaluate(ctx, record)
        return record

    if config.eval_at_start and start_step == 0:
        run_evaluation(0)
    model.train()
    bar = tqdm(total=total_steps, initial=start_step, desc=f"{config.method} seed {config.seed}",
               disable=not show_progress or not accelerator.is_main_process)
    per_process = config.batch_size // accelerator.num_processes
    step, last_record = start_step, None
    # timers continue across a resume: they count this invocation plus the saved totals
    train_start = time.perf_counter() - timers["train_seconds"] - timers["eval_seconds"]
    wall_start = invocation_start - timers["wall_seconds"]
    while step < total_steps:
        epoch, index_in_epoch = divmod(step, steps_per_epoch)
        batch_indices = _epoch_batches(len(train_features), config.batch_size, config.seed, epoch)[index_in_epoch]
        mine = batch_indices[accelerator.process_index * per_process:(accelerator.process_index + 1) * per_process]
        batch = model_batch(task, train_features, mine, collate, train=True)
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        step += 1
        with accelerator.autocast():
            outputs = model(**batch)
        accelerator.backward(outputs.loss)
        loss = accelerator.reduce(outputs.loss.detach(), reduction="mean").item()
        if not math.isfinite(loss):
            raise RuntimeError(f"training loss became {loss} at update {step}; lower --lr or check the data")
        # the policy sees update t's loss before update t is applied (SPEC: K at t uses L_t)
        scales, policy_fields = policy.scales(step, loss)
        for group in optimizer.param_groups:
            group["lr_scale"] = scales.get(group["set"], 1.0)
        factor = linear_schedule_factor(step, total_steps, warmup_steps)
        rates = apply_learning_rates(optimizer, config.lr, factor)
        if config.max_grad_norm > 0:
            accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses_since_eval.append(loss)
        record = {"step": step, "loss": loss, "lr": config.lr * factor}
        if len(rates) > 1:
            record["group_lr"] = rates
        writer.append("steps", {**record, **policy_fields})
        for callback in callbacks:
            callback.on_step_end(ctx, step, loss, batch)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}")
        if step % config.eval_every == 0 or step == total_steps:
            last_record = run_evaluation(step)
            bar.set_postfix(loss=f"{loss:.4f}", overall=f"{last_record['overall']:.1f}",
                            gap=f"{last_record['gap'] or 0:.1f}")
        if config.checkpoint_every and step % config.checkpoint_every == 0 and step < total_steps:
            timers["train_seconds"] = time.perf_counter() - train_start - timers["eval_seconds"]
            timers["wall_seconds"] = time.perf_counter() - wall_start
            save_checkpoint(accelerator, files.last_checkpoint, {
                "step": step, "best": best, "losses_since_eval": losses_since_eval, "timers": timers,
                "policy": policy.state_dict()})
    bar.close()
    if last_record is None:  # resumed exactly at the end
        last_record = read_jsonl(files.metrics)[-1]
    timers["train_seconds"] = time.perf_counter() - train_start - timers["eval_seconds"]
    timers["wall_seconds"] = time.perf_counter() - wall_start
    summary = {"best": best, "final": last_record, "select_by": config.select_by, **timers, "method": config.method,
               "seed": config.seed, "steps": total_steps}
    if config.slowfast is not None:  # policies II and IV only act in phase 2: say how long it lasted
        summary["phase2_updates"] = sum(record.get("phase") == 2 for record in read_jsonl(files.steps))
    writer.write_summary(summary)
    if accelerator.is_main_process and files.last_checkpoint.exists():
        shutil.rmtree(files.last_checkpoint)
    for callback in callbacks:
        callback.on_train_end(ctx, summary)
    return summary
