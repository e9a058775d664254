"""Experiment trackers (TensorBoard, Weights & Biases, MLflow) fed from the run directory's records.

Context:
    HF users watch runs in the tracker they already use (``--report-to`` of ``TrainingArguments``).
    Here the run directory stays the source of truth: every record the run writes (``steps.jsonl``,
    ``metrics.jsonl``, ``cka.jsonl`` and any probe's log) is also sent to the trackers named by
    ``--report-to``, through Accelerate's tracker API, by :class:`TrackerMirror`, an observer of the
    :class:`~xlingual_probe.runs.RunWriter`. Nothing is logged that the run directory does not hold.

What is logged (one point per record, at its update ``step``):
    ``steps/loss``, ``steps/lr``, ``steps/group_lr/<group>`` (each group's rate), the policy's
    ``steps/K/<set>``, ``steps/phase`` and ``steps/phi``; ``metrics/<field>`` of every evaluation
    (``metrics/metrics/<lang>`` per language, ``metrics/source``, ``metrics/target_mean``,
    ``metrics/overall``, ``metrics/gap``, ``metrics/details/<lang>/<metric>``); per-layer probe
    records as ``cka/cka/layer_<i>`` (and likewise for other probes' per-layer logs). Non-numeric
    fields are left out. The run's configuration is stored as the tracker's hyper-parameters.

Where: TensorBoard event files go to ``<run dir>/trackers/xlingual-probe/``; W&B and MLflow use the
project / experiment ``xlingual-probe`` with the run directory's name as the run name (their own
environment variables, e.g. ``WANDB_MODE=offline`` or ``MLFLOW_TRACKING_URI``, apply). Each tracker's
package is an optional extra (``pip install 'xlingual-probe[tensorboard]'``, ``[wandb]``, ``[mlflow]``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from accelerate import Accelerator

from xlingual_probe.utils.errors import UserError

__all__ = ["PROJECT", "TRACKERS", "TrackerMirror", "check_trackers", "flat_scalars", "tracker_options"]

PROJECT = "xlingual-probe"
# tracker name -> the module it needs
TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}


def check_trackers(report_to: list[str]) -> list[str]:
    """The trackers to start: ``report_to`` without ``none``, each known and installed.

    Raises:
        UserError: an unknown tracker name, or one whose package is not installed.

    >>> check_trackers(["none"])
    []
    """
    names = [name for name in report_to if name != "none"]
    for name in names:
        if name not in TRACKERS:
            raise UserError(f"--report-to {name!r}: choose from {', '.join(TRACKERS)} or none")
        if importlib.util.find_spec(TRACKERS[name]) is None:
            raise UserError(f"--report-to {name} needs the {TRACKERS[name]} package "
                            f"(pip install 'xlingual-probe[{name}]')")
    return names


def tracker_options(run_dir: Path) -> dict[str, Any]:
    """Per-tracker ``init_kwargs`` for ``Accelerator.init_trackers``: the run's name is its folder's."""
    return {"wandb": {"name": run_dir.name, "dir": str(run_dir / "trackers")},
            "mlflow": {"run_name": run_dir.name}}


def flat_scalars(record: dict[str, Any], prefix: str) -> dict[str, float]:
    """The numeric fields of a record as ``prefix/field`` (nested dicts as ``prefix/field/key``).

    >>> flat_scalars({"step": 3, "loss": 0.5, "K": {"S_I": 0.01}, "phase": 1, "note": "x"}, "steps")
    {'steps/loss': 0.5, 'steps/K/S_I': 0.01, 'steps/phase': 1.0}
    """
    out: dict[str, float] = {}
    for key, value in record.items():
        name = f"{prefix}/{key}"
        if key in ("step", "layer") or isinstance(value, bool):
            continue
        if isinstance(value, dict):
            out.update(flat_scalars(value, name))
        elif isinstance(value, (int, float)):
            out[name] = float(value)
    return out


def _hyperparameters(config: dict[str, Any]) -> dict[str, Any]:
    # TensorBoard's hparams take only scalars and strings: lists, dicts and None go as JSON text
    return {k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v) for k, v in config.items()}


class TrackerMirror:
    """Sends every run-directory record to the Accelerate trackers (main process only).

    Args:
        accelerator: an ``Accelerator`` made with ``log_with=`` the trackers.
        run_dir: the run directory (names the run in W&B / MLflow).
        config: the run's configuration, stored as hyper-parameters.
    """

    def __init__(self, accelerator: Accelerator, run_dir: Path, config: dict[str, Any]):
        self.accelerator = accelerator
        accelerator.init_trackers(PROJECT, config=_hyperparameters(config), init_kwargs=tracker_options(run_dir))

    def __call__(self, log: str, record: dict[str, Any]) -> None:
        suffix = f"/layer_{record['layer']}" if "layer" in record else ""
        values = {name + suffix: value for name, value in flat_scalars(record, log).items()}
        if values:
            self.accelerator.log(values, step=int(record["step"]))

    def close(self) -> None:
        """Flush and close every tracker."""
        self.accelerator.end_training()
