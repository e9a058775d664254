"""Dynamic, length-grouped padding against XTREME's fixed 128-token padding, on XNLI-length data.

Run on purpose (not in CI), on an otherwise quiet machine:

    .venv/bin/python benchmarks/bench_padding.py --model me5-small      # XNLI (MNLI train, XNLI dev)
    .venv/bin/python benchmarks/bench_padding.py --model synthetic      # synthetic-nli
    .venv/bin/python benchmarks/bench_padding.py --model synthetic:tiny --quick   # a check, < 1 minute

XTREME's ``run_classify.py`` pads every feature to ``max_seq_length`` 128. We pad each batch to its
longest feature: training batches are random (as in our loop), evaluation batches follow the
length-sorted order (as in :mod:`xlingual_probe.training.evaluation`). On the same features, in the
same batches, it times a training update (forward + backward) and an evaluation forward pass with
each padding and prints the ratio dynamic / fixed (median over ``--repeats`` alternating
repetitions after a warm-up), and the share of padding positions each way.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import xlingual_probe  # noqa: F401  (before torch: the package's CPU thread settings)
from benchmarks._common import header, median, parser, ratio_line, run_config, timed


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--batch-size", type=int, default=32)
    options.add_argument("--batches", type=int, default=8, help="batches per timed pass")
    args = options.parse_args()
    if args.quick:
        args.batches, args.repeats, args.batch_size = 2, 2, 8

    import torch

    from xlingual_probe.training.batches import EpochBatches
    from xlingual_probe.training.data import load_task_data
    from xlingual_probe.training.evaluation import prepare_eval_sets
    from xlingual_probe.training.loop import load_starting_model

    with tempfile.TemporaryDirectory() as tmp:
        n = args.batch_size * args.batches
        config = run_config(args.model, Path(tmp), train_size=n, eval_size=n, max_length=128)
        task, data = load_task_data(config)
        model, tokenizer, _ = load_starting_model(config, task.head, task.num_labels(data), labels=data.labels)
        train_features = task.encode(data.train, tokenizer, train=True, max_length=128)
        eval_set = prepare_eval_sets(task, {config.source_lang: data.eval[config.source_lang]}, tokenizer, 128)[0]
        header("dynamic length-grouped padding vs fixed 128-token padding", model=args.model, task=config.task,
               batch=args.batch_size, batches=args.batches, precision="fp32", repeats=args.repeats)
        columns = ["input_ids", "attention_mask", "token_type_ids", "labels"]

        def batches_of(features, index_lists, fixed: bool) -> list[dict[str, torch.Tensor]]:
            present = [c for c in columns if c in features.column_names]
            out = []
            for indices in index_lists:
                rows = features.select_columns(present)[indices]
                items = [{c: rows[c][i] for c in present} for i in range(len(indices))]
                padding = {"padding": "max_length", "max_length": 128} if fixed else {"padding": True}
                out.append(dict(tokenizer.pad(items, return_tensors="pt", **padding)))
            return out

        random_batches = [EpochBatches(len(train_features), args.batch_size, 1)(s) for s in range(1, args.batches + 1)]
        sorted_batches = [eval_set.order[i:i + args.batch_size] for i in range(0, len(eval_set.order), args.batch_size)]
        prepared = {
            ("train", "dynamic"): batches_of(train_features, random_batches, False),
            ("train", "fixed"): batches_of(train_features, random_batches, True),
            ("eval", "dynamic"): batches_of(eval_set.features, sorted_batches, False),
            ("eval", "fixed"): batches_of(eval_set.features, sorted_batches, True),
        }

        def train_pass(batches) -> None:
            model.train()
            for batch in batches:
                model(**batch).loss.backward()
            model.zero_grad(set_to_none=True)

        @torch.inference_mode()
        def eval_pass(batches) -> None:
            model.eval()
            for batch in batches:
                model(**{k: v for k, v in batch.items() if k != "labels"})

        times: dict[tuple[str, str], list[float]] = {key: [] for key in prepared}
        for rep in range(args.repeats + 1):  # the first round is the warm-up
            for (kind, padding), batches in prepared.items():
                seconds = timed(lambda b=batches, k=kind: (train_pass if k == "train" else eval_pass)(b))
                if rep:
                    times[(kind, padding)].append(seconds)
        for kind, label in (("train", "training updates, random batches"), ("eval", "evaluation, length-sorted")):
            dynamic, fixed = median(times[(kind, "dynamic")]), median(times[(kind, "fixed")])
            real = sum(int(b["attention_mask"].sum()) for b in prepared[(kind, "dynamic")])
            padded = sum(b["input_ids"].numel() for b in prepared[(kind, "dynamic")])
            full = sum(b["input_ids"].numel() for b in prepared[(kind, "fixed")])
            print(ratio_line(f"{label}: dynamic / fixed 128 (s per pass)", dynamic, fixed))
            print(f"  padding positions: dynamic {1 - real / padded:.1%}, fixed 128 {1 - real / full:.1%} "
                  f"(mean real length {real / n:.1f} tokens)")


if __name__ == "__main__":
    main()
