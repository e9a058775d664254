"""Policy IV under the paired rule: one CKA slope per seed, a t-test across seeds, a minimum fall.

(The delta rule's pooled fit keeps its tests in ``test_selection_rules.py``.)"""

import json
import math

import numpy as np
import pytest

from xlingual_probe.selection import (
    SelectionOptions,
    cka_pooled_fit_test,
    cka_slope_test,
    policy_iv_from_cka,
)


def ar1(rng, n, phi=0.9, sd=0.01):
    x = np.empty(n)
    x[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + rng.normal(0.0, sd * math.sqrt(1 - phi * phi))
    return x


def series(rng, seeds=3, points=40, fall=0.0, phi=0.9):
    steps = np.arange(points) * 100.0
    return [list(zip(steps, 0.5 - fall * steps / steps[-1] + ar1(rng, points, phi))) for _ in range(seeds)]


def test_flat_autocorrelated_cka_keeps_policy_iv_off():
    # the probe points within a run are AR(1): the pooled fit takes them for independent samples
    rng = np.random.default_rng(0)
    on = {"paired": 0, "pooled": 0}
    for _ in range(200):
        draw = series(rng)
        on["paired"] += cka_slope_test(draw, 0.05, 0.02)["on"]
        on["pooled"] += cka_pooled_fit_test(draw, 0.05)["on"]
    assert on["paired"] <= 20  # at most 5% expected (10 of 200); 20 has probability < 0.005 at 5%
    assert on["pooled"] >= 30  # 56 of 200 with this seed: far above its nominal 5%


def test_a_real_downward_trend_turns_policy_iv_on():
    rng = np.random.default_rng(1)
    decisions = [cka_slope_test(series(rng, fall=0.06), 0.05, 0.02) for _ in range(50)]
    assert sum(d["on"] for d in decisions) >= 45
    assert np.mean([d["mean_fall"] for d in decisions]) == pytest.approx(0.06, abs=0.01)


def test_a_significant_but_small_fall_is_not_enough():
    steps = [0.0, 100.0, 200.0, 300.0]
    tiny = [[(s, 0.5 - 1e-5 * s + eps) for s, eps in zip(steps, noise)]
            for noise in ([0, 1e-4, -1e-4, 0], [0, -1e-4, 1e-4, 0], [1e-4, 0, 0, -1e-4])]
    result = cka_slope_test(tiny, 0.05, 0.02)
    assert result["p"] < 0.05 and result["mean_fall"] < 0.02 and result["on"] is False
    assert "only by" in result["reason"]


def test_per_seed_slopes_are_least_squares_fits():
    data = [[(0, 0.9), (100, 0.85), (200, 0.78), (300, 0.74)], [(0, 0.8), (100, 0.78), (200, 0.7), (300, 0.69)]]
    result = cka_slope_test(data, 0.05, 0.02)
    for points, slope, fall in zip(data, result["slopes"], result["falls"]):
        x, y = np.array(points).T
        assert slope == pytest.approx(np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2))
        assert fall == pytest.approx(-slope * 300)
    assert result["df"] == 1 and result["seeds"] == 2


def write_run(folder, cka_of_step, steps=400, every=50):
    folder.mkdir(parents=True)
    (folder / "steps.jsonl").write_text("".join(json.dumps({"step": t, "loss": 1.0}) + "\n" for t in range(1, steps + 1)))
    lines = [json.dumps({"step": s, "layer": layer, "cka": cka_of_step(s) if layer >= 10 else 0.99})
             for s in range(every, steps + 1, every) for layer in range(12)]
    (folder / "cka.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_one_cka_run_cannot_test(tmp_path):
    run = write_run(tmp_path / "seed-1", lambda s: 1.0 - 0.001 * s)
    result = policy_iv_from_cka([run], [10, 11], SelectionOptions())
    assert result["on"] is False and result["seeds"] == 1 and result["p"] is None
    assert any("cannot be tested across seeds" in n for n in result["notes"])


def test_cka_runs_of_two_seeds_decide_from_their_files(tmp_path):
    # constant loss: phase 2 from update 200 (window 100); probe steps 200..400
    write_run(tmp_path / "cka/seed-1", lambda s: 0.9 - 0.0005 * s + (0.002 if (s // 50) % 2 else 0))
    write_run(tmp_path / "cka/seed-2", lambda s: 0.8 - 0.0004 * s)
    result = policy_iv_from_cka([tmp_path / "cka"], [10, 11], SelectionOptions())
    assert result["on"] is True and result["method"].startswith("per-seed slopes")
    assert sorted({p["step"] for p in result["points"]}) == [200, 250, 300, 350, 400]
    assert result["slopes"][1] == pytest.approx(-0.0004)
    assert result["mean_fall"] == pytest.approx((0.0005 + 0.0004) / 2 * 200, rel=0.05)
    strict = policy_iv_from_cka([tmp_path / "cka"], [10, 11], SelectionOptions(min_cka_effect=0.2))
    assert strict["on"] is False
