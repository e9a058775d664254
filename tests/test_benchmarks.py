"""Every benchmark still runs: its ``--quick`` check on the tiny synthetic world (seconds each, not a
measurement). The measurements themselves are run on purpose (benchmarks/README.md); this only keeps the
scripts from rotting between two of them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--model", "synthetic:tiny"]

SCRIPTS = {
    "bench_trainer.py": (TINY, "train direct / Trainer"),
    "bench_eval.py": (TINY, "evaluation of all languages"),
    "bench_probes.py": (TINY, "CKA frozen copy"),
    "bench_padding.py": (TINY, "ratio"),
    "bench_data_cache.py": (TINY, "ratio"),
    "bench_cka.py": ([], "ratio"),
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_the_benchmark_runs_its_quick_check(script, tmp_path):
    options, expected = SCRIPTS[script]
    env = {**os.environ, "XPROBE_CACHE": os.environ.get("XPROBE_CACHE", str(tmp_path / "cache"))}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick", *options], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert expected in done.stdout, done.stdout[-3000:]
