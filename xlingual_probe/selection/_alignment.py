"""Selection from alignment: the slow-and-fast weight sets from one DF run per seed instead of a layer sweep.

Context:
    The sweep behind SPEC's selection rules costs ~150 fine-tuning runs per task. The alignment
    probe (``xprobe probe alignment``) measures, in the DF runs themselves, what the sweep infers:
    how aligned each layer is across languages before fine-tuning and how much of it fine-tuning
    takes away. This module turns that into the four sets (SPEC "Selection from alignment").

Rule (``measure`` = translation retrieval by default; a layer's value is the mean over targets):
    a_ℓ     alignment of layer ℓ before fine-tuning (update 0), mean over the runs.
    Δ_ℓ,k   alignment lost by the end of run k (seed k): a_ℓ,k(0) − a_ℓ,k(end).
    S_I     layers with a_ℓ ≥ the median of a over the layers whose loss is shown across seeds:
            one-sided one-sample t-test of Δ_ℓ,k > 0 over the seeds (each seed one independent
            value; probe points within a run are never pooled), Holm-corrected over the layers
            tested (those at or above the median) at family-wise ``alpha`` — knowledge present and
            at risk. With one seed no test is possible: S_I then takes the sign of Δ, and a note says
            the decision is untested.
    S_II    ⊆ S_I: the layers that lose most of it in phase 2 — the mean over seeds of the share
            of Δ lost in phase 2 (:func:`~xlingual_probe.forgetting.phase_losses`, phase 2 replayed
            from each run's losses) above ``phase2_share`` (½); their feed-forward component (the
            paper's finding; a group sweep is not read here).
    V_I     the top contiguous block of layers with a_ℓ below the median (little alignment to protect).
    V_II    the attention component of V_I.
    policy IV  SPEC's CKA rule (:func:`~xlingual_probe.selection.policy_iv_from_cka`) on the runs'
            ``cka.jsonl`` when they have one (``xprobe probe alignment`` adds the CKA probe); else on
            (the paper's default), with a note.

The selection uses target-language text (unlabelled), which the selection file flags. It is written
with :func:`~xlingual_probe.selection.write_selection` (``source`` = ``alignment``), its evidence
table under ``evidence.alignment``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from xlingual_probe.forgetting import MEASURES, alignment_frame, layer_losses, phase_losses
from xlingual_probe.runs import RunFiles
from xlingual_probe.selection._cka import policy_iv_from_cka
from xlingual_probe.selection._io import write_selection
from xlingual_probe.selection._paired_stats import holm_adjust
from xlingual_probe.selection._rules import SCHEMA_VERSION, SelectionOptions, format_layers, unit_string
from xlingual_probe.utils.errors import UserError

__all__ = ["AlignmentSelectionOptions", "select_from_alignment"]


@dataclass(frozen=True)
class AlignmentSelectionOptions:
    """The choices behind a selection from alignment, recorded in ``selection.json``.

    Attributes:
        measure: the alignment measure (``retrieval``, ``cka_cross``, ...).
        alpha: family-wise error rate of the Holm-corrected test of S_I (and policy IV's α).
        phase2_share: S_II takes the S_I layers losing more than this share of their loss in phase 2.
        window: the phase window used to replay phase 2 from the losses.
        threshold: the phase threshold.
    """

    measure: str = "retrieval"
    alpha: float = 0.05
    phase2_share: float = 0.5
    window: int = 100
    threshold: float = 0.1

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise UserError(f"--measure must be one of {', '.join(MEASURES)}, not {self.measure!r}")
        if not 0 < self.alpha < 1:
            raise UserError("--alpha must be in (0, 1)")
        if not 0 <= self.phase2_share < 1:
            raise UserError("--phase2-share must be in [0, 1)")
        if self.window < 1:
            raise UserError("--window must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _one_sided_p(values: list[float]) -> tuple[float | None, float | None]:
    """t and p of the one-sample t-test of mean > 0 (None with < 2 values; p = 0 / 1 with no spread)."""
    from scipy.stats import ttest_1samp

    if len(values) < 2:
        return None, None
    mean = math.fsum(values) / len(values)
    if max(values) == min(values):  # no spread: the sign decides, as an infinitely large t would
        return (math.inf if mean > 0 else -math.inf if mean < 0 else 0.0), (0.0 if mean > 0 else 1.0)
    result = ttest_1samp(values, 0.0, alternative="greater")
    return float(result.statistic), float(result.pvalue)


def _std(values: pd.Series) -> float | None:
    return float(values.std(ddof=1)) if len(values) > 1 else None


def _top_block(layers: list[int], num_layers: int) -> list[int]:
    block: list[int] = []
    for layer in range(num_layers - 1, -1, -1):
        if layer not in layers:
            break
        block.insert(0, layer)
    return block


def _num_layers(frame: pd.DataFrame, runs: list[str]) -> int:
    from xlingual_probe.utils.io import read_json

    counts = {read_json(RunFiles(run).config).get("training", {}).get("num_layers") for run in runs}
    counts.discard(None)
    if len(counts) > 1:
        raise UserError(f"the runs have different layer counts ({sorted(counts)}): pass runs of one model")
    return counts.pop() if counts else int(frame["layer"].max()) + 1


def select_from_alignment(run_dirs: Sequence[str | Path], options: AlignmentSelectionOptions | None = None, *,
                          out_dir: str | Path | None = None) -> dict[str, Any]:
    """Choose S_I, S_II, V_I, V_II and policy IV from DF runs with ``alignment.jsonl`` (module docstring).

    Args:
        run_dirs: one DF run per seed (or folders holding them).
        options: the measure, α and the phase settings.
        out_dir: where to write ``selection.json`` / ``selection.md`` (default: not written).

    Returns:
        The selection (``selection.json`` schema, ``source`` = ``alignment``).

    Raises:
        UserError: no alignment records, runs of different models, or a run without update-0 records.
    """
    options = options or AlignmentSelectionOptions()
    frame = alignment_frame(run_dirs)
    runs = sorted(frame["run"].unique())
    num_layers = _num_layers(frame, runs)
    per_run = layer_losses(frame, options.measure).merge(
        phase_losses(frame, options.measure, options.window, options.threshold)[["run", "layer", "share_p2"]],
        on=["run", "layer"])
    notes = [("uses target-language text (unlabelled) of the evaluation sets: the parallel sample of the "
              "alignment probe"), f"runs ({len(runs)}): {', '.join(runs)}"]
    layers = sorted(per_run["layer"].unique())
    before = per_run.groupby("layer")["before"].mean()
    median = float(before.median())
    candidates = [layer for layer in layers if before[layer] >= median]
    tests = {layer: _one_sided_p(per_run.loc[per_run["layer"] == layer, "lost"].tolist()) for layer in candidates}
    tested = [layer for layer in candidates if tests[layer][1] is not None]
    adjusted = dict(zip(tested, holm_adjust([tests[layer][1] for layer in tested])))
    if len(runs) < 2:
        notes.append("one seed: the loss of alignment cannot be tested across seeds; S_I takes the layers at or "
                     "above the median whose alignment fell (untested, not protected against seed noise)")
    rows, s1, s2 = [], [], []
    for layer in layers:
        group = per_run[per_run["layer"] == layer]
        lost = group["lost"].tolist()
        mean_lost = math.fsum(lost) / len(lost)
        share = group["share_p2"].mean()
        t, p = tests.get(layer, (None, None))
        if layer not in candidates:
            decision = "below the median: not in S_I"
        elif p is None:
            decision = "in S_I (lost > 0, untested)" if mean_lost > 0 else "not in S_I (nothing lost)"
        else:
            decision = (f"in S_I (loss shown, Holm p = {adjusted[layer]:.3g} < {options.alpha:g})"
                        if adjusted[layer] < options.alpha and mean_lost > 0
                        else f"not in S_I (loss not shown, Holm p = {adjusted[layer]:.3g})")
        if decision.startswith("in S_I"):
            s1.append(layer)
            if not math.isnan(share) and share > options.phase2_share:
                s2.append(layer)
                decision += f"; in S_II ({share:.0%} of it in phase 2)"
        rows.append({"layer": layer, "before": float(before[layer]), "end": float(group["end"].mean()),
                     "end_std": _std(group["end"]), "lost": mean_lost, "lost_std": _std(group["lost"]),
                     "share_phase2": None if math.isnan(share) else float(share), "seeds": len(lost),
                     "t": t, "p": p, "p_holm": adjusted.get(layer), "decision": decision})
    v1 = _top_block([layer for layer in layers if before[layer] < median], num_layers)
    for row in rows:
        if row["layer"] in v1:
            row["decision"] += "; in V_I (top block below the median)"
    if not s1:
        notes.append("S_I is empty: no layer at or above the median is shown to lose alignment "
                     "(policies I and II act on nothing)")
    if s1 and not s2:
        notes.append(f"S_II is empty: no S_I layer loses more than {options.phase2_share:.0%} of its alignment "
                     "in phase 2 (phase 2 may be short or absent in these runs)")
    if not v1:
        notes.append(f"V_I is empty: the top layer {num_layers - 1} is at or above the median alignment")
    if s2:
        notes.append("S_II's component: feed-forward (the paper's finding; no group sweep was read)")
    selection = {
        "schema_version": SCHEMA_VERSION, "source": "alignment", "num_layers": num_layers,
        "sets": {"S_I": unit_string(s1, None), "S_II": unit_string(s2, "ffn"), "V_I": unit_string(v1, None),
                 "V_II": unit_string(v1, "attention")},
        "policy_iv": True, "components": {"S_II": "ffn" if s2 else None, "V_II": "attention" if v1 else None},
        "margins": None,
        "options": {**options.to_dict(), "runs": runs, "median": median, "tested_layers": format_layers(tested)},
        "evidence": {"alignment": rows}, "notes": notes,
    }
    cka_runs = [run for run in runs if RunFiles(run).cka.is_file()]
    if cka_runs:
        cka = policy_iv_from_cka(cka_runs, v1, SelectionOptions(cka_alpha=options.alpha, window=options.window,
                                                                threshold=options.threshold))
        selection["policy_iv"] = bool(cka["on"])
        selection["evidence"]["policy_iv"] = cka
        notes.extend(cka.get("notes", []))
    else:
        selection["evidence"]["policy_iv"] = {"decision": "on", "reason": "no CKA evidence; paper default"}
        notes.append("policy IV: the runs have no cka.jsonl; paper default (on)")
    if out_dir is not None:
        write_selection(selection, out_dir)
    return selection
