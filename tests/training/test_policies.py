"""The slow-and-fast policy on scripted loss curves, checked against hand-computed numbers.

Every expected value below comes from closed-form window means of the scripted curve (written
out in the comments), never from the code under test.
"""

from __future__ import annotations

import dataclasses
import json
import random
import statistics

import pytest

from xlingual_probe.training.policies import (
    METHOD_POLICIES,
    WEIGHT_SETS,
    PolicyState,
    SlowFastConfig,
    SlowFastPolicy,
    multipliers_from_losses,
    r_phi,
)

C1, C2 = 0.01, 10.0
P1_K = {"S_I": C1, "S_II": C1, "V_I": 1.0, "V_II": 1.0}


def p2_k(r: float) -> dict[str, float]:
    return {"S_I": 1.0, "S_II": r, "V_I": 1.0, "V_II": C2}


def run(losses, **config) -> list[PolicyState]:
    """States indexed by the 1-based update number (index 0 is a placeholder)."""
    policy = SlowFastPolicy(SlowFastConfig(**config))
    return [None] + [policy.step(loss) for loss in losses]


def three_level_curve() -> list[float]:
    # 3.0 for t <= 100, 2.0 for 101 <= t <= 300, 1.0 for 301 <= t <= 400: drop, plateau, drop
    return [3.0] * 100 + [2.0] * 200 + [1.0] * 100


# ---------------------------------------------------------------- phase and K on scripted curves


def test_first_two_windows_are_p1_without_phi():
    states = run([5.0] * 250)
    for t in (1, 2, 100, 199):
        s = states[t]
        assert (s.step, s.phase, s.phi, s.r_phi, s.m_recent, s.m_prev) == (t, 1, None, None, None, None)
        assert s.K == P1_K
    assert states[200].phi is not None


def test_fast_linear_drop_stays_in_p1():
    # L_t = 3 - 2.5 (t - 1) / 399 for t = 1..400: the window means differ by 100 * 2.5 / 399 ≈ 0.627
    slope = 2.5 / 399
    losses = [3.0 - slope * (t - 1) for t in range(1, 401)]
    states = run(losses)
    assert all(s.phase == 1 and s.K == P1_K for s in states[1:])
    for t in (200, 300, 400):
        # mean of L over t-99..t is L at the window's midpoint t - 49.5
        m_recent = 3.0 - slope * (t - 49.5 - 1)
        m_prev = 3.0 - slope * (t - 149.5 - 1)
        s = states[t]
        assert s.m_recent == pytest.approx(m_recent, rel=1e-12)
        assert s.m_prev == pytest.approx(m_prev, rel=1e-12)
        assert s.phi == pytest.approx(m_recent / m_prev, rel=1e-12)
        assert s.r_phi == pytest.approx(1 - (m_recent / m_prev) ** 3, rel=1e-12)
    # t = 200: m_recent = 3 - 2.5 * 149.5 / 399 (midpoint 150.5), m_prev = 3 - 2.5 * 49.5 / 399
    assert states[200].phi == pytest.approx((399 * 3 - 2.5 * 149.5) / (399 * 3 - 2.5 * 49.5), rel=1e-12)


def test_plateau_enters_p2_at_2w_with_phi_one():
    states = run([0.7] * 300)
    assert states[199].phase == 1
    for t in (200, 250, 300):
        s = states[t]
        assert s.phase == 2
        assert s.phi == 1.0
        assert s.r_phi == 0.0
        assert s.K == p2_k(0.0)


def test_rising_loss_is_p2_with_r_zero():
    # L_t = 1 + 0.001 t: m_recent = 1 + 0.001 (t - 49.5), m_prev = 1 + 0.001 (t - 149.5)
    states = run([1.0 + 0.001 * t for t in range(1, 301)])
    for t in (200, 300):
        s = states[t]
        assert s.phase == 2
        assert s.phi == pytest.approx((1 + 0.001 * (t - 49.5)) / (1 + 0.001 * (t - 149.5)), rel=1e-12)
        assert s.phi > 1
        assert s.r_phi == 0.0
        assert s.K == p2_k(0.0)


def test_noise_around_a_plateau_is_p2():
    # uniform noise of half-width 0.05: two window means can never differ by more than 0.1
    rng = random.Random(1234)
    losses = [1.0 + rng.uniform(-0.05, 0.05) for _ in range(500)]
    states = run(losses)
    for t in range(200, 501):
        s = states[t]
        m_recent = statistics.fmean(losses[t - 100 : t])
        m_prev = statistics.fmean(losses[t - 200 : t - 100])
        phi = m_recent / m_prev
        assert s.phase == 2
        assert s.m_recent == pytest.approx(m_recent, rel=1e-12)
        assert s.phi == pytest.approx(phi, rel=1e-12)
        assert s.r_phi == pytest.approx(max(1 - phi**3, 0.0), abs=1e-12)
        assert s.K["S_II"] == s.r_phi
        assert 0.0 <= s.r_phi <= 1 - (0.95 / 1.05) ** 3
        assert (s.K["S_I"], s.K["V_I"], s.K["V_II"]) == (1.0, 1.0, C2)
    # noise does produce some steps with phi < 1, hence R > 0
    assert any(s.r_phi > 0 for s in states[200:])


def test_drop_then_plateau_transition():
    # 2.0 for t <= 150, then 1.0. For 250 <= t <= 350: m_recent = 1, m_prev = 1 + (350 - t) / 100,
    # so the drop (350 - t) / 100 exceeds 0.1 up to t = 339 (t = 340 is the exact float boundary).
    states = run([2.0] * 150 + [1.0] * 250)
    # 200 <= t <= 250: m_prev = 2, m_recent = 1 + (250 - t) / 100
    assert states[200].m_recent == pytest.approx(1.5)
    assert states[200].phi == pytest.approx(0.75)
    assert states[200].r_phi == pytest.approx(1 - 0.75**3)
    assert all(states[t].phase == 1 for t in range(1, 340))
    assert all(states[t].phase == 2 for t in range(341, 401))
    s = states[339]
    assert (s.m_prev, s.m_recent) == (pytest.approx(1.11), 1.0)
    assert s.phi == pytest.approx(1 / 1.11)
    assert s.K == P1_K  # phi is logged in P1 but not applied
    s = states[341]
    assert s.phi == pytest.approx(1 / 1.09)
    assert s.r_phi == pytest.approx(1 - 1 / 1.09**3)
    assert s.K == p2_k(pytest.approx(1 - 1 / 1.09**3))
    s = states[350]
    assert (s.phi, s.r_phi, s.K) == (1.0, 0.0, p2_k(0.0))


def test_per_step_mode_returns_to_p1():
    # 200 <= t <= 300: m_recent = 2, m_prev = 2 + (300 - t) / 100 → P1 up to t = 289, P2 from 291.
    # 301 <= t <= 400: m_prev = 2, m_recent = 2 - (t - 300) / 100 → P1 again from t = 311.
    states = run(three_level_curve())
    assert all(states[t].phase == 1 for t in range(1, 290))
    assert all(states[t].phase == 2 for t in range(291, 310))
    assert all(states[t].phase == 1 for t in range(311, 401))
    s = states[300]
    assert (s.phi, s.K) == (1.0, p2_k(0.0))
    s = states[305]  # m_recent = 1.95, m_prev = 2: phi = 0.975
    assert s.phase == 2
    assert s.phi == pytest.approx(0.975)
    assert s.K["S_II"] == pytest.approx(1 - 0.975**3)
    s = states[320]  # m_recent = 1.8, m_prev = 2
    assert s.phi == pytest.approx(0.9)
    assert s.K == P1_K


def test_latch_mode_stays_in_p2():
    states = run(three_level_curve(), phase_mode="latch")
    assert all(states[t].phase == 1 for t in range(1, 290))
    assert all(states[t].phase == 2 for t in range(291, 401))
    s = states[320]  # same window means as per-step, but latched in P2: S_II = R(0.9) = 0.271
    assert s.phi == pytest.approx(0.9)
    assert s.r_phi == pytest.approx(0.271)
    assert s.K == p2_k(pytest.approx(0.271))


def test_custom_window_threshold_and_constants():
    # window 10: 3.0 for t <= 10, then 2.0. At t = 20: m_prev = 3, m_recent = 2 → drop 1 > 0.5, P1.
    # At t = 25: m_prev = (5 * 3 + 5 * 2) / 10 = 2.5, m_recent = 2 → drop 0.5, not > 0.5: P2.
    states = run([3.0] * 10 + [2.0] * 20, window=10, threshold=0.5, c1=0.1, c2=4.0, r=2.0)
    assert states[19].phi is None and states[19].K["S_I"] == 0.1
    assert states[20].phase == 1 and states[20].phi == pytest.approx(2 / 3)
    assert states[24].phase == 1  # m_prev = 2.6: drop 0.6
    s = states[25]
    assert s.phase == 2
    assert s.phi == pytest.approx(0.8)
    assert s.K == {"S_I": 1.0, "S_II": pytest.approx(1 - 0.8**2), "V_I": 1.0, "V_II": 4.0}


# ---------------------------------------------------------------- policy sets


@pytest.mark.parametrize(
    ("policies", "k_p1", "k_p2"),
    [
        # FS: policies I + II only
        (METHOD_POLICIES["slow"], P1_K, {"S_I": 1.0, "S_II": 0.271, "V_I": 1.0, "V_II": 1.0}),
        # FF: policies III + IV only: nothing slowed in P1
        (
            METHOD_POLICIES["fast"],
            dict.fromkeys(WEIGHT_SETS, 1.0),
            {"S_I": 1.0, "S_II": 1.0, "V_I": 1.0, "V_II": C2},
        ),
        # slow-and-fast with policy IV off (the paper's NER setting)
        (("I", "II", "III"), P1_K, {"S_I": 1.0, "S_II": 0.271, "V_I": 1.0, "V_II": 1.0}),
        # DF: phases are still tracked, K is always 1
        (METHOD_POLICIES["direct"], dict.fromkeys(WEIGHT_SETS, 1.0), dict.fromkeys(WEIGHT_SETS, 1.0)),
        # policy II without policy I
        (("II",), dict.fromkeys(WEIGHT_SETS, 1.0), {"S_I": 1.0, "S_II": 0.271, "V_I": 1.0, "V_II": 1.0}),
    ],
)
def test_policy_sets(policies, k_p1, k_p2):
    states = run(three_level_curve(), phase_mode="latch", policies=policies)
    assert states[100].phase == 1 and states[100].K == k_p1
    assert states[250].phase == 1 and states[250].K == k_p1
    s = states[320]  # phi = 0.9 → R = 0.271
    assert s.phase == 2
    assert s.K == {k: pytest.approx(v) for k, v in k_p2.items()}


def test_for_method():
    assert SlowFastConfig.for_method("slowfast").policies == ("I", "II", "III", "IV")
    assert SlowFastConfig.for_method("slowfast", policy_iv=False).policies == ("I", "II", "III")
    assert SlowFastConfig.for_method("fast", policy_iv=False, c2=5.0) == SlowFastConfig(
        c2=5.0, policies=["III"]
    )
    assert SlowFastConfig.for_method("slow").policies == ("I", "II")
    with pytest.raises(ValueError, match="unknown method 'noisy'"):
        SlowFastConfig.for_method("noisy")


# ---------------------------------------------------------------- config validation


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"c1": 1.5}, "c1 must be in"),  # a speed-up is not policy I (the paper: c1 < 1)
        ({"c1": -1.0}, "c1"),
        ({"c2": 0.5}, "c2 must be"),  # a slow-down is not policy IV
        ({"c2": float("inf")}, "c2"),
        ({"r": 0}, "r must"),
        ({"window": 0}, "window"),
        ({"window": 10.5}, "window"),
        ({"window": True}, "window"),
        ({"threshold": -0.1}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"phase_mode": "sticky"}, "phase_mode"),
        ({"policies": {"I", "V"}}, "unknown policies"),
        ({"policies": "I"}, "not the string"),
    ],
)
def test_config_validation(changes, message):
    with pytest.raises(ValueError, match=message):
        SlowFastConfig(**changes)


def test_config_is_json_friendly():
    config = SlowFastConfig(policies={"IV", "I"}, phase_mode="latch")
    assert config.policies == ("I", "IV")
    assert json.loads(json.dumps(dataclasses.asdict(config)))["policies"] == ["I", "IV"]


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_bad_losses_raise(bad):
    policy = SlowFastPolicy()
    policy.step(1.0)
    with pytest.raises(ValueError, match="update 2"):
        policy.step(bad)
    assert policy.t == 1  # the bad loss was not recorded


def test_step_number_check():
    policy = SlowFastPolicy()
    assert policy.step(1.0, t=1).step == 1
    with pytest.raises(ValueError, match="expected update 2"):
        policy.step(1.0, t=3)


def test_zero_losses():
    # m_prev = 0: flat zero loss → phi = 1; a loss rising from zero → phi = inf; both P2 with R = 0
    flat = run([0.0] * 200)[200]
    assert (flat.phase, flat.phi, flat.r_phi, flat.K) == (2, 1.0, 0.0, p2_k(0.0))
    rising = run([0.0] * 100 + [0.5] * 100)[200]
    assert (rising.phase, rising.phi, rising.r_phi, rising.K) == (2, float("inf"), 0.0, p2_k(0.0))


def test_r_phi():
    assert r_phi(0.0, 3.0) == 1.0
    assert r_phi(0.5, 3.0) == 0.875
    assert r_phi(1.0, 3.0) == 0.0
    assert r_phi(2.0, 3.0) == 0.0
    assert r_phi(float("inf"), 3.0) == 0.0


# ---------------------------------------------------------------- state, resume and replay


@pytest.mark.parametrize("phase_mode", ["per-step", "latch"])
@pytest.mark.parametrize("split", [50, 250, 295, 330])
def test_state_dict_round_trip_continues_identically(phase_mode, split):
    losses = three_level_curve()
    config = SlowFastConfig(phase_mode=phase_mode)
    full = multipliers_from_losses(losses, config)

    first = SlowFastPolicy(config)
    for loss in losses[:split]:
        first.step(loss)
    state = json.loads(json.dumps(first.state_dict()))  # survives a trip through a checkpoint file
    assert len(state["losses"]) == min(split, 200)
    resumed = SlowFastPolicy(config)
    resumed.load_state_dict(state)
    assert resumed.t == split
    assert [resumed.step(loss, t=t) for t, loss in enumerate(losses[split:], start=split + 1)] == full[split:]


def test_load_state_dict_rejects_other_config():
    policy = SlowFastPolicy(SlowFastConfig(window=10))
    for _ in range(5):
        policy.step(1.0)
    with pytest.raises(ValueError, match="cannot resume"):
        SlowFastPolicy(SlowFastConfig(window=20)).load_state_dict(policy.state_dict())
    bad = policy.state_dict() | {"t": 3}
    with pytest.raises(ValueError, match="malformed"):
        SlowFastPolicy(SlowFastConfig(window=10)).load_state_dict(bad)


def test_replay_equals_step_by_step():
    rng = random.Random(7)
    losses = [max(0.0, 2.0 * 0.995**t + rng.gauss(0, 0.05)) for t in range(600)]
    config = SlowFastConfig()
    policy = SlowFastPolicy(config)
    assert multipliers_from_losses(losses, config) == [policy.step(loss) for loss in losses]
    # the K logged in steps.jsonl can be re-derived from the logged losses alone
    logged = [json.loads(json.dumps(dataclasses.asdict(s))) for s in multipliers_from_losses(losses, config)]
    replayed = multipliers_from_losses([rec["loss"] for rec in logged], config)
    assert [rec["K"] for rec in logged] == [s.K for s in replayed]
    assert {s.phase for s in replayed} == {1, 2}


def test_loop_policy_matches_engine_and_swaps_move_roles():
    from xlingual_probe.training.slowfast import SlowFastLRPolicy, slowfast_settings

    losses = three_level_curve()
    expected = multipliers_from_losses(losses, SlowFastConfig())
    sets = {"S_I": "0-9", "S_II": "0-3:ffn", "V_I": "10-11", "V_II": "10-11:attention"}
    loop_policy = SlowFastLRPolicy(slowfast_settings("slowfast", sets))
    swapped = SlowFastLRPolicy(slowfast_settings("slowfast", sets, swap="swap-S"))
    for t, (loss, state) in enumerate(zip(losses, expected), start=1):
        k, extra = loop_policy.scales(t, loss)
        assert k == state.K and extra == {"phase": state.phase, "phi": state.phi, "K": state.K}
        k_swap, _ = swapped.scales(t, loss)
        # swap-S (Table 8): S_I∖S_II gets policy II instead of policy I
        assert k_swap["S_I"] == (1.0 if state.phase == 1 else state.r_phi)
        assert k_swap["S_II"] == state.K["S_II"] and k_swap["V_II"] == state.K["V_II"]


def test_c1_zero_freezes_s1_in_phase_1_as_the_paper_s_table_5_tries():
    policy = SlowFastPolicy(SlowFastConfig(c1=0.0, window=2))
    assert policy.step(1.0).K["S_I"] == 0.0
