"""A set of run, sweep and comparison directories with hand-chosen numbers, shared by the figure/table tests."""

from __future__ import annotations

import pytest

from tests.plots.fixtures import scores, write_comparison, write_sweep

GAIN = {1: 0.0, 2: 0.5, 3: 1.0}  # slow-and-fast's extra gain on the targets per seed (gives the differences variance)
SEEDS = (1, 2, 3)
DF = {k: scores(80 + k, 70 + k, 60 + k) for k in SEEDS}
SLOW = {k: scores(80.5 + k, 70.5 + k, 60 + 1.2 * k) for k in SEEDS}
SLOWFAST = {k: scores(81 + k, 72 + k + GAIN[k], 63 + k + GAIN[k]) for k in SEEDS}
SELECTION = {"schema_version": 1, "source": "auto", "num_layers": 3, "policy_iv": True,
             "sets": {"S_I": "0-1", "S_II": "0:ffn", "V_I": "2", "V_II": "2:attention"},
             "evidence": {"S_I": [{"experiment": "reinit-L0", "unit": "0", "decision": "in S_I (drop 3.00 > δ)"},
                                  {"experiment": "reinit-L1", "unit": "1", "decision": "in S_I (drop 3.00 > δ)"},
                                  {"experiment": "reinit-L2", "unit": "2", "decision": "not in S_I (drop ≤ δ)"}],
                          "S_II": [{"experiment": "freeze-L0", "unit": "0", "p_holm": 0.01},
                                   {"experiment": "freeze-L1", "unit": "1", "p_holm": 0.2}]},
             "notes": ["fixture selection"]}


def sweep_jobs() -> list:
    jobs = [("baseline", "baseline", "", "", {k: DF[k] for k in (1, 2)})]
    for layer in range(3):
        jobs.append(("reinit", f"reinit-L{layer}", str(layer), "all",
                     {k: scores(77 + k - 0.1 * k * layer, 67 + k, 57 + k) if layer < 2 else DF[k] for k in (1, 2)}))
        jobs.append(("freeze", f"freeze-L{layer}", str(layer), "all",
                     {k: scores(80 + k, 70 + k + (1.5 + 0.3 * k if layer == 0 else 0.0), 60 + k) for k in (1, 2)}))
    for k_last in (1, 2):
        jobs.append(("last-k", f"last-{k_last}", f"top{k_last}", "all",
                     {k: scores(76 + k + k_last, 70 + k - 2 + k_last, 62 + k - 2 + k_last) for k in (1, 2)}))
    for component, gain in (("all", 0.2), ("attention", 0.4), ("ffn", 1.0)):
        suffix = "" if component == "all" else f"-{component}"
        jobs.append(("group-freeze", f"group-freeze-bottom1{suffix}", "bottom1", component,
                     {k: scores(80 + k, 70 + k + gain * k, 60 + k) for k in (1, 2)}))
        jobs.append(("lr-x10", f"lr-x10-top1{suffix}", "top1", component,
                     {k: scores(80 + k - gain, 70 + k, 60 + k) for k in (1, 2)}))
        jobs.append(("group-reinit", f"group-reinit-bottom1{suffix}", "bottom1", component,
                     {k: scores(70 + k, 60 + k - gain * k, 50 + k) for k in (1, 2)}))
    return jobs


@pytest.fixture(scope="session")
def paper_root(tmp_path_factory):
    return write_paper_runs(tmp_path_factory.mktemp("paper-runs"))


def write_paper_runs(root):
    """``cmp-xnli`` (DF, FS, slow-and-fast; CKA on DF), ``cmp-xnli-M5``, ``cmp-panx``, ``abl-c1`` (c1 = 0.5),
    ``swaps`` (slowfast:swap-S) and ``sweep-xnli`` (3 layers, every experiment family, 2 seeds, selection)."""
    write_comparison(root / "cmp-xnli", {"direct": DF, "slow": SLOW, "slowfast": SLOWFAST}, cka_layers=3)
    write_comparison(root / "cmp-xnli-M5", {m: {k: {lang: v + 3 for lang, v in s.items()} for k, s in f.items()}
                                            for m, f in {"direct": DF, "slowfast": SLOWFAST}.items()}, few_shot=5)
    write_comparison(root / "cmp-panx", {"direct": {k: DF[k] for k in (1, 2)},
                                         "slowfast": {k: SLOWFAST[k] for k in (1, 2)}}, task="panx")
    write_comparison(root / "abl-c1", {"slowfast": {k: scores(80 + k, 71 + k, 62 + k) for k in SEEDS}},
                     policy={"c1": 0.5})
    write_comparison(root / "swaps", {"slowfast:swap-S": {k: scores(80 + k, 71 + k, 61 + k + 0.2 * k) for k in SEEDS}})
    write_sweep(root / "sweep-xnli", sweep_jobs(), selection=SELECTION)
    return root
