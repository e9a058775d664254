"""``linear_cka`` (feature-space form) against the Gram-matrix (n x n) form, at n = 4096 tokens, d = 768.

Run on purpose (not in CI):

    .venv/bin/python benchmarks/bench_cka.py            # n = 4096, d = 768 (a batch of 32 x 128 tokens, XLM-R base)
    .venv/bin/python benchmarks/bench_cka.py --quick    # n = 1024, d = 256

Linear CKA can be computed from the d x d cross-covariances (``||YᵀX||²_F / (||XᵀX||_F ||YᵀY||_F)``,
:func:`xlingual_probe.probes.cka.linear_cka`) or, as in many implementations, from the n x n Gram
matrices K = XXᵀ and L = YYᵀ (HSIC = tr(KHLH), H the centring matrix). Both are computed here in
float64 on the CPU on the same correlated random hidden states; the script prints their values (they
must agree), their times (median over ``--repeats`` alternating repetitions after a warm-up), the
ratio and the memory of the n x n matrices the Gram form needs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import xlingual_probe  # noqa: F401  (before torch: the package's CPU thread settings)
from benchmarks._common import header, median, ratio_line, timed


def gram_linear_cka(x, y) -> float:
    """Linear CKA through n x n Gram matrices: tr(K_c L_c) / (||K_c||_F ||L_c||_F), K_c = HKH."""
    import numpy as np

    def centred_gram(a: np.ndarray) -> np.ndarray:
        gram = a @ a.T
        mean_rows = gram.mean(axis=0, keepdims=True)
        return gram - mean_rows - mean_rows.T + gram.mean()

    k, l = centred_gram(x), centred_gram(y)
    return float((k * l).sum() / (np.linalg.norm(k) * np.linalg.norm(l)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4096, help="rows (tokens)")
    parser.add_argument("--d", type=int, default=768, help="features (hidden size)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a check at a small size, not a measurement")
    args = parser.parse_args()
    if args.quick:
        args.n, args.d, args.repeats = 1024, 256, 2

    import numpy as np

    from xlingual_probe.probes.cka import linear_cka

    header("linear CKA: feature-space form vs Gram-matrix form", n=args.n, d=args.d, dtype="float64 (CPU)",
           repeats=args.repeats)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.n, args.d)).astype(np.float32)
    y = (x @ rng.standard_normal((args.d, args.d)) / np.sqrt(args.d) + rng.standard_normal((args.n, args.d))
         ).astype(np.float32)  # hidden states are float32; both forms convert to float64
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    values = {"feature": linear_cka(x, y), "gram": gram_linear_cka(x64, y64)}  # also the warm-up
    times: dict[str, list[float]] = {"feature": [], "gram": []}
    for _ in range(args.repeats):
        times["feature"].append(timed(lambda: linear_cka(x, y)))
        times["gram"].append(timed(lambda: gram_linear_cka(x64, y64)))
    print(f"CKA: feature-space {values['feature']:.10f}, Gram {values['gram']:.10f} "
          f"(difference {abs(values['feature'] - values['gram']):.1e})")
    print(ratio_line("linear_cka / Gram form (s)", median(times["feature"]), median(times["gram"])))
    print(f"memory of the two n x n Gram matrices: {2 * args.n ** 2 * 8 / 2**20:,.0f} MiB "
          f"(feature-space: three d x d products, {3 * args.d ** 2 * 8 / 2**20:,.1f} MiB)")


if __name__ == "__main__":
    main()
