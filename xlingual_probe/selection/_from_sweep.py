"""Selection from a finished sweep directory (``xprobe select``): read it and the CKA runs, apply the
rules, write ``selection.json`` / ``selection.md``. (``--sets auto``, which runs the sweep first, is
:func:`xlingual_probe.experiments.auto_selection.auto_selection`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xlingual_probe.models.units import parse_layers
from xlingual_probe.selection._cka import policy_iv_from_cka
from xlingual_probe.selection._io import load_sweep_results, write_selection
from xlingual_probe.selection._rules import SelectionOptions, select_weight_sets
from xlingual_probe.utils.errors import UserError


def _infer_num_layers(results) -> int:
    units = results.loc[results["experiment"].isin(["reinit", "freeze"]), "unit"].astype(str)
    layers = [int(u) for u in units if u.isdigit()]
    if not layers:
        raise UserError("cannot tell the number of layers: no sweep.json and no per-layer runs; pass --num-layers")
    return max(layers) + 1


def select_from_sweep(sweep_dir: str | Path, cka_runs: Sequence[str | Path] = (), *,
                      options: SelectionOptions | None = None, out_dir: str | Path | None = None,
                      num_layers: int | None = None) -> dict[str, Any]:
    """Select the weight sets from a sweep directory (and CKA runs) and write ``selection.json`` / ``.md``.

    Args:
        sweep_dir: a sweep directory (``sweep.json`` + runs, or just a ``results.csv``).
        cka_runs: DF runs with ``cka.jsonl`` (or folders of them); none = policy IV on (paper default).
        options: margins, metric and the CKA test.
        out_dir: where to write (default: ``sweep_dir``).
        num_layers: the layer count when the sweep has no ``sweep.json`` (default: inferred from the
            per-layer runs, with a note).

    Returns:
        The selection.
    """
    options = options or SelectionOptions()
    results, sweep_layers = load_sweep_results(sweep_dir)
    inferred = num_layers is None and sweep_layers is None
    layers = num_layers or sweep_layers or _infer_num_layers(results)
    # the sets come first: policy IV reads the CKA of the chosen V_I
    selection = select_weight_sets(results, layers, options)
    if inferred:
        selection["notes"].insert(0, f"the layer count ({layers}) was inferred from the per-layer runs")
    if cka_runs:
        v1 = parse_layers(selection["sets"]["V_I"], layers) if selection["sets"]["V_I"] else []
        selection = select_weight_sets(results, layers, options, cka=policy_iv_from_cka(cka_runs, v1, options))
        if inferred:
            selection["notes"].insert(0, f"the layer count ({layers}) was inferred from the per-layer runs")
    selection["sweep"] = str(sweep_dir)
    write_selection(selection, out_dir or sweep_dir)
    return selection
