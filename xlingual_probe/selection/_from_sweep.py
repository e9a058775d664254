"""Selection from a sweep: its results table (:func:`select_weight_sets`) or its directory
(:func:`select_from_sweep`, ``xprobe select``: read it and the CKA runs, apply the rule, write
``selection.json`` / ``selection.md``). (``--sets auto``, which runs the sweep first, is
:func:`xlingual_probe.experiments.auto_selection.auto_selection`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from xlingual_probe.models.units import parse_layers
from xlingual_probe.runs import RESULT_STATUSES, describe_incomplete, sweep_job_status
from xlingual_probe.selection._cka import policy_iv_from_cka
from xlingual_probe.selection._io import load_sweep_results, write_selection
from xlingual_probe.selection._paired import select_paired
from xlingual_probe.selection._rules import SelectionOptions, select_delta
from xlingual_probe.utils.errors import UserError


def select_weight_sets(results: pd.DataFrame, num_layers: int, options: SelectionOptions | None = None,
                       cka: dict[str, Any] | None = None) -> dict[str, Any]:
    """Choose S_I, S_II, V_I, V_II (and policy IV) from a sweep's results table with ``options.rule``.

    Args:
        results: one row per finished sweep job (the sweep's ``results.csv``, RESULT_COLUMNS).
        num_layers: the model's number of layers.
        options: the rule (``paired``, the default, or ``delta``), its margins and the metric.
        cka: the policy IV decision of :func:`~xlingual_probe.selection.policy_iv_from_cka` for the
            chosen V_I, or ``None`` (no CKA evidence: off under the paired rule, which turns policy IV
            on only on evidence; on under the delta rule, the paper's default).

    Returns:
        The selection (the ``selection.json`` schema, ``source`` = ``auto``, ``rule`` recorded).

    Raises:
        UserError: no finished baseline run, or a malformed table.
    """
    options = options or SelectionOptions()
    rule = select_paired if options.rule == "paired" else select_delta
    selection = rule(results, num_layers, options)
    if cka is not None:
        selection["policy_iv"] = bool(cka["on"])
        selection["evidence"]["policy_iv"] = cka
        selection["notes"].extend(cka.get("notes", []))
    elif options.rule == "paired":
        selection["policy_iv"] = False
        selection["evidence"]["policy_iv"] = {"decision": "off", "reason": "no CKA runs: no evidence of a falling CKA"}
        selection["notes"].append("policy IV off: no CKA runs were given (the paired rule turns it on only on "
                                  "evidence; pass --cka with DF runs of 2+ seeds)")
    else:
        selection["policy_iv"] = True
        selection["evidence"]["policy_iv"] = {"decision": "on", "reason": "no CKA evidence; paper default"}
        selection["notes"].append("policy IV: no CKA evidence; paper default (on)")
    if not selection["sets"]["V_I"] and selection["policy_iv"]:
        selection["notes"].append("policy IV is on but V_I (and so V_II) is empty: it acts on nothing")
    return selection


def _infer_num_layers(results) -> int:
    units = results.loc[results["experiment"].isin(["reinit", "freeze"]), "unit"].astype(str)
    layers = [int(u) for u in units if u.isdigit()]
    if not layers:
        raise UserError("cannot tell the number of layers: no sweep.json and no per-layer runs; pass --num-layers")
    return max(layers) + 1


def results_to_select_from(sweep_dir: str | Path, results: pd.DataFrame, allow_incomplete: bool
                           ) -> tuple[pd.DataFrame, list[str]]:
    """The rows the rules may use, and notes on the runs left out.

    Incomplete runs (listed in ``sweep.json`` but without a result summary) are refused unless
    ``allow_incomplete``: the paired rules would silently lose their pairs. Diverged runs are a
    recorded outcome without a score: left out of the statistics, with a note naming them.
    """
    notes = []
    if (Path(sweep_dir) / "sweep.json").is_file():
        status = sweep_job_status(sweep_dir).drop_duplicates("run")
        missing = status.loc[~status["status"].isin(RESULT_STATUSES), "run"].tolist()
        if missing and not allow_incomplete:
            raise UserError(f"cannot select from {sweep_dir}: {describe_incomplete(missing)}; run the sweep "
                            "command again to finish it, or pass --allow-incomplete to select without them")
        if missing:
            notes.append(f"left out {describe_incomplete(missing)} (--allow-incomplete)")
    if "status" in results:
        diverged = results[results["status"] == "diverged"]
        if len(diverged):
            runs = ", ".join(f"{r.label} seed {r.seed}" for r in diverged.itertuples())
            notes.append(f"diverged (a non-finite training loss, no score; left out of the statistics): {runs}")
        results = results[results["status"] != "diverged"].reset_index(drop=True)
    return results, notes


def select_from_sweep(sweep_dir: str | Path, cka_runs: Sequence[str | Path] = (), *,
                      options: SelectionOptions | None = None, out_dir: str | Path | None = None,
                      num_layers: int | None = None, allow_incomplete: bool = False) -> dict[str, Any]:
    """Select the weight sets from a sweep directory (and CKA runs) and write ``selection.json`` / ``.md``.

    Args:
        sweep_dir: a sweep directory (``sweep.json`` + runs, or just a ``results.csv``).
        cka_runs: DF runs with ``cka.jsonl`` (or folders of them), one per seed; none = no CKA evidence
            (see :func:`select_weight_sets`).
        options: the rule, its margins, the metric and the CKA test.
        out_dir: where to write (default: ``sweep_dir``).
        num_layers: the layer count when the sweep has no ``sweep.json`` (default: inferred from the
            per-layer runs, with a note).
        allow_incomplete: select even if some of the sweep's runs are incomplete (they are left out,
            with a note); by default that is an error.

    Returns:
        The selection.

    Raises:
        UserError: the sweep has runs without a result summary and ``allow_incomplete`` is off.
    """
    options = options or SelectionOptions()
    results, sweep_layers = load_sweep_results(sweep_dir)
    results, notes = results_to_select_from(sweep_dir, results, allow_incomplete)
    inferred = num_layers is None and sweep_layers is None
    layers = num_layers or sweep_layers or _infer_num_layers(results)
    # the sets come first: policy IV reads the CKA of the chosen V_I
    selection = select_weight_sets(results, layers, options)
    if cka_runs:
        v1 = parse_layers(selection["sets"]["V_I"], layers) if selection["sets"]["V_I"] else []
        selection = select_weight_sets(results, layers, options, cka=policy_iv_from_cka(cka_runs, v1, options))
    if inferred:
        selection["notes"].insert(0, f"the layer count ({layers}) was inferred from the per-layer runs")
    selection["notes"] = notes + selection["notes"]
    selection["sweep"] = str(sweep_dir)
    write_selection(selection, out_dir or sweep_dir)
    return selection
