"""A minimal fine-tuning loop for the synthetic transfer checks (kept out of the package on purpose).

Fine-tunes a sequence classifier on the source language of a synthetic task and evaluates every
language at a few points, returning per-language accuracies per evaluation.
"""

from __future__ import annotations

import time

import torch
from torch.utils.data import DataLoader
from transformers import AutoModelForSequenceClassification, AutoTokenizer


def evaluate(model, task, loaders: dict) -> dict[str, float]:
    model.eval()
    out = {}
    with torch.no_grad():
        for lang, loader in loaders.items():
            correct = total = 0
            for batch in loader:
                pred = model(**{k: v for k, v in batch.items() if k != "labels"}).logits.argmax(-1)
                correct += int((pred == batch["labels"]).sum())
                total += len(pred)
            out[lang] = 100.0 * correct / total
    model.train()
    return out


def finetune_classifier(model_path: str, task, data, *, steps: int, lr: float, batch_size: int = 32,
                        seed: int = 0, eval_every: int = 100, warmup: float = 0.1) -> dict:
    """Fine-tune on ``data.train``; returns {"evals": [(step, {lang: acc})], "seconds": s}."""
    torch.manual_seed(seed)
    start = time.time()
    tok = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=len(data.labels))
    collate = task.collator(tok)
    train = task.encode(data.train, tok, train=True, max_length=128)
    gen = torch.Generator().manual_seed(seed)
    loader = DataLoader(train, batch_size=batch_size, shuffle=True, collate_fn=collate, generator=gen)
    evals = {lang: DataLoader(task.encode(ds, tok, train=False, max_length=128), batch_size=128,
                              collate_fn=collate) for lang, ds in data.eval.items()}
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    n_warm = max(1, int(warmup * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: min((t + 1) / n_warm, max(0.0, (steps - t) / max(steps - n_warm, 1))))
    history, step, losses = [], 0, []
    model.train()
    while step < steps:
        for batch in loader:
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            losses.append(loss.item())
            step += 1
            if step % eval_every == 0 or step == steps:
                history.append((step, evaluate(model, task, evals), sum(losses[-eval_every:]) / len(losses[-eval_every:])))
            if step >= steps:
                break
    return {"evals": history, "seconds": time.time() - start}
