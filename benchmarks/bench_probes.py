"""What the probes cost, as a share of training time: the gap evaluation and the CKA probe.

Run on purpose (not in CI), on an otherwise quiet machine:

    .venv/bin/python benchmarks/bench_probes.py --model me5-small      # XNLI, 15 languages
    .venv/bin/python benchmarks/bench_probes.py --model synthetic      # synthetic-nli, 6 languages
    .venv/bin/python benchmarks/bench_probes.py --model synthetic:tiny --quick   # a check, < 1 minute

After an untimed warm-up run, one training run (``train direct``, all weights trained, batch
``--batch-size``) with the CKA probe
every ``--cka-every`` updates gives the median update time t (updates without a probe, after
warm-up) and the CKA probe's median time c per probe (``cka_seconds``, both forward passes and the
CKA of every layer, default settings: tokens, fp32, biased). Then one evaluation of every language is
timed (median of ``--repeats``) at each evaluation size S. The overhead of evaluating every E updates
is C(S) / (E t), of probing CKA every E updates c / (E t); the table gives both for the sizes and
intervals asked, and the smallest interval at which each stays at or under 5%. The CKA probe's
frozen copy costs the memory of the model's weights once more (printed for fp32 and ``--cka-dtype
bf16``; the working model holds weights, gradients and two AdamW moments: four times that).
"""

from __future__ import annotations

import functools
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import xlingual_probe  # noqa: F401  (before torch: the package's CPU thread settings)
from benchmarks._common import header, median, parser, run_config, timed, warm_up

INTERVALS = (25, 50, 100, 200, 500, 1000)


def smallest_interval(cost: float, step: float, limit: float = 0.05) -> int | None:
    return next((e for e in INTERVALS if cost / (e * step) <= limit), None)


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--batch-size", type=int, default=16)
    options.add_argument("--steps", type=int, default=24, help="training updates (CKA probe every --cka-every)")
    options.add_argument("--cka-every", type=int, default=4)
    options.add_argument("--eval-sizes", default="100,250,500,all", help="examples per language")
    args = options.parse_args()
    if args.quick:
        args.steps, args.cka_every, args.eval_sizes, args.repeats, args.batch_size = 8, 2, "16,32", 2, 8

    import torch
    from accelerate import Accelerator

    from xlingual_probe.probes.cka_probe import CKAProbe, CKAProbeConfig
    from xlingual_probe.training import Callback, train
    from xlingual_probe.training.data import load_task_data
    from xlingual_probe.training.evaluation import evaluate, prepare_eval_sets
    from xlingual_probe.training.loop import load_starting_model
    from xlingual_probe.utils.io import read_jsonl

    precision = "bf16" if torch.cuda.is_available() else "fp32"
    with tempfile.TemporaryDirectory() as tmp:
        config = run_config(args.model, Path(tmp), train_size=2000, eval_size=32, max_steps=args.steps,
                            batch_size=args.batch_size, lr=5e-5, eval_every=args.steps, save_every=0,
                            save_best=False, precision=precision).replace(out=f"{tmp}/run")
        header("probe overhead: gap evaluation and CKA as a share of training time", model=args.model,
               task=config.task, batch=args.batch_size, precision=precision, steps=args.steps,
               cka_every=args.cka_every, repeats=args.repeats)
        ends: list[float] = []

        class Tick(Callback):
            def on_step_end(self, ctx, step, loss, batch):
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                ends.append(time.perf_counter())

        warm_up(config)
        # the probe runs before the clock's callback, so an interval ending at a probe step includes it
        train(config, callbacks=[CKAProbe(CKAProbeConfig(every=args.cka_every)), Tick()], show_progress=False)
        intervals = [(step, b - a) for step, (a, b) in enumerate(itertools.pairwise(ends), start=2)]
        step_time = median([t for step, t in intervals[2:] if step % args.cka_every])
        cka = median(list({r["step"]: r["cka_seconds"] for r in read_jsonl(f"{tmp}/run/cka.jsonl")}.values()))

        task, data = load_task_data(config.replace(eval_size=None))
        model, tokenizer, _ = load_starting_model(config, task.head, task.num_labels(data), labels=data.labels)
        accelerator = Accelerator(mixed_precision="bf16" if precision == "bf16" else "no")
        model = accelerator.prepare(model)
        collate = task.collator(tokenizer)
        print(f"update time t = {step_time:.4f} s; CKA probe c = {cka:.4f} s per probe "
              f"(default every 100 updates: {cka / (100 * step_time):.2%} of training)")
        print(f"\n{'eval size':>9} {'languages':>9} {'C(S) s':>8} " + " ".join(f"{'E=' + str(e):>7}" for e in INTERVALS)
              + "  smallest E at <= 5%")
        for size in args.eval_sizes.split(","):
            n = None if size == "all" else int(size)
            subset = {lang: ds if n is None else ds.select(range(min(n, len(ds)))) for lang, ds in data.eval.items()}
            sets = prepare_eval_sets(task, subset, tokenizer, 128)
            run = functools.partial(evaluate, model, task, sets, collate, accelerator, 64, config.source_lang,
                                    show_progress=False)
            run()  # warm-up
            cost = median([timed(run) for _ in range(args.repeats)])
            shares = " ".join(f"{cost / (e * step_time):>7.1%}" for e in INTERVALS)
            print(f"{size:>9} {len(sets):>9} {cost:>8.2f} {shares}  {smallest_interval(cost, step_time)}")
        print("CKA every E: " + " ".join(f"E={e}: {cka / (e * step_time):.1%}" for e in INTERVALS)
              + f"; smallest E at <= 5%: {smallest_interval(cka, step_time)}")
        working = accelerator.unwrap_model(model)
        weights = sum(p.numel() for p in working.parameters()) + sum(b.numel() for b in working.buffers())
        print(f"CKA frozen copy: {weights * 4 / 2**20:,.1f} MiB in fp32, {weights * 2 / 2**20:,.1f} MiB with "
              f"--cka-dtype bf16 (the working model with AdamW holds about {weights * 16 / 2**20:,.1f} MiB)")
        print("alignment probe: measured with benchmarks of #16 (not part of this script)")


if __name__ == "__main__":
    main()
