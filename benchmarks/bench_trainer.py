"""Step time of ``train direct`` and ``train slowfast`` against the HF ``Trainer``, side by side.

Run on purpose (not in CI), on an otherwise quiet machine:

    .venv/bin/python benchmarks/bench_trainer.py --model me5-small            # XNLI, ~10 minutes on 2 cores
    .venv/bin/python benchmarks/bench_trainer.py --model synthetic            # synthetic-nli
    .venv/bin/python benchmarks/bench_trainer.py --model synthetic:tiny --quick   # a check, < 1 minute
    .venv/bin/python benchmarks/bench_trainer.py --model xlmr-base-random     # on a GPU: bf16, tokens/s, MFU

All three fine-tune the same freshly loaded model (same seed, all weights trained) on the same encoded
training features in the same batches (the Trainer gets our epoch order through a sequential
sampler), with the same batch size, precision, AdamW implementation (fused where torch has it; the
Trainer's ``adamw_torch_fused``), warm-up, clipping and learning rate. A callback takes the time at
the end of every update; an update's time is the interval between two of them (data, forward,
backward, optimizer, logging, policy: all of it), the first ``--warmup`` updates are dropped, and
each repetition reports the median; the table shows the median over ``--repeats`` repetitions, run
alternately (ours, Trainer, slowfast). Targets: direct / Trainer <= 1.00, slowfast / direct <= 1.02.
On CUDA it also prints tokens per second and the model-FLOPs utilisation (6 x non-embedding
parameters x tokens + attention, over ``--peak-tflops``).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import xlingual_probe  # noqa: F401  (before torch: the package's CPU thread settings)
from benchmarks._common import header, median, parser, ratio_line, run_config, warm_up

PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0}


class StepClock:
    """Times every update from the end of one to the end of the next (device synchronised)."""

    def __init__(self):
        self.ends: list[float] = []

    def tick(self) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.ends.append(time.perf_counter())

    def step_seconds(self, warmup: int) -> float:
        intervals = [b - a for a, b in zip(self.ends, self.ends[1:])]
        return median(intervals[warmup:])


def ours(config, clock: StepClock) -> None:
    from xlingual_probe.training import Callback, train

    class Tick(Callback):
        def on_step_end(self, ctx, step, loss, batch):
            clock.tick()

    train(config, callbacks=[Tick()], show_progress=False)


def trainer(config, clock: StepClock) -> None:
    import torch
    from torch.utils.data import SequentialSampler
    from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

    from xlingual_probe.training.batches import EpochBatches
    from xlingual_probe.training.data import load_task_data
    from xlingual_probe.training.loop import load_starting_model
    from xlingual_probe.training.optimizer import adamw_implementation
    from xlingual_probe.training.schedule import warmup_steps_for

    task, data = load_task_data(config)
    model, tokenizer, _ = load_starting_model(config, task.head, task.num_labels(data), labels=data.labels)
    features = task.encode(data.train, tokenizer, train=True, max_length=config.max_length or 128)
    batches = EpochBatches(len(features), config.batch_size, config.seed)
    order = [i for step in range(1, config.max_steps + 1) for i in batches(step)]
    ordered = features.select(order)  # our batches, one after the other

    class OurOrder(Trainer):
        def _get_train_sampler(self, *args, **kwargs):
            return SequentialSampler(self.train_dataset)

    class Tick(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            clock.tick()

    fused = adamw_implementation(model.parameters()) == "fused"
    args = TrainingArguments(
        output_dir=str(Path(config.out) / "trainer"), max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size, learning_rate=config.lr,
        warmup_steps=warmup_steps_for(config.max_steps, config.warmup_ratio), lr_scheduler_type="linear", weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm, optim="adamw_torch_fused" if fused else "adamw_torch",
        bf16=config.precision == "bf16", use_cpu=not torch.cuda.is_available(), report_to=[],
        save_strategy="no", eval_strategy="no", disable_tqdm=True, seed=config.seed, dataloader_drop_last=False)
    hf = OurOrder(model=model, args=args, train_dataset=ordered, data_collator=task.collator(tokenizer),
                  callbacks=[Tick()])
    hf.remove_callback(PrinterCallback)  # it prints the run's log
    hf.train()


def slowfast_config(config):
    from xlingual_probe.experiments.methods import method_values, resolve_sets
    from xlingual_probe.models.units import count_layers

    layers = count_layers(config.model, False)
    selection = resolve_sets("paper", config.to_dict(), [config.seed], Path(config.out) / "sets", num_layers=layers)
    return config.replace(**method_values("slowfast", selection))


def batch_tokens(config, warmup: int) -> tuple[float, float, float]:
    """Mean real tokens, padded tokens and padded length of the timed updates' batches."""
    from xlingual_probe.models import load_model
    from xlingual_probe.models.units import resolve_model_name
    from xlingual_probe.training.batches import EpochBatches
    from xlingual_probe.training.data import load_task_data

    task, data = load_task_data(config)
    _, tokenizer = load_model(resolve_model_name(config.model), task.head, task.num_labels(data), labels=data.labels)
    lengths = [len(ids) for ids in task.encode(data.train, tokenizer, train=True,
                                                max_length=config.max_length)["input_ids"]]
    batches = EpochBatches(len(lengths), config.batch_size, config.seed)
    timed = [[lengths[i] for i in batches(step)] for step in range(warmup + 2, config.max_steps + 1)]
    return (median([sum(b) for b in timed]), median([len(b) * max(b) for b in timed]), median([max(b) for b in timed]))


def model_flops_per_step(model_path: str, tokens: float, seq_len: float) -> float:
    """6 x non-embedding parameters x tokens + 12 x layers x hidden x sequence length x tokens
    (the attention score and context products, forward and backward)."""
    from transformers import AutoConfig, AutoModel

    from xlingual_probe.models.units import resolve_model_name

    config = AutoConfig.from_pretrained(resolve_model_name(model_path))
    model = AutoModel.from_config(config)
    embedding = sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)
    dense = sum(p.numel() for p in model.parameters()) - embedding
    return 6 * dense * tokens + 12 * config.num_hidden_layers * config.hidden_size * seq_len * tokens


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--steps", type=int, default=10, help="timed updates per repetition")
    options.add_argument("--warmup", type=int, default=2)
    options.add_argument("--batch-size", type=int, default=16)
    options.add_argument("--train-size", type=int, default=2000)
    options.add_argument("--max-length", type=int, default=128)
    options.add_argument("--precision", choices=["fp32", "bf16"], help="default: bf16 on CUDA, fp32 on CPU")
    options.add_argument("--peak-tflops", type=float, help="the device's bf16 dense peak (for MFU)")
    args = options.parse_args()
    if args.quick:
        args.steps, args.warmup, args.repeats, args.batch_size, args.train_size = 3, 1, 2, 8, 64
    import torch

    precision = args.precision or ("bf16" if torch.cuda.is_available() else "fp32")
    with tempfile.TemporaryDirectory() as tmp:
        total = args.warmup + 1 + args.steps
        base = run_config(args.model, Path(tmp), train_size=args.train_size, eval_size=32, max_length=args.max_length,
                          max_steps=total, batch_size=args.batch_size, lr=5e-5, eval_every=total, save_every=0,
                          save_best=False, precision=precision)
        if base.task == "xnli":
            base = base.replace(langs=["en"])  # one language: the evaluation at the end is not timed anyway
        model = base.model
        header("step time: xprobe train direct / slowfast vs the HF Trainer", model=args.model, task=base.task,
               batch=args.batch_size, max_length=args.max_length, precision=precision, steps=args.steps,
               warmup=args.warmup, repeats=args.repeats, train_size=args.train_size)
        warm_up(base.replace(out=f"{tmp}/direct"))
        times: dict[str, list[float]] = {"direct": [], "trainer": [], "slowfast": []}
        for rep in range(args.repeats):
            for name, run in (("direct", ours), ("trainer", trainer), ("slowfast", ours)):
                config = base.replace(out=f"{tmp}/{name}-{rep}")
                if name == "slowfast":
                    config = slowfast_config(config)
                clock = StepClock()
                run(config, clock)
                times[name].append(clock.step_seconds(args.warmup))
                print(f"  repetition {rep + 1} {name}: {times[name][-1]:.4f} s/update", flush=True)
        direct, theirs, slowfast = (median(times[k]) for k in ("direct", "trainer", "slowfast"))
        print(ratio_line("train direct / Trainer (s per update)", direct, theirs, target=1.00))
        print(ratio_line("train slowfast / train direct (s per update)", slowfast, direct, target=1.02))
        real, padded, length = batch_tokens(base, args.warmup)
        print(f"train direct: {direct:.4f} s/update, {real / direct:,.0f} real tokens/s ({padded / direct:,.0f} "
              f"with padding; median batch {real:.0f} real / {padded:.0f} padded tokens)")
        if torch.cuda.is_available():
            name = torch.cuda.get_device_name(0)
            peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
            if peak:
                flops = model_flops_per_step(model, padded, length)
                print(f"model FLOPs utilisation: {flops / direct / (peak * 1e12):.1%} of {peak:g} TFLOPS ({name})")


if __name__ == "__main__":
    main()
