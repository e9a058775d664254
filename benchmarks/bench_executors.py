"""Wall time of a layer sweep with 1 and with 2 worker processes, 1 CPU thread per run in both.

Run on purpose, on a quiet machine (not in CI):

    .venv/bin/python benchmarks/bench_executors.py --out /tmp/bench-executors

The sweep is a 30-run part of the synthetic 12-layer sweep (``--model synthetic``): DF, re-initialise
and freeze each of layers 0-6, seeds 1 and 2, with the README's synthetic-nli settings (``--lr 5e-4
--max-steps 400 --eval-every 50 --batch-size 32 --train-size 6000 --eval-size 300``). For each worker
count it runs, in a fresh sweep directory and as a user would,

    xprobe probe layers ... --executor processes --workers W --threads-per-run 1 --quiet

and times the whole command (worker start-up included). The synthetic world is built first, outside
the timings. Every run has the same config (thread count included) under both worker counts, so the two
``results.csv`` must be identical; the script checks it. It prints one line per worker count (wall
seconds, runs, seconds per run, speed-up over 1 worker) and writes them to ``OUT/timings.json``.

``--max-steps N`` runs the same 30 runs with N updates each (a shorter measurement; say so with the
numbers). ``--quick`` runs a 6-run sweep of ``synthetic:tiny`` with 20 updates: a check that the script works,
not a measurement.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

SWEEP = ["--task", "synthetic-nli", "--experiments", "reinit,freeze", "--seed", "1", "--seed", "2",
         "--lr", "5e-4", "--batch-size", "32"]
FULL = ["--model", "synthetic", "--layers", "0-6", "--max-steps", "400", "--eval-every", "50",
        "--train-size", "6000", "--eval-size", "300"]
TINY = ["--model", "synthetic:tiny", "--layers", "0", "--max-steps", "20", "--eval-every", "10",
        "--train-size", "640", "--eval-size", "50"]


def timed_sweep(out: Path, workers: int, size: list[str]) -> float:
    """Seconds of one ``xprobe probe layers`` with ``workers`` processes into a fresh ``out``."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "xlingual_probe", "probe", "layers", *SWEEP, *size, "--out", str(out),
               "--executor", "processes", "--workers", str(workers), "--threads-per-run", "1", "--quiet"]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="Scratch folder (one sweep per worker count).")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true", help="A 6-run check of the script, not a measurement.")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="Updates per run instead of 400 (the same 30 runs, shorter: a smaller measurement).")
    args = parser.parse_args()
    size = TINY if args.quick else FULL
    if args.max_steps is not None:
        size = [*size[:size.index("--max-steps") + 1], str(args.max_steps), *size[size.index("--max-steps") + 2:]]

    from xlingual_probe.models.units import resolve_model_name

    resolve_model_name(size[1])  # build (or find) the synthetic world before any timing
    rows, tables = [], {}
    for workers in args.workers:
        sweep_dir = args.out / f"workers-{workers}"
        seconds = timed_sweep(sweep_dir, workers, size)
        tables[workers] = (sweep_dir / "results.csv").read_text()
        runs = len(list((sweep_dir / "runs").iterdir()))
        rows.append({"workers": workers, "threads_per_run": 1, "runs": runs, "wall_seconds": round(seconds, 1),
                     "seconds_per_run": round(seconds / runs, 2)})
    base = rows[0]["wall_seconds"]
    for row in rows:
        row["speedup"] = round(base / row["wall_seconds"], 2)
        print(f"{row['workers']} worker(s), 1 thread per run: {row['wall_seconds']:.1f} s for {row['runs']} runs "
              f"({row['seconds_per_run']:.2f} s per run), speed-up {row['speedup']:.2f}x")
    identical = len(set(tables.values())) == 1
    print("results.csv identical across worker counts:", identical)
    (args.out / "timings.json").write_text(json.dumps({"rows": rows, "identical_results": identical}, indent=1))
    if not identical:
        sys.exit("error: the worker counts gave different results")


if __name__ == "__main__":
    main()
