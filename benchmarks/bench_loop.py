"""Speed of our training loop against a plain reference loop on the same model, data and batches.

Run on purpose (not in CI):

    .venv/bin/python benchmarks/bench_loop.py --model PATH_OR_NAME --task xnli --data-dir ../shared/data \
        --steps 30 --batch-size 16 [--freeze-embeddings]

Both loops fine-tune the same freshly loaded model on the same encoded training features with the
same batches, AdamW (the same implementation: fused where torch has it) and gradient clipping; the reference loop is the textbook
``loss.backward(); clip; optimizer.step(); zero_grad()`` with no logging, policies or checkpoints. It
prints seconds per update of each and their ratio (ours / reference), measured side by side in one run.
Our loop's time is its ``train_seconds`` (evaluation excluded; one evaluation at the end).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

import torch

from xlingual_probe.models import freeze_parameters, get_model_map, load_model
from xlingual_probe.models.units import resolve_model_name, resolve_units
from xlingual_probe.training import TrainConfig, train
from xlingual_probe.training.batches import epoch_batches
from xlingual_probe.training.data import load_task_data
from xlingual_probe.training.evaluation import model_batch
from xlingual_probe.training.optimizer import adamw


def reference_seconds_per_update(config: TrainConfig) -> float:
    task, data = load_task_data(config)
    model, tokenizer = load_model(resolve_model_name(config.model), task.head, task.num_labels(data), labels=data.labels)
    if config.freeze_embeddings:
        freeze_parameters(model, resolve_units(get_model_map(model), ["embeddings"]))
    features = task.encode(data.train, tokenizer, train=True,
                           max_length=config.max_length or getattr(task, "default_max_length", 128))
    collate = task.collator(tokenizer)
    optimizer = adamw([{"params": [p for p in model.parameters() if p.requires_grad]}], lr=config.lr,
                      weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(features) / config.batch_size)
    model.train()
    start = time.perf_counter()
    for step in range(config.max_steps):
        epoch, index = divmod(step, steps_per_epoch)
        indices = epoch_batches(len(features), config.batch_size, config.seed, epoch)[index]
        loss = model(**model_batch(task, features, indices, collate, train=True)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return (time.perf_counter() - start) / config.max_steps


def ours_seconds_per_update(config: TrainConfig) -> float:
    summary = train(config, show_progress=False)
    return summary["train_seconds"] / summary["steps"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--task", default="xnli")
    parser.add_argument("--data-dir")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--freeze-embeddings", action="store_true")
    parser.add_argument("--repeats", type=int, default=2, help="alternate the two loops this many times")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ours, ref = [], []
        for i in range(args.repeats):
            config = TrainConfig(model=args.model, task=args.task, out=f"{tmp}/run{i}", data_dir=args.data_dir,
                                 train_size=args.train_size, eval_size=32, max_steps=args.steps,
                                 batch_size=args.batch_size, eval_every=args.steps, save_every=0, save_best=False,
                                 freeze_embeddings=args.freeze_embeddings, seed=1)
            ref.append(reference_seconds_per_update(config))
            ours.append(ours_seconds_per_update(config))
    print(f"torch threads {torch.get_num_threads()}, {args.steps} updates x {args.repeats}, batch {args.batch_size}")
    print(f"reference loop: {min(ref):.4f} s/update (best of {args.repeats})")
    print(f"xlingual-probe: {min(ours):.4f} s/update (best of {args.repeats})")
    print(f"ratio ours/reference: {min(ours) / min(ref):.3f}")


if __name__ == "__main__":
    main()
