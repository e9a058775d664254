"""Run identity: what makes two runs the same run, so a finished one may be reused instead of re-run.

A run is identified by

* its resolved TrainConfig without ``out`` (the seed included; where it is written does not matter;
  ``threads`` only when set, so runs made before the field existed keep their keys),
* :data:`~xlingual_probe.runs.NUMERICS_VERSION` (bumped by every code change that alters numbers),
* its data fingerprint (:mod:`xlingual_probe.training.data`): the size and SHA-256 of every data file
  it reads (by file name: the same bytes in another folder are the same data), every hub split's
  fingerprint, and the digests of the examples it uses after sampling.

:func:`run_identity` builds it, :func:`identity_key` turns it into 8 hex digits for folder names and
caches, and :func:`identity_differences` says in words why two differ. ``config.json`` records the
key and the fingerprint; the loop refuses to resume or reuse a run directory whose recorded identity
differs from the run's, and the sweep, comparison and ``--sets auto`` put such a run under a new key
(:func:`keyed_run_dir`) and say why, so stale runs are never reused and never overwritten.

>>> from xlingual_probe.training.config import TrainConfig
>>> data = {"sources": [], "examples": {"train": "ab", "eval": {"en": "cd"}}}
>>> a = run_identity(TrainConfig(model="m", task="xnli", out="a"), data)
>>> identity_key(a) == identity_key(run_identity(TrainConfig(model="m", task="xnli", out="b"), data))
True
>>> identity_differences(a, run_identity(TrainConfig(model="m", task="xnli", out="a", lr=1e-5), data))
['config lr (2e-05 there, 1e-05 now)']
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from xlingual_probe.runs import NUMERICS_VERSION, RunFiles
from xlingual_probe.training.config import TrainConfig
from xlingual_probe.training.data import data_fingerprint
from xlingual_probe.utils.io import read_json

_NOT_IDENTITY = ("out",)  # config fields that do not change what a run computes
# fields added after runs were made: left out while unset, so those runs keep their keys
_IDENTITY_WHEN_SET = ("threads",)


def _canonical(obj: Any) -> Any:
    # what config.json gives back: tuples as lists, non-str keys as str
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


def _data_identity(fingerprint: dict[str, Any] | None) -> dict[str, Any] | None:
    """The part of a data fingerprint that identifies the data: contents, not where the files lie."""
    if fingerprint is None:
        return None
    sources = [{**{k: v for k, v in s.items() if k != "path"}, "file": Path(s["path"]).name} if "path" in s else s
               for s in fingerprint["sources"]]
    return _canonical({"sources": sources, "examples": fingerprint["examples"]})


def _identity_values(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items()
            if k not in _NOT_IDENTITY and not (k in _IDENTITY_WHEN_SET and v is None)}


def run_identity(config: TrainConfig, fingerprint: dict[str, Any] | None = None) -> dict[str, Any]:
    """The identity of the run ``config`` describes (module docstring).

    Args:
        config: the run's resolved configuration.
        fingerprint: its data fingerprint when already known; default :func:`~xlingual_probe.training.data.data_fingerprint`
            (loads and hashes the data once per process and data configuration).

    Returns:
        ``{"config", "numerics_version", "data"}``, JSON-like.

    Raises:
        UserError: the data cannot be loaded.
    """
    fingerprint = data_fingerprint(config) if fingerprint is None else fingerprint
    return {"config": _canonical(_identity_values(config.to_dict())), "numerics_version": NUMERICS_VERSION, "data": _data_identity(fingerprint)}


def recorded_identity(info: dict[str, Any]) -> dict[str, Any]:
    """The identity recorded in a run's ``config.json`` content (``data`` is ``None`` for runs that predate
    the data fingerprint; ``numerics_version`` 1 for runs that predate that key)."""
    return {"config": _canonical(_identity_values(info.get("config", {}))), "numerics_version": info.get("numerics_version", 1),
            "data": _data_identity(info.get("data_fingerprint"))}


def identity_key(identity: dict[str, Any]) -> str:
    """8 hex digits of the SHA-256 of the identity (canonical JSON)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]


def _source_name(source: dict[str, Any]) -> str:
    if "file" in source:
        return source["file"]
    return f"{source['name']} ({source.get('config') or 'default'}, {source['split']})"


def _data_differences(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[str]:
    if old is None or new is None:
        return [] if old == new else ["data fingerprint (not recorded there: the run predates it)"]
    out = []
    old_sources = {(s["role"], _source_name(s)): s for s in old["sources"]}
    new_sources = {(s["role"], _source_name(s)): s for s in new["sources"]}
    for key, source in new_sources.items():
        if key not in old_sources:
            out.append(f"data: {key[0]} data {key[1]} is new")
        elif old_sources[key] != source:
            was, now = old_sources[key], source
            detail = (f"sha256 {was['sha256'][:12]}… there, {now['sha256'][:12]}… now" if "sha256" in now
                      else f"fingerprint {was.get('fingerprint')} there, {now.get('fingerprint')} now")
            out.append(f"data: {key[0]} data {key[1]} changed ({detail})")
    out += [f"data: {role} data {name} is no longer used" for role, name in old_sources if (role, name) not in new_sources]
    if old["examples"]["train"] != new["examples"]["train"]:
        out.append("data: the training examples drawn differ")
    for split, what in (("eval", "evaluation"), ("test", "test")):
        old_split, new_split = old["examples"].get(split, {}), new["examples"].get(split, {})
        for lang in sorted(set(old_split) | set(new_split)):
            if old_split.get(lang) != new_split.get(lang):
                out.append(f"data: the {lang} {what} examples differ")
    return out


def identity_differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Why two identities differ, one phrase per difference (empty when they are the same)."""
    out = []
    old_config, new_config = recorded["config"], current["config"]
    for key in sorted(set(old_config) | set(new_config)):
        if old_config.get(key) != new_config.get(key):
            out.append(f"config {key} ({old_config.get(key)!r} there, {new_config.get(key)!r} now)")
    if recorded["numerics_version"] != current["numerics_version"]:
        out.append(f"numerics_version ({recorded['numerics_version']} there, {current['numerics_version']} "
                   "in this code)")
    return out + _data_differences(recorded["data"], current["data"])


def identity_mismatch(run_dir: str | Path, identity: dict[str, Any]) -> list[str] | None:
    """``None`` when ``run_dir`` holds no run (no ``config.json``), else how its recorded identity
    differs from ``identity`` (empty: the same run)."""
    files = RunFiles(run_dir)
    if not files.config.is_file():
        return None
    return identity_differences(recorded_identity(read_json(files.config)), identity)


def keyed_run_dir(run_dir: str | Path, identity: dict[str, Any]) -> tuple[Path, list[str]]:
    """Where a run of ``identity`` goes when its natural folder is ``run_dir``.

    Returns:
        ``(run_dir, [])`` when ``run_dir`` is free or holds this very run; else
        ``(run_dir-<key>, reasons)``: the run is made anew under its own key (a finished run there is
        reused), and ``reasons`` say how the run in ``run_dir`` differs.
    """
    run_dir = Path(run_dir)
    reasons = identity_mismatch(run_dir, identity)
    if not reasons:
        return run_dir, []
    return run_dir.with_name(f"{run_dir.name}-{identity_key(identity)}"), reasons
