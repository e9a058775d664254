"""A sweep's data preparation with and without the tokenised-feature cache.

Run on purpose (not in CI), on an otherwise quiet machine:

    .venv/bin/python benchmarks/bench_data_cache.py --model me5-small      # XNLI: 20k MNLI + 15 x 2,490
    .venv/bin/python benchmarks/bench_data_cache.py --model synthetic      # synthetic-nli
    .venv/bin/python benchmarks/bench_data_cache.py --model me5-small --quick   # a check, < 1 minute

A run's data preparation is: load the raw examples, then encode the training set and every
language's evaluation set (what :func:`xlingual_probe.training.train` does before its first update).
Measured side by side (median over ``--repeats`` repetitions after a warm-up): without the cache
(``XPROBE_FEATURE_CACHE=0``), with an empty cache (the sweep's first run: encode and store), and with
a warm cache (every later run: read). A sweep of R runs prepares its data in R x "without" seconds
without the cache and "first" + (R - 1) x "warm" with it. It also prints what ``datasets`` would
spend fingerprinting the tokenising function (pickling the tokenizer) on every ``map`` call, which
encoding no longer pays.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import xlingual_probe  # noqa: F401  (before torch: the package's CPU thread settings)
from benchmarks._common import header, median, parser, ratio_line, run_config, timed


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--train-size", type=int, help="training examples (default: all)")
    options.add_argument("--eval-size", type=int, help="examples per language (default: all)")
    options.add_argument("--runs", type=int, default=148, help="runs of the sweep to extrapolate to")
    args = options.parse_args()
    if args.quick:
        args.train_size, args.eval_size, args.repeats = 500, 100, 2

    from datasets.fingerprint import Hasher

    from xlingual_probe.models import load_model
    from xlingual_probe.models.units import resolve_model_name
    from xlingual_probe.training.data import data_options, load_task_data
    from xlingual_probe.training.evaluation import prepare_eval_sets
    from xlingual_probe.training.feature_cache import FeatureCache, data_identity

    with tempfile.TemporaryDirectory() as tmp:
        config = run_config(args.model, Path(tmp), train_size=args.train_size, eval_size=args.eval_size,
                            max_length=128)
        task, data = load_task_data(config)
        _, tokenizer = load_model(resolve_model_name(config.model), task.head, task.num_labels(data), labels=data.labels)
        header("a sweep's data preparation with and without the feature cache", model=args.model, task=config.task,
               train_examples=len(data.train), languages=len(data.eval),
               eval_examples=sum(len(d) for d in data.eval.values()), repeats=args.repeats)
        cache_root = Path(tmp) / "cache"

        def prepare(enabled: bool) -> None:
            task, data = load_task_data(config)
            cache = FeatureCache(task, tokenizer, 128, data_identity(task, data_options(config)), labels=data.labels,
                                 root=cache_root, enabled=enabled)
            cache.encode(data.train, train=True)
            prepare_eval_sets(task, data.eval, tokenizer, 128, cache=cache)

        def cold() -> None:
            shutil.rmtree(cache_root, ignore_errors=True)
            prepare(True)

        prepare(False), cold()  # warm-up (file system, imports)
        times: dict[str, list[float]] = {"without": [], "first": [], "warm": []}
        for _ in range(args.repeats):
            times["without"].append(timed(lambda: prepare(False)))
            times["first"].append(timed(cold))
            times["warm"].append(timed(lambda: prepare(True)))
        without, first, warm = (median(times[k]) for k in ("without", "first", "warm"))
        print(f"per run: without cache {without:.2f} s, first run with cache {first:.2f} s, later runs {warm:.2f} s")
        print(ratio_line("a later run with cache / without (s)", warm, without))
        r = args.runs
        print(ratio_line(f"a {r}-run sweep's data preparation, with / without cache (s)", first + (r - 1) * warm,
                         r * without))
        fingerprint = median([timed(lambda: Hasher.hash(lambda batch: tokenizer(batch["text"])))
                              for _ in range(min(args.repeats, 3))])
        print(f"datasets' fingerprint of a tokenising map (no longer paid): {fingerprint:.2f} s per call, "
              f"{len(data.eval) + 1} calls per run")
        print(f"cache size on disk: {sum(f.stat().st_size for f in cache_root.rglob('*') if f.is_file()) / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
