"""Weight-set selection for slow-and-fast fine-tuning: from a layer sweep, a preset, or a file.

``select_from_alignment`` applies SPEC's "Selection from alignment" to DF runs with the alignment probe
(:mod:`~xlingual_probe.selection._alignment`). ``select_from_sweep`` applies SPEC's rules (:mod:`~xlingual_probe.selection._rules`) and the CKA test
of policy IV (:mod:`~xlingual_probe.selection._cka`) to a finished sweep directory (``--sets auto``,
which runs the sweep first, is :mod:`xlingual_probe.experiments.auto_selection`). The package reads
run and sweep directories only: it imports neither the training loop nor the probes. ``paper_selection`` is the paper's preset, ``read_selection`` validates a hand-written
file, and ``resolve_selection`` turns ``--sets paper|FILE`` into a selection. The file format is
described in :mod:`~xlingual_probe.selection._io`.

>>> paper_selection(12)["policy_iv"]
True
"""

from xlingual_probe.selection._alignment import AlignmentSelectionOptions, holm_adjust, select_from_alignment
from xlingual_probe.selection._cka import find_cka_runs, policy_iv_from_cka
from xlingual_probe.selection._from_sweep import select_from_sweep
from xlingual_probe.selection._io import (
    SET_NAMES,
    check_sets,
    load_sweep_results,
    paper_selection,
    read_selection,
    resolve_selection,
    selection_markdown,
    write_selection,
)
from xlingual_probe.selection._rules import (
    SelectionOptions,
    experiment_stats,
    format_layers,
    pooled_sigma,
    select_weight_sets,
    unit_string,
)

__all__ = [
    "SET_NAMES",
    "AlignmentSelectionOptions",
    "SelectionOptions",
    "check_sets",
    "experiment_stats",
    "find_cka_runs",
    "format_layers",
    "holm_adjust",
    "load_sweep_results",
    "paper_selection",
    "policy_iv_from_cka",
    "pooled_sigma",
    "read_selection",
    "resolve_selection",
    "select_from_alignment",
    "select_from_sweep",
    "select_weight_sets",
    "selection_markdown",
    "unit_string",
    "write_selection",
]
