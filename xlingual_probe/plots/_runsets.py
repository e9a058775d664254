"""Which runs an artefact uses, and how they group into series (one series = one configuration, its seeds).

Rules shared by every figure and table:

- *Plain* runs are fine-tuning methods as such: no frozen / re-initialised / rescaled units (a sweep's DF
  baseline counts, its other experiments do not).
- *Zero-shot first*: per dataset, runs with few-shot M = 0; a dataset without any uses its smallest M
  (and the artefact says so).
- *The central setting* of the slow-and-fast hyper-parameters: the most common value of each of c1, c2, r
  among the policy runs. Runs of an ablation (Table 5) that moved one of them away from it stay out of the
  other artefacts, without hard-coding SPEC's defaults.
- A *series* is the runs whose configurations are equal apart from seed and output folder. It is labelled
  by the method's paper name, plus the options that tell apart series of the same method in a dataset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from xlingual_probe.plots._names import method_key, method_name
from xlingual_probe.plots._sources import POLICY_HYPER, Sources, is_plain

__all__ = ["Series", "as_panels", "at_centre", "centre_setting", "plain", "series", "zero_shot"]

_NOT_IDENTITY = {"out", "seed"}


def plain(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs of a method as such (see the module docstring)."""
    return runs[runs.apply(is_plain, axis=1)] if len(runs) else runs


def zero_shot(runs: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Per dataset the runs with the smallest few-shot M (0 when there are any); also ``{dataset: M}`` of the
    datasets where that M is not 0."""
    keep, fallback = [], {}
    for dataset, group in runs.groupby("dataset", sort=False):
        m = int(group["few_shot"].min())
        keep.append(group[group["few_shot"] == m])
        if m:
            fallback[str(dataset)] = m
    return (pd.concat(keep) if keep else runs.iloc[0:0]), fallback


def centre_setting(runs: pd.DataFrame) -> dict[str, float]:
    """The most common value of each of c1, c2, r among the policy runs (ties: the smaller value)."""
    centre = {}
    for key in POLICY_HYPER:
        values = pd.to_numeric(runs[key], errors="coerce").dropna()
        if len(values):
            counts = values.value_counts()
            centre[key] = float(min(counts[counts == counts.max()].index))
    return centre


def at_centre(runs: pd.DataFrame, centre: dict[str, float] | None = None) -> pd.DataFrame:
    """Runs that are not policy runs, or whose c1, c2, r all equal the central setting."""
    centre = centre_setting(runs) if centre is None else centre
    mask = pd.Series(True, index=runs.index)
    for key, value in centre.items():
        column = pd.to_numeric(runs[key], errors="coerce")
        mask &= column.isna() | (column == value)
    return runs[mask]


def _identity(config: dict[str, Any], ignore: set[str]) -> str:
    return json.dumps({k: v for k, v in config.items() if k not in ignore}, sort_keys=True, default=str)


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


@dataclass
class Series:
    """One configuration's runs (one per seed): its label, method and run directories (sorted by seed)."""

    label: str
    method: str
    runs: list[str]


def series(sources: Sources, runs: pd.DataFrame, by: tuple[str, ...] = ("dataset",)) -> dict[Any, list[Series]]:
    """The runs grouped by the ``by`` columns of the runs table, then into series, in the paper's method order.

    A series is the runs whose configurations are equal apart from seed, output folder and the ``by``
    columns that are configuration keys (``few_shot``). Runs of the same configuration and seed (a sweep's
    DF baseline and a comparison's DF, say) give the same numbers on the same machine: the first is kept.
    Series of the same method in a group are told apart by the options that differ (``DF (lr=0.0001)``).

    Returns:
        ``{group key: [Series, ...]}``; the key is the ``by`` value (a tuple when ``by`` has several columns).
    """
    ignore = _NOT_IDENTITY | set(by)
    out: dict[Any, list[Series]] = {}
    for key, group in runs.groupby(list(by), sort=False):
        key = key if len(by) > 1 else (key[0] if isinstance(key, tuple) else key)
        members: dict[str, dict[Any, str]] = {}
        method_of: dict[str, str] = {}
        for run, method, seed in zip(group["run"], group["method"], group["seed"]):
            identity = _identity(sources.runs[run].config, ignore)
            members.setdefault(identity, {}).setdefault(seed, run)
            method_of[identity] = str(method)
        labels = {}
        for identity, method in method_of.items():
            same = [k for k, m in method_of.items() if m == method]
            label = method_name(method)
            if len(same) > 1:
                mine = _flat(json.loads(identity))
                others = [_flat(json.loads(k)) for k in same if k != identity]
                differ = sorted(k for k in mine if any(o.get(k) != mine[k] for o in others))
                label += " (" + ", ".join(f"{k}={mine[k]}" for k in differ[:3]) + ")"
            labels[identity] = label
        ordered = sorted(members, key=lambda k: (method_key(method_of[k]), labels[k]))
        out[key] = [Series(labels[k], method_of[k], [members[k][seed] for seed in sorted(members[k])])
                    for k in ordered]
    return out


def as_panels(grouped: dict[Any, list[Series]]) -> dict[str, dict[str, list[str]]]:
    """``{str(group key): {label: runs}}``: the input of the curve figures."""
    return {str(key): {s.label: s.runs for s in group} for key, group in grouped.items()}
