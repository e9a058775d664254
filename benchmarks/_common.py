"""What every benchmark shares: the header (machine, versions), medians, the model under test.

Benchmarks are run on purpose (not in CI). Each one measures the things it compares side by side in
one process, alternating them, and reports medians over at least five repetitions after warm-up.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# the tables are the output: no progress bars (datasets, and transformers' weight loading) and no
# per-load reports of the new classifier head (each variable is read when its library is first imported)
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ME5_SMALL = Path(os.environ.get("XPROBE_MODELS", Path.home() / ".cache/xprobe-models")) / "multilingual-e5-small"
DATA_DIR = Path(os.environ.get("XPROBE_DATA_DIR", Path(__file__).resolve().parents[1] / "../shared/data"))
XLMR_BASE = "xlmr-base-random"  # an XLM-R-base-shaped model with random weights (GPU runs; no hub needed)


def header(title: str, **settings: Any) -> None:
    """Print what was measured, on what: machine, device, threads, package versions and settings."""
    import accelerate
    import datasets
    import torch
    import transformers

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    print(f"# {title}")
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; {device}; "
          f"torch threads {torch.get_num_threads()}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    print(f"versions: python {sys.version.split()[0]}, torch {torch.__version__}, transformers "
          f"{transformers.__version__}, datasets {datasets.__version__}, accelerate {accelerate.__version__}")
    print("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else the platform's word for it)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(fn: Callable[[], Any]) -> float:
    """Wall seconds of one call (CUDA work included: the device is synchronised before and after)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def ratio_line(name: str, ours: float, theirs: float, target: float | None = None, unit: str = "s") -> str:
    """``name: ours X s, reference Y s, ratio R (target ≤ T: met)``."""
    ratio = ours / theirs
    verdict = "" if target is None else f" (target <= {target:.2f}: {'met' if ratio <= target else 'MISSED'})"
    return f"{name}: {ours:.4f} {unit} vs {theirs:.4f} {unit}, ratio {ratio:.3f}{verdict}"


def resolve_model(model: str, tmp: Path) -> str:
    """A model folder or name: ``me5-small`` (the shared tool's build), ``xlmr-base-random`` (built here
    from XLM-R base's config with the me5-small tokenizer, whose vocabulary is XLM-R's), or as given."""
    if model == "me5-small":
        if not (ME5_SMALL / "config.json").is_file():
            raise SystemExit(f"multilingual-e5-small not found at {ME5_SMALL}: build it with "
                             "PYTHON=.venv/bin/python ../shared/tools/me5-small/build")
        return str(ME5_SMALL)
    if model == XLMR_BASE:
        return str(build_xlmr_base(tmp / XLMR_BASE))
    return model


def build_xlmr_base(folder: Path) -> Path:
    """A randomly initialised XLM-R-base-shaped masked LM (12 layers, hidden 768, 12 heads, FFN 3072)
    with the me5-small tokenizer (XLM-R's SentencePiece vocabulary), saved as a checkpoint."""
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaForMaskedLM

    tokenizer = AutoTokenizer.from_pretrained(str(ME5_SMALL))
    config = XLMRobertaConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                              bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    XLMRobertaForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def task_for(model: str) -> tuple[str, str | None]:
    """(task, data folder) for a model: synthetic NLI for synthetic models, XNLI otherwise."""
    if model.startswith("synthetic"):
        return "synthetic-nli", None
    return "xnli", str(DATA_DIR)


def parser(doc: str | None, *, model: bool = True) -> argparse.ArgumentParser:
    """The options every benchmark has: ``--model`` (when it runs one), ``--repeats``, ``--quick``."""
    options = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if model:
        options.add_argument("--model", default="me5-small",
                             help=f"me5-small, synthetic[:preset], {XLMR_BASE} or a model folder / hub name")
    options.add_argument("--repeats", type=int, default=5, help="repetitions (the medians are over them)")
    options.add_argument("--quick", action="store_true", help="a check at a tiny size, not a measurement")
    return options


def run_config(model: str, tmp: Path, **values: Any):
    """A :class:`~xlingual_probe.training.TrainConfig` of ``model`` (resolved) on its task and data
    (no test splits: nothing a benchmark times reads them)."""
    from xlingual_probe.training import TrainConfig

    task, data_dir = task_for(model)
    return TrainConfig(model=resolve_model(model, tmp), task=task, out=str(tmp), data_dir=data_dir,
                       **{"seed": 1, "score_test": False, **values})


def warm_up(config, steps: int = 4) -> None:
    """A short untimed run of ``config`` (in ``out/../warm-up``): the first training of a process pays
    one-off costs (CUDA context, cuBLAS heuristics for each new shape, the allocator's growth) that an
    H200 showed as 0.16-0.18 s per update against 0.04-0.05 s in every later run."""
    from xlingual_probe.training import train

    train(config.replace(out=str(Path(config.out).parent / "warm-up"), max_steps=steps, eval_every=steps),
          show_progress=False, overwrite=True)
