"""Weight-set selection for slow-and-fast fine-tuning: from a layer sweep, a preset, or a file.

``select_from_sweep`` (``xprobe select``) applies one of SPEC's rules to a finished sweep directory
and decides policy IV from the CKA runs (``--sets auto``, which runs the sweep first, is
:mod:`xlingual_probe.experiments.auto_selection`):

- ``rule="paired"`` (default, :mod:`~xlingual_probe.selection._paired`): per-seed differences to DF,
  a variance pooled robustly per experiment family (:mod:`~xlingual_probe.selection._paired_stats`),
  one-sided t-tests Holm-corrected per family, a minimum effect, V_I by evidence of no harm;
- ``rule="delta"`` (:mod:`~xlingual_probe.selection._rules`): the former margin δ = max(2σ, 0.5)
  over a σ pooled across every experiment;
- policy IV (:mod:`~xlingual_probe.selection._cka`): one CKA slope per seed tested across seeds
  (paired), or one pooled fit (delta).

``select_from_alignment`` applies SPEC's "Selection from alignment" to DF runs with the alignment probe
(:mod:`~xlingual_probe.selection._alignment`). ``SimulatedSweep`` / ``simulate_sweep_results`` draw
sweep tables with known effects, from which ``benchmarks/selection_power.py`` measures both rules'
error rates and power. The package reads run and sweep directories only: it imports neither the
training loop nor the probes. ``paper_selection`` is the paper's preset, ``read_selection`` validates a
hand-written file, and ``resolve_selection`` turns ``--sets paper|FILE`` into a selection. The file
format is described in :mod:`~xlingual_probe.selection._io`.

>>> paper_selection(12)["policy_iv"]
True
"""

from xlingual_probe.selection._alignment import AlignmentSelectionOptions, select_from_alignment
from xlingual_probe.selection._cka import (
    cka_pooled_fit_test,
    cka_slope_test,
    find_cka_runs,
    policy_iv_from_cka,
)
from xlingual_probe.selection._from_sweep import select_from_sweep, select_weight_sets
from xlingual_probe.selection._io import (
    SET_NAMES,
    check_sets,
    inactive_policies,
    load_sweep_results,
    paper_selection,
    read_selection,
    resolve_selection,
    selection_markdown,
    write_selection,
)
from xlingual_probe.selection._paired_stats import holm_adjust, pooled_variance, satterthwaite_df
from xlingual_probe.selection._rules import (
    RULES,
    SCORE_METRICS,
    SelectionOptions,
    experiment_stats,
    format_layers,
    pooled_sigma,
    unit_string,
)
from xlingual_probe.selection._simulation import SimulatedSweep, simulate_sweep_results

__all__ = [
    "RULES",
    "SCORE_METRICS",
    "SET_NAMES",
    "AlignmentSelectionOptions",
    "SelectionOptions",
    "SimulatedSweep",
    "check_sets",
    "cka_pooled_fit_test",
    "cka_slope_test",
    "experiment_stats",
    "find_cka_runs",
    "format_layers",
    "holm_adjust",
    "inactive_policies",
    "load_sweep_results",
    "paper_selection",
    "policy_iv_from_cka",
    "pooled_sigma",
    "pooled_variance",
    "read_selection",
    "resolve_selection",
    "satterthwaite_df",
    "select_from_alignment",
    "select_from_sweep",
    "select_weight_sets",
    "selection_markdown",
    "simulate_sweep_results",
    "unit_string",
    "write_selection",
]
