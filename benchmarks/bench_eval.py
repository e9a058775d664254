"""One evaluation of every language: ours against the HF ``Trainer``'s ``evaluate`` per language.

Run on purpose (not in CI), on an otherwise quiet machine:

    .venv/bin/python benchmarks/bench_eval.py --model me5-small        # 15 XNLI languages x 2,490
    .venv/bin/python benchmarks/bench_eval.py --model synthetic        # synthetic-nli, 6 languages
    .venv/bin/python benchmarks/bench_eval.py --model synthetic:tiny --quick   # a check, < 1 minute

Both score the same model (a fresh head, so the predictions are arbitrary but identical) on the same
encoded features of every language, with the same batch size and precision. Ours is
:func:`xlingual_probe.training.evaluation.evaluate` (length-sorted, dynamically padded batches under
``torch.inference_mode``, predictions gathered per example); the Trainer's is ``Trainer.evaluate`` on
each language in turn with accuracy as ``compute_metrics`` (batches in file order, dynamically
padded). End-to-end seconds of evaluating all languages once, median over ``--repeats`` alternating
repetitions after one warm-up of each; the accuracies of both are printed to show they agree.
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
    options.add_argument("--eval-size", type=int, help="examples per language (default: all)")
    options.add_argument("--batch-size", type=int, default=64)
    options.add_argument("--precision", choices=["fp32", "bf16"], help="default: bf16 on CUDA, fp32 on CPU")
    args = options.parse_args()
    if args.quick:
        args.eval_size, args.repeats = 32, 2

    import numpy as np
    import torch
    from accelerate import Accelerator
    from transformers import PrinterCallback, Trainer, TrainingArguments

    from xlingual_probe.training.data import load_task_data
    from xlingual_probe.training.evaluation import evaluate, prepare_eval_sets
    from xlingual_probe.training.loop import load_starting_model

    precision = args.precision or ("bf16" if torch.cuda.is_available() else "fp32")
    with tempfile.TemporaryDirectory() as tmp:
        config = run_config(args.model, Path(tmp), train_size=8, eval_size=args.eval_size, max_length=128,
                            precision=precision)
        task, data = load_task_data(config)
        model, tokenizer, _ = load_starting_model(config, task.head, task.num_labels(data), labels=data.labels)
        eval_sets = prepare_eval_sets(task, data.eval, tokenizer, 128)
        header("one evaluation of every language: xprobe vs Trainer.evaluate per language", model=args.model,
               task=config.task, languages=len(eval_sets), examples=sum(len(s.order) for s in eval_sets),
               batch=args.batch_size, precision=precision, repeats=args.repeats)
        accelerator = Accelerator(mixed_precision="bf16" if precision == "bf16" else "no")
        model = accelerator.prepare(model)
        collate = task.collator(tokenizer)

        def accuracy(prediction) -> dict[str, float]:
            return {"accuracy": 100.0 * float(np.mean(prediction.predictions.argmax(-1) == prediction.label_ids))}

        trainer = Trainer(model=model, data_collator=collate, compute_metrics=accuracy,
                          args=TrainingArguments(output_dir=f"{tmp}/trainer", per_device_eval_batch_size=args.batch_size,
                                                 bf16=precision == "bf16", use_cpu=not torch.cuda.is_available(),
                                                 report_to=[], disable_tqdm=True))
        trainer.remove_callback(PrinterCallback)  # it prints every evaluation's log
        results: dict[str, dict[str, float]] = {}

        def run_ours() -> None:
            results["ours"] = evaluate(model, task, eval_sets, collate, accelerator, args.batch_size,
                                       config.source_lang, show_progress=False)["metrics"]

        def run_trainer() -> None:
            results["trainer"] = {s.lang: trainer.evaluate(eval_dataset=s.features)["eval_accuracy"]
                                  for s in eval_sets}

        run_ours(), run_trainer()  # warm-up
        times: dict[str, list[float]] = {"ours": [], "trainer": []}
        for _ in range(args.repeats):
            times["ours"].append(timed(run_ours))
            times["trainer"].append(timed(run_trainer))
        print(ratio_line("evaluation of all languages, xprobe / Trainer (s)", median(times["ours"]),
                         median(times["trainer"])))
        gaps = {lang: abs(results["ours"][lang] - results["trainer"][lang]) for lang in results["ours"]}
        print(f"accuracy, xprobe vs Trainer: largest difference {max(gaps.values()):.3f} points "
              f"(mean accuracy {np.mean(list(results['ours'].values())):.2f} vs "
              f"{np.mean(list(results['trainer'].values())):.2f})")


if __name__ == "__main__":
    main()
