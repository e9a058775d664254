"""The fine-tuning loop: one explicit function that reads top to bottom.

``train(config)`` loads the task's data and the model, applies the run's model changes
(re-initialise / freeze units), builds one optimizer parameter group per weight set, and runs AdamW
with linear warm-up and decay. After each update it logs the loss, lets a learning-rate policy set
each group's multiplier for the next rate, and every ``eval_every`` updates evaluates every language
(the gap-over-time probe) on both held-out halves of its validation set, keeps the checkpoint chosen
by ``select_by`` on the selection halves (:mod:`xlingual_probe.training.model_selection`), scores the
labelled test splits whenever a new checkpoint is chosen and at the end, and writes a resumable
checkpoint. Plug-ins (callbacks, policies) attach at named points; see
:mod:`xlingual_probe.training.callbacks`.
"""

from __future__ import annotations

import math
import shutil
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list, set_seed
from tqdm.auto import tqdm

from xlingual_probe.models import (
    ModelMap,
    build_param_groups,
    freeze_parameters,
    get_model_map,
    load_pretrained,
    reinitialize,
)
from xlingual_probe.models.units import resolve_model_name, resolve_units
from xlingual_probe.runs import NUMERICS_VERSION, RESULT_STATUSES, SCHEMA_VERSION, RunFiles, RunWriter
from xlingual_probe.tasks import HALVES, Task, TaskData
from xlingual_probe.training.batches import (
    EpochBatches,
    accumulated_update,
    micro_batch_indices,
    process_share,
)
from xlingual_probe.training.callbacks import Callback, ConstantScales, LoopContext, LRPolicy
from xlingual_probe.training.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    remove_checkpoints,
    save_checkpoint,
    save_model,
)
from xlingual_probe.training.config import TrainConfig
from xlingual_probe.training.data import (
    data_options,
    describe_training_data,
    in_domain_languages,
    load_fingerprinted,
)
from xlingual_probe.training.evaluation import EvalSet, evaluate, model_batch, prepare_eval_sets
from xlingual_probe.training.feature_cache import FeatureCache, data_identity
from xlingual_probe.training.guards import Diverged, NonFiniteGuard, check_batch_split, check_launch
from xlingual_probe.training.identity import (
    identity_differences,
    identity_key,
    recorded_identity,
    run_identity,
)
from xlingual_probe.training.launch import in_distributed_launch, run_on_processes
from xlingual_probe.training.model_selection import (
    evaluation_record,
    protocol_record,
    replaces_selected,
    split_scores,
)
from xlingual_probe.training.noisytune import apply_noisytune
from xlingual_probe.training.optimizer import adamw, adamw_implementation
from xlingual_probe.training.provenance import command_line, git_state, package_versions
from xlingual_probe.training.recipes import recipe_record
from xlingual_probe.training.runtime import machine_settings, run_accelerator
from xlingual_probe.training.schedule import apply_learning_rates, linear_schedule_factor, warmup_steps_for
from xlingual_probe.training.slowfast import SlowFastLRPolicy
from xlingual_probe.training.trackers import TrackerMirror, check_trackers
from xlingual_probe.utils.errors import RunWarning, UserError
from xlingual_probe.utils.io import read_json, read_jsonl
from xlingual_probe.utils.lease import LEASE_FILE


def prepare_run_dir(files: RunFiles, resume: bool, overwrite: bool, main: bool = True) -> tuple[str, Path | None]:
    """Decide what to do with the output folder: ``"fresh"``, ``"resume"`` or ``"done"``, and the checkpoint.

    The folder's ``lease.json`` (this process's own, taken before) does not count as content. A
    complete run (finished or diverged) is ``done``; an unfinished one (or one whose executor recorded
    an error) resumes from its newest intact checkpoint (:func:`latest_checkpoint`; a damaged one is
    reported as a :class:`RunWarning` and the previous one used), or starts again when none is left.

    Args:
        files: the run directory.
        resume: continue or reuse what the folder holds.
        overwrite: delete what the folder holds (only on the main process).
        main: whether this is the main process (the only one that deletes).

    Returns:
        The state, and the checkpoint to resume from (``None`` unless ``"resume"``).

    Raises:
        UserError: the folder holds something and neither ``resume`` nor ``overwrite`` was given, or
            it holds files but no run (no ``config.json``): it is never resumed into or deleted.
    """
    contents = [p for p in files.root.iterdir() if p.name != LEASE_FILE] if files.root.is_dir() else []
    if not contents:
        return "fresh", None
    if not files.config.is_file() and (resume or overwrite):
        names = ", ".join(sorted(p.name for p in contents)[:3])
        raise UserError(f"{files.root} holds files ({names}, ...) but no run directory (no config.json): it is "
                        "neither resumed nor deleted; choose another --out")
    if overwrite:
        if main:
            for path in contents:
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        return "fresh", None
    if not resume:
        raise UserError(f"output folder {files.root} is not empty: pass --resume to continue it "
                        "or --overwrite to replace it")
    if files.status() in RESULT_STATUSES:
        return "done", None
    checkpoint, problems = latest_checkpoint([files.last_checkpoint, files.previous_checkpoint])
    for problem in problems:
        warnings.warn(f"skipping damaged checkpoint {problem}", RunWarning, stacklevel=3)
    if checkpoint is None and problems:
        warnings.warn(f"no intact checkpoint left in {files.root}: starting the run again from update 0",
                      RunWarning, stacklevel=3)
    return ("resume", checkpoint) if checkpoint is not None else ("fresh", None)


def _check_same_identity(files: RunFiles, identity: dict[str, Any]) -> None:
    """Refuse to resume or reuse a run whose recorded identity (config, numerics version, data fingerprint;
    :mod:`~xlingual_probe.training.identity`) differs: its numbers would not be this run's."""
    changed = identity_differences(recorded_identity(read_json(files.config)), identity)
    if changed:
        raise UserError(f"cannot resume {files.root}: its run identity differs: {'; '.join(changed)} "
                        "(use --overwrite to start again, or another --out)")


def check_run_dir(config: TrainConfig, resume: bool) -> str:
    """What :func:`train` (without ``overwrite``) will do with ``config.out``: ``"fresh"``, ``"resume"`` or
    ``"done"``, with the same checks (:func:`_check_same_identity`, :func:`prepare_run_dir`) and without
    touching the folder: executors call it before they dispatch a run.

    Raises:
        UserError: the folder is not empty and ``resume`` is off, or it holds a run of another identity.
    """
    files = RunFiles(config.out)
    if files.config.is_file():
        _check_same_identity(files, run_identity(config))
    return prepare_run_dir(files, resume, overwrite=False)[0]


def report_truncation(task: Task, eval_sets: list[EvalSet], max_length: int) -> dict[str, int]:
    """``{lang: evaluation examples whose input was cut to max_length}`` (:meth:`Task.truncated_examples`),
    summed over the sets of a language (both held-out halves) and recorded in ``config.json``; any cut
    is also reported as a :class:`RunWarning`, naming the split (``validation`` or ``test``)."""
    counts: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for s in eval_sets:
        counts[s.lang] = counts.get(s.lang, 0) + task.truncated_examples(s.features)
        sizes[s.lang] = sizes.get(s.lang, 0) + len(s.examples)
    cut = [f"{lang} {n} of {sizes[lang]}" for lang, n in counts.items() if n]
    if cut:
        split = "test" if all(s.split == "test" for s in eval_sets) else "validation"
        warnings.warn(f"{split} inputs cut to --max-length {max_length} ({', '.join(cut)} examples): the model "
                      "sees only part of them; a larger --max-length avoids it", RunWarning, stacklevel=3)
    return counts


def _run_dir_state(accelerator: Accelerator, files: RunFiles, config: TrainConfig, resume: bool,
                   overwrite: bool) -> tuple[str, Path | None]:
    """The identity check and :func:`prepare_run_dir`, on the main process only (one process deletes
    or inspects the folder, none sees another's fresh files), the outcome shared with every process.

    Raises:
        UserError: on every process, when the main process refused the folder.
    """
    outcome: list[Any] = [None]
    if accelerator.is_main_process:
        try:
            if files.config.is_file() and not overwrite:  # a folder holding another run is refused, whatever the flags
                _check_same_identity(files, run_identity(config))
            outcome = [("ok", prepare_run_dir(files, resume, overwrite))]
        except UserError as exc:
            outcome = [("error", str(exc))]
    if accelerator.num_processes > 1:
        broadcast_object_list(outcome)
    kind, value = outcome[0]
    if kind == "error":
        raise UserError(value)
    return value


def _check_halves(data: TaskData) -> None:
    """Every language needs examples in both halves: one chooses the checkpoint, the other reports it."""
    for lang, halves in data.halves.items():
        for name in HALVES:
            if name not in halves:
                raise UserError(f"the {name} half of {lang!r} is empty ({len(halves)} evaluation examples "
                                "split by a seeded hash): use more evaluation data (--eval-size)")


def _policy_for(config: TrainConfig, model_map, policy: LRPolicy | None) -> LRPolicy:
    if policy is None and config.slowfast:
        policy = SlowFastLRPolicy(config.slowfast)
    if policy is not None:
        if config.lr_scale:
            raise UserError("lr_scale cannot be combined with a learning-rate policy")
        return policy
    sets = {spec: resolve_units(model_map, [spec]) for spec in config.lr_scale}
    return ConstantScales(sets, dict(config.lr_scale))


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
    loaded = load_pretrained(name, head, num_labels, labels=labels, trust_remote_code=config.trust_remote_code)
    model, tokenizer = loaded.model, loaded.tokenizer
    model_map = get_model_map(model)
    # NoisyTune perturbs what is pre-trained: what the checkpoint held and was not re-initialised
    not_pretrained = set(loaded.new_parameters)
    if config.reinit:
        reinit_names = resolve_units(model_map, config.reinit)
        reinitialize(model, model_map, reinit_names)
        not_pretrained.update(reinit_names)
    if config.noise_lambda > 0:
        noise = torch.Generator().manual_seed(config.seed)
        apply_noisytune(model, sorted(not_pretrained), lam=config.noise_lambda, generator=noise)
    return model, tokenizer, model_map


def train(config: TrainConfig, *, callbacks: Sequence[Callback] = (), policy: LRPolicy | None = None,
          resume: bool = False, overwrite: bool = False, show_progress: bool = True,
          extra_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fine-tune ``config.model`` on ``config.task`` and write the run directory ``config.out``.

    With ``config.num_processes`` > 1 (and no launcher around this process) the run happens in that
    many spawned worker processes (:func:`~xlingual_probe.training.launch.run_on_processes`), which
    needs ``callbacks`` and ``policy`` to be picklable; under ``accelerate launch`` every process
    calls this function itself.

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
        The content of ``summary.json``: ``status`` ``finished``, or ``diverged`` when a non-finite
        loss stopped the run (see :mod:`xlingual_probe.training.guards`).

    Raises:
        UserError: bad options or data, a launch whose processes did not join one job, or an output
            folder that another process writes (its lease, :mod:`xlingual_probe.utils.lease`).
    """
    options = {"callbacks": callbacks, "policy": policy, "resume": resume, "overwrite": overwrite,
               "show_progress": show_progress, "extra_config": extra_config}
    if config.num_processes > 1 and not in_distributed_launch():
        run_on_processes(train, config.num_processes, config, **options)
        return read_json(RunFiles(config.out).summary)
    with machine_settings(config) as machine:
        return _train(config, machine=machine, **options)


def _train(config: TrainConfig, *, callbacks: Sequence[Callback], policy: LRPolicy | None, resume: bool,
           overwrite: bool, show_progress: bool, extra_config: dict[str, Any] | None,
           machine: dict[str, Any]) -> dict[str, Any]:
    """:func:`train` in this process (one of several under a launcher)."""
    invocation_start = time.perf_counter()
    trackers = check_trackers(config.report_to)
    accelerator = run_accelerator(machine["precision"], log_with=trackers or None,
                                  project_dir=str(Path(config.out) / "trackers") if trackers else None)
    if config.num_processes > 1 and accelerator.num_processes != config.num_processes:
        raise UserError(f"--num-processes {config.num_processes} but launched on {accelerator.num_processes} "
                        "processes: give one or the other")
    # before anything is written: processes that did not join one job would all write config.out
    check_launch(accelerator.num_processes)
    check_batch_split(config.batch_size, accelerator.num_processes, config.grad_accum)
    writer = RunWriter(config.out, enabled=accelerator.is_main_process)
    existed = writer.files.root.exists()
    writer.acquire()  # one writer per run directory, before anything in it is read or deleted
    try:
        return _train_in_lease(config, accelerator, writer, trackers=trackers, machine=machine, callbacks=callbacks,
                               policy=policy, resume=resume, overwrite=overwrite, show_progress=show_progress,
                               extra_config=extra_config, invocation_start=invocation_start)
    finally:
        writer.release()
        # a run that failed before writing anything (bad data, say) leaves no folder behind
        if accelerator.is_main_process and not existed and writer.files.root.is_dir() \
                and not any(writer.files.root.iterdir()):
            writer.files.root.rmdir()


def _train_in_lease(config: TrainConfig, accelerator: Accelerator, writer: RunWriter, *, trackers: list[str],
                    machine: dict[str, Any], callbacks: Sequence[Callback], policy: LRPolicy | None, resume: bool,
                    overwrite: bool, show_progress: bool, extra_config: dict[str, Any] | None,
                    invocation_start: float) -> dict[str, Any]:
    """:func:`train` once the launch is checked and the run directory's lease is held."""
    files = writer.files
    state, checkpoint = _run_dir_state(accelerator, files, config, resume, overwrite)
    if state == "done":
        return read_json(files.summary)
    set_seed(config.seed)

    # data before the model: a bad data option fails fast, before any download or folder is made
    task, data, fingerprint = load_fingerprinted(config)
    _check_halves(data)
    identity = run_identity(config, fingerprint)
    if show_progress and accelerator.is_main_process:
        tqdm.write(describe_training_data(task, fingerprint, config.source_lang))
    max_length = config.max_length or getattr(task, "default_max_length", 128)
    model, tokenizer, model_map = load_starting_model(config, task.head, task.num_labels(data), labels=data.labels)
    frozen = resolve_units(model_map, config.freeze + (["embeddings"] if config.freeze_embeddings else []))
    freeze_parameters(model, frozen)
    policy = _policy_for(config, model_map, policy)
    sets = policy.param_sets(model, model_map)
    groups, group_names = build_param_groups(model, sets, weight_decay=config.weight_decay)
    optimizer = adamw(groups, lr=config.lr, weight_decay=config.weight_decay)

    # the main process tokenises (or reads the cache) first, so the others find its entries; each half and
    # each test set is its own cache entry (the key hashes the examples encoded)
    cache = FeatureCache(task, tokenizer, max_length, data_identity(task, data_options(config)), labels=data.labels)
    with accelerator.main_process_first():
        train_features = cache.encode(data.train, train=True)
        eval_sets = {half: prepare_eval_sets(task, {lang: data.half(lang, half) for lang in data.eval}, tokenizer,
                                             max_length, split=half, cache=cache) for half in HALVES}
        test_sets = prepare_eval_sets(task, data.test, tokenizer, max_length, split="test", cache=cache)
    protocol = protocol_record(config.select_by, config.source_lang, list(data.test), data.test_note)
    collate = task.collator(tokenizer)
    batches = EpochBatches(len(train_features), config.batch_size, config.seed)
    steps_per_epoch = batches.steps_per_epoch
    total_steps = config.max_steps or max(1, math.ceil(config.epochs * steps_per_epoch))
    warmup_steps = (config.warmup_steps if config.warmup_steps is not None
                    else warmup_steps_for(total_steps, config.warmup_ratio))
    model, optimizer = accelerator.prepare(model, optimizer)
    mirror = TrackerMirror(accelerator, files.root, config.to_dict()) if trackers else None
    if mirror is not None:
        writer.observers.append(mirror)
    ctx = LoopContext(config, accelerator, model, tokenizer, task, model_map, writer,
                      rebuild_starting_model=lambda: load_starting_model(
                          config, task.head, task.num_labels(data), labels=data.labels)[0],
                      data=data, total_steps=total_steps)

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    run_info = {
        "schema_version": SCHEMA_VERSION, "numerics_version": NUMERICS_VERSION, "config": config.to_dict(),
        "seed": config.seed, "identity_key": identity_key(identity), "data_fingerprint": fingerprint,
        "recipe": recipe_record(config.to_dict()),
        "versions": package_versions(), "git": git_state(), "command": command_line(),
        "device": {"type": accelerator.device.type, "processes": accelerator.num_processes, **machine},
        "data": {"metric": task.metric, "languages": list(data.eval), "train_examples": len(data.train),
                 "train_features": len(train_features), "max_length": max_length,
                 "eval_examples": {lang: len(ds) for lang, ds in data.eval.items()},
                 "eval_halves": {lang: {half: halves.count(half) for half in HALVES}
                                 for lang, halves in data.halves.items()},
                 "test_examples": {lang: len(ds) for lang, ds in data.test.items()},
                 "few_shot_examples": {lang: len(ids) for lang, ids in data.shots.items()},
                 "train_sources": [s.get("path") or s.get("name") for s in fingerprint["sources"] if s["role"] == "train"],
                 "in_domain": in_domain_languages(task, fingerprint, config.source_lang),
                 "eval_truncated": report_truncation(task, eval_sets["selection"] + eval_sets["reporting"], max_length),
                 "test_truncated": report_truncation(task, test_sets, max_length)},
        "protocol": protocol,
        "training": {"total_steps": total_steps, "warmup_steps": warmup_steps,
                     "steps_per_epoch": steps_per_epoch, "trainable_parameters": trainable,
                     "frozen_parameters": len(frozen), "model_family": model_map.family,
                     "num_layers": len(model_map.layers),
                     "optimizer": f"AdamW ({adamw_implementation(p for g in groups for p in g['params'])})",
                     "attention": getattr(accelerator.unwrap_model(model).config, "_attn_implementation", None)},
        **(extra_config or {}),
    }
    start_step, best, losses_since_eval = 0, None, []
    timers = {"train_seconds": 0.0, "eval_seconds": 0.0, "wall_seconds": 0.0}
    guard = NonFiniteGuard(config.skip_nonfinite)
    if state == "resume":
        saved = load_checkpoint(accelerator, checkpoint)
        start_step, best, losses_since_eval = saved["step"], saved["best"], saved["losses_since_eval"]
        timers, guard.skipped = saved["timers"], saved.get("skipped_nonfinite", 0)
        policy.load_state_dict(saved["policy"])
        # drop what was logged after the checkpoint: those updates are about to be redone
        writer.resume_at(start_step)
    else:
        writer.start(run_info)
        writer.write_data_record("eval_split", data.split_record())
        if config.few_shot:
            writer.write_data_record("few_shot", data.few_shot_record(config.few_shot, config.seed))
        writer.write_param_groups(group_names)
    for callback in callbacks:
        callback.on_train_begin(ctx, start_step)

    def scores(sets: list) -> dict[str, Any]:
        return evaluate(model, task, sets, collate, accelerator, config.eval_batch_size, config.source_lang,
                        show_progress)

    def run_evaluation(step: int) -> dict[str, Any]:
        nonlocal best
        halves = {half: scores(eval_sets[half]) for half in HALVES}
        loss = sum(losses_since_eval) / len(losses_since_eval) if losses_since_eval else None
        record = evaluation_record(step, loss, halves["reporting"], halves["selection"])
        losses_since_eval.clear()
        is_best = replaces_selected(record, best, config.select_by)
        # under select_by=last only the last evaluation is the selected one
        is_selected = is_best and (config.select_by != "last" or step == total_steps)
        if test_sets and (is_selected or step == total_steps):
            result = scores(test_sets)
            record["test"] = split_scores(result)
            record["eval_seconds"] += result["eval_seconds"]
        timers["eval_seconds"] += record["eval_seconds"]
        if is_best:
            best = record
        writer.append("metrics", record)
        if is_selected and config.save_best:
            save_model(accelerator, model, tokenizer, files.best_checkpoint)
        for callback in callbacks:
            callback.on_evaluate(ctx, record)
        return record

    if config.eval_at_start and start_step == 0:
        run_evaluation(0)
    model.train()
    bar = tqdm(total=total_steps, initial=start_step, desc=f"{config.method} seed {config.seed}",
               disable=not show_progress or not accelerator.is_main_process)
    step, last_record, diverged = start_step, None, None
    # timers continue across a resume: they count this invocation plus the saved totals
    train_start = time.perf_counter() - timers["train_seconds"] - timers["eval_seconds"]
    wall_start = invocation_start - timers["wall_seconds"]
    while step < total_steps:
        writer.check_lease()
        step += 1
        global_batch = batches(step)
        mine = process_share(global_batch, accelerator.process_index, accelerator.num_processes)

        def on_device(indices: list[int]) -> dict[str, torch.Tensor]:
            return {k: v.to(accelerator.device) for k, v in model_batch(task, train_features, indices, collate,
                                                                       train=True).items()}

        # a process without a share runs a stand-in example that counts for nothing (DDP needs every process)
        share = mine or global_batch[:1]
        micro = [on_device(chunk) for chunk in micro_batch_indices(share, config.grad_accum)]
        loss = accumulated_update(model, accelerator, micro, counts=bool(mine))
        # callbacks (the CKA probe) see the whole batch of the update, as without accumulation
        batch = micro[0] if len(micro) == 1 or not callbacks else on_device(share)
        if not math.isfinite(loss):
            try:
                skipped_record = guard.skip_or_raise(step, loss)
            except Diverged as exc:
                diverged = exc
                break
            optimizer.zero_grad(set_to_none=True)  # the update is skipped: its gradients are dropped
            writer.append("steps", skipped_record)
        else:
            # the policy sees update t's loss before update t is applied (SPEC: K at t uses L_t); it never
            # sees a skipped update, so it counts the loop's updates minus the skipped ones
            scales, policy_fields = policy.scales(step - guard.skipped, loss)
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
                "policy": policy.state_dict(), "skipped_nonfinite": guard.skipped})
    bar.close()
    if last_record is None:  # resumed exactly at the end, or diverged before this invocation evaluated
        records = read_jsonl(files.metrics) if files.metrics.is_file() else []
        last_record = records[-1] if records else None
    timers["train_seconds"] = time.perf_counter() - train_start - timers["eval_seconds"]
    timers["wall_seconds"] = time.perf_counter() - wall_start
    summary = {"status": "finished", "best": best, "final": last_record, "select_by": config.select_by,
               "protocol": protocol, **timers, "method": config.method, "seed": config.seed,
               "steps": total_steps if diverged is None else diverged.step - 1, "skipped_nonfinite": guard.skipped}
    if diverged is not None:  # a recorded outcome; the last good checkpoint stays for inspection
        summary.update(status="diverged", diverged_at=diverged.step, reason=str(diverged))
    if config.slowfast is not None:  # policies II and IV only act in phase 2: say how long it lasted
        summary["phase2_updates"] = sum(record.get("phase") == 2 for record in read_jsonl(files.steps))
    writer.write_summary(summary)
    if accelerator.is_main_process and diverged is None:
        remove_checkpoints([files.last_checkpoint, files.previous_checkpoint])
    for callback in callbacks:
        callback.on_train_end(ctx, summary)
    if mirror is not None:
        mirror.close()
    return summary
