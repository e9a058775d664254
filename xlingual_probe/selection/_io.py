"""The selection file: presets, reading a hand-written file, writing ``selection.json`` and ``selection.md``.

``selection.json`` is the contract between ``xprobe select`` (or ``compare --sets auto``) and the
slow-and-fast methods (``train slowfast --sets FILE``, ``compare --sets FILE``)::

    schema_version  1
    source          "auto" (from a sweep), "alignment" (from DF runs with the alignment probe,
                    ``selection._alignment``), "paper" (the preset) or "file" (hand-written)
    num_layers      the model's layer count (absent in a hand-written file: not checked then)
    sets            {"S_I", "S_II", "V_I", "V_II"}: unit strings (``models.units`` syntax, e.g.
                    "0-9", "0-3:ffn", "0,2,3:ffn"); ``null`` = empty set
    policy_iv       whether policy IV (V_II × c2 in phase 2) is on
    components      {"S_II", "V_II"}: the chosen component (``attention`` / ``ffn``) or null
    rule            auto only: ``paired`` (the default) or ``delta``, the rule that chose the sets
    margins         auto only: rule, metric, baseline, baseline_std, baseline_seeds, and
                    paired: alpha, min_effect, harmless_margin, min_cka_effect, families
                    ({family: experiments pooled, nu, df, sd of the paired differences});
                    delta: delta, sigma (null with one seed), margin_sigmas, min_margin
    options         auto only: the SelectionOptions used
    evidence        auto only: {"S_I", "S_II", "V_I", "components"} (and paired: "families", every
                    group / ×10-lr / last-k experiment against DF), rows of experiment, unit,
                    component, value ("mean ± std" of the score), n (seeds; paired: pairs with DF),
                    decision, and paired: family, mean_diff (vs DF; components: ffn − attention),
                    ci (two-sided 1 − alpha), p (one-sided in the direction tested; V_I: of "the
                    drop is at least harmless_margin"; components and families: two-sided), p_holm,
                    bound (V_I: upper 1 − alpha bound of the drop), variance (``pooled``, or ``own``
                    for an experiment far noisier than its family), why; delta: mean, std, delta
                    (vs baseline); "policy_iv": the CKA test (see ``selection._cka``); from
                    alignment: "alignment" (one row per layer, see ``selection._alignment``)
    notes           degenerate cases and choices made for the reader (empty / overlapping sets,
                    one seed, missing experiments, contradictory evidence)

A hand-written file (YAML or JSON) needs only ``sets`` (and optionally ``policy_iv``, default on).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from xlingual_probe.models.units import split_unit
from xlingual_probe.reporting import markdown_table
from xlingual_probe.runs import summarise_sweep
from xlingual_probe.selection._rules import SCHEMA_VERSION, unit_string
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import atomic_write_json, atomic_write_text, read_json, read_mapping_file

SET_NAMES = ("S_I", "S_II", "V_I", "V_II")
SOURCES = ("auto", "alignment", "paper", "file")


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def paper_selection(num_layers: int) -> dict[str, Any]:
    """The paper's preset: exact for 12 layers, scaled for other depths.

    12 layers: S_I = 0–9, S_II = ffn of 0–3, V_I = 10–11, V_II = attention of 10–11, policy IV on.
    L layers: V_I = the top round(L/6) layers, S_I = the rest, S_II = ffn of the bottom round(L/3)
    (rounding half up, each at least one layer).

    >>> paper_selection(12)["sets"]
    {'S_I': '0-9', 'S_II': '0-3:ffn', 'V_I': '10-11', 'V_II': '10-11:attention'}
    >>> paper_selection(24)["sets"]
    {'S_I': '0-19', 'S_II': '0-7:ffn', 'V_I': '20-23', 'V_II': '20-23:attention'}

    Raises:
        UserError: fewer than 2 layers (S_I and V_I need one each).
    """
    if num_layers < 2:
        raise UserError(f"the paper preset needs at least 2 layers (the model has {num_layers})")
    top = max(1, _round_half_up(num_layers / 6))
    bottom = min(max(1, _round_half_up(num_layers / 3)), num_layers - top)
    s1, s2, v1 = list(range(num_layers - top)), list(range(bottom)), list(range(num_layers - top, num_layers))
    notes = [] if num_layers == 12 else [
        (f"the paper's preset is for 12 layers; scaled to {num_layers}: V_I = top round(L/6) = {top}, "
         f"S_II = ffn of the bottom round(L/3) = {bottom}, S_I = the other {num_layers - top} layers")]
    return {"schema_version": SCHEMA_VERSION, "source": "paper", "num_layers": num_layers,
            "sets": {"S_I": unit_string(s1, None), "S_II": unit_string(s2, "ffn"), "V_I": unit_string(v1, None),
                     "V_II": unit_string(v1, "attention")},
            "policy_iv": True, "components": {"S_II": "ffn", "V_II": "attention"}, "margins": None,
            "evidence": {}, "notes": notes}


def _atoms(unit: str, num_layers: int) -> set[tuple[Any, str]]:
    """The (layer, component) cells a unit covers, so subset and overlap checks are set operations."""
    kind, layers, component = split_unit(unit, num_layers)
    if kind != "layers":
        return {(kind, "all")}
    parts = ("attention", "ffn") if component == "all" else (component,)
    return {(layer, part) for layer in layers for part in parts}


def check_sets(sets: dict[str, str | None], num_layers: int, where: str = "the selection") -> None:
    """Raise UserError unless the units parse, S_II ⊆ S_I, V_II ⊆ V_I and S_I ∩ V_I = ∅."""
    atoms = {}
    for name in SET_NAMES:
        unit = sets.get(name)
        try:
            atoms[name] = _atoms(unit, num_layers) if unit else set()
        except UserError as exc:
            raise UserError(f"{where}: set {name} = {unit!r}: {exc}") from None
    for inner, outer in (("S_II", "S_I"), ("V_II", "V_I")):
        if not atoms[inner] <= atoms[outer]:
            raise UserError(f"{where}: {inner} ({sets.get(inner)}) must lie inside {outer} ({sets.get(outer)})")
    if atoms["S_I"] & atoms["V_I"]:
        raise UserError(f"{where}: S_I ({sets.get('S_I')}) and V_I ({sets.get('V_I')}) must be disjoint")


def _component(unit: str | None) -> str | None:
    if not unit:
        return None
    _, _, component = unit.partition(":")
    return component or "all"


def read_selection(path: str | Path, num_layers: int | None = None) -> dict[str, Any]:
    """Read and validate a selection file (YAML or JSON): ``sets`` (required), ``policy_iv`` (default on).

    Args:
        path: the file.
        num_layers: the model's layer count; when given, the units and the set relations are checked.

    Returns:
        The selection in the ``selection.json`` schema (``source`` kept for files written by
        ``xprobe select``, else ``file``; ``path`` added).

    Raises:
        UserError: a missing or unreadable file, unknown keys or set names, a set that is not a
            unit string, a wrong layer count, or sets that break S_II ⊆ S_I, V_II ⊆ V_I, S_I ∩ V_I = ∅.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"selection file not found: {path} (or use --sets paper / --sets auto)")
    data = read_mapping_file(path, "selection file")
    if "sets" not in data:
        raise UserError(f"selection file {path} must be a mapping with a 'sets' key, e.g. "
                        "sets: {S_I: 0-9, S_II: 0-3:ffn, V_I: 10-11, V_II: 10-11:attention}")
    known = {"schema_version", "source", "rule", "num_layers", "sets", "policy_iv", "components", "margins", "options",
             "evidence", "notes", "path", "sweep"}
    unknown = sorted(set(map(str, data)) - known)
    if unknown:
        raise UserError(f"selection file {path}: unknown key(s) {', '.join(unknown)}; expected sets, policy_iv")
    sets = data["sets"]
    if not isinstance(sets, dict):
        raise UserError(f"selection file {path}: 'sets' must map S_I, S_II, V_I, V_II to unit strings")
    bad = sorted(set(map(str, sets)) - set(SET_NAMES))
    if bad:
        raise UserError(f"selection file {path}: unknown set(s) {', '.join(bad)}; use {', '.join(SET_NAMES)}")
    clean: dict[str, str | None] = {}
    for name in SET_NAMES:
        value = sets.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # YAML reads `V_I: 11` as a number
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise UserError(f"selection file {path}: {name} must be a unit string like '0-3:ffn' or null, "
                            f"not {value!r}")
        clean[name] = value.strip() if isinstance(value, str) else None
    policy_iv = data.get("policy_iv", True)
    if not isinstance(policy_iv, bool):
        raise UserError(f"selection file {path}: policy_iv must be true or false, not {policy_iv!r}")
    file_layers = data.get("num_layers")
    if file_layers is not None and (isinstance(file_layers, bool) or not isinstance(file_layers, int)):
        raise UserError(f"selection file {path}: num_layers must be an integer, not {file_layers!r}")
    if num_layers is not None and file_layers is not None and file_layers != num_layers:
        raise UserError(f"selection file {path} was made for {file_layers} layers; the model has {num_layers}")
    if (num_layers or file_layers) is not None:
        check_sets(clean, num_layers or file_layers, where=f"selection file {path}")
    source = data.get("source") if data.get("source") in ("auto", "alignment", "paper") else "file"
    return {"schema_version": SCHEMA_VERSION, "source": source, "num_layers": file_layers or num_layers,
            "sets": clean, "policy_iv": policy_iv,
            "components": {"S_II": _component(clean["S_II"]), "V_II": _component(clean["V_II"])},
            "margins": data.get("margins"), "evidence": data.get("evidence") or {},
            "notes": list(data.get("notes") or []), "path": str(path)}


def resolve_selection(spec: str, num_layers: int) -> dict[str, Any]:
    """The selection named by ``--sets``: ``paper`` or a file path (``auto`` needs a sweep:
    :func:`xlingual_probe.experiments.auto_selection.auto_selection`).

    >>> resolve_selection("paper", 12)["sets"]["V_II"]
    '10-11:attention'
    """
    if spec == "paper":
        return paper_selection(num_layers)
    if spec == "auto":
        raise UserError("--sets auto runs a layer sweep: use `xprobe compare --sets auto`, or "
                        "`xprobe probe layers` + `xprobe select` and pass the selection.json")
    return read_selection(spec, num_layers)


def load_sweep_results(sweep_dir: str | Path) -> tuple[pd.DataFrame, int | None]:
    """The sweep's result rows and layer count: from its runs (``sweep.json``) or its ``results.csv``."""
    sweep_dir = Path(sweep_dir)
    if (sweep_dir / "sweep.json").is_file():
        return summarise_sweep(sweep_dir), read_json(sweep_dir / "sweep.json").get("num_layers")
    if (sweep_dir / "results.csv").is_file():
        return pd.read_csv(sweep_dir / "results.csv", dtype={"unit": str, "component": str}), None
    raise UserError(f"not a sweep directory (no sweep.json or results.csv): {sweep_dir}")


def _number(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _evidence_table(rows: list[dict[str, Any]], extra: str | None = None, alpha: float = 0.05,
                    empty: str = "_no runs_") -> str:
    if not rows:
        return empty + "\n"
    if "mean_diff" not in rows[0]:  # the delta rule's rows
        columns = ["experiment", "unit", "component", "value", "delta", "n", "decision"] + ([extra] if extra else [])
        frame = pd.DataFrame(rows).reindex(columns=columns)
        frame["delta"] = frame["delta"].map(lambda v: f"{v:+.2f}")
        frame = frame.rename(columns={"value": "overall (mean ± std)", "delta": "Δ vs DF", "n": "seeds"})
        return markdown_table(frame) + "\n"
    ci = f"{1 - alpha:.0%} CI"
    table = [{"experiment": r["experiment"], **({extra: r[extra]} if extra else {}), "score": r["value"],
              "pairs": r["n"], "mean Δ": _number(r["mean_diff"], "+.2f"),
              ci: "—" if r["ci"] is None else f"[{r['ci'][0]:+.2f}, {r['ci'][1]:+.2f}]",
              "p": _number(r["p"], ".3g"), "p (Holm)": _number(r["p_holm"], ".3g"),
              **({"bound": _number(r["bound"], ".2f")} if any(x.get("bound") is not None for x in rows) else {}),
              "decision": r["decision"],
              "why": r["why"] + (" (its own variance)" if r.get("variance") == "own" else "")} for r in rows]
    frame = pd.DataFrame(table).rename(columns={"bound": "drop ≤ (upper bound)"})
    return markdown_table(frame) + "\n"


def _margins_text(margins: dict[str, Any]) -> list[str]:
    base = (f"Baseline (DF, {margins['metric']} overall): {margins['baseline']:.2f} over "
            f"{margins['baseline_seeds']} seed(s).")
    if margins.get("rule", "delta") == "delta":
        sigma = "undefined (one seed)" if margins.get("sigma") is None else f"{margins['sigma']:.3f}"
        return [(f"Rule: delta. {base} Pooled σ = {sigma}; δ = max({margins['margin_sigmas']:g}σ, "
                f"{margins['min_margin']:g}) = {margins['delta']:.3f} points."), ""]
    lines = [(f"Rule: paired (per-seed differences to DF, variance pooled per family by a median, one-sided "
              f"t-tests Holm-corrected per family at α = {margins['alpha']:g}). {base} S_I / S_II need a drop / "
              f"gain of at least {margins['min_effect']:g} points; V_I needs the upper {1 - margins['alpha']:.0%} "
              f"bound of the drop below {margins['harmless_margin']:g} point(s); policy IV needs a mean CKA fall of "
              f"at least {margins['min_cka_effect']:g}."), "",
             "| family | experiments pooled | ν | df (t reference) | σ̂ of the differences |", "|---|---|---|---|---|"]
    for family, pool in margins.get("families", {}).items():
        lines.append(f"| {family} | {pool['experiments']} | {pool['nu']} | {_number(pool['df'], '.1f')} | "
                     f"{_number(pool['sd'], '.3f')} |")
    return lines + [""]


def _policy_iv_lines(cka: dict[str, Any]) -> list[str]:
    lines = ["## Policy IV (CKA of V_I in phase 2)", "", f"Decision: {cka.get('decision')}. {cka.get('reason', '')}".strip(),
             ""]
    if cka.get("slopes"):
        slopes = ", ".join(f"{s:.3g}" for s in cka["slopes"])
        lines += [f"Per-seed slopes (per update): {slopes}; mean fall over phase 2 {cka['mean_fall']:.3f}"
                  + (f"; t = {cka['t']:.3g}, df = {cka['df']}, p = {cka['p']:.3g}." if cka.get("p") is not None
                     else "."), ""]
    elif cka.get("slope") is not None:
        lines += [(f"Linear fit over {len(cka['points'])} point(s) from {len(cka['runs'])} run(s): slope "
                  f"{cka['slope']:.4g} per update, p = {cka['p']:.4g}, r = {cka['r']:.3f}."), ""]
    lines += [f"- {how}" for how in (cka.get("phase2") or {}).values()]
    return lines + [""]


def selection_markdown(selection: dict[str, Any]) -> str:
    """``selection.md``: the decisions, the margins, the notes and the evidence table of each decision."""
    sets = selection["sets"]
    lines = [f"# Weight-set selection ({selection['source']})", ""]
    if selection.get("sweep"):
        lines += [f"Sweep: `{selection['sweep']}`", ""]
    lines += ["| set | unit | meaning |", "|---|---|---|"]
    meaning = {"S_I": "slowed in phase 1 (policy I)", "S_II": "R(φ) in phase 2 (policy II)",
               "V_I": "never slowed (policy III)", "V_II": "× c2 in phase 2 (policy IV)"}
    lines += [f"| {name} | {sets.get(name) or '(empty)'} | {meaning[name]} |" for name in SET_NAMES]
    lines += ["", f"Policy IV: **{'on' if selection['policy_iv'] else 'off'}**", ""]
    margins = selection.get("margins")
    if margins:
        lines += _margins_text(margins)
    if selection.get("notes"):
        lines += ["## Notes", ""] + [f"- {note}" for note in selection["notes"]] + [""]
    evidence = selection.get("evidence") or {}
    alpha = (margins or {}).get("alpha", 0.05)
    titles = {"S_I": "S_I: re-initialise each layer", "S_II": "S_II: freeze each layer",
              "V_I": "V_I: re-initialise each layer (top block)", "components": "Components (group-freeze, lr-x10)",
              "families": "Group, ×10 learning rate and last-k experiments against DF (reference)"}
    for key, title in titles.items():
        if key in evidence:
            empty = "_no component chosen: the set is empty or its experiments are missing_" if key == "components" \
                else "_no runs_"
            lines += [f"## {title}", "", _evidence_table(evidence[key], "for" if key == "components" else None, alpha,
                                                         empty)]
    if evidence.get("alignment"):
        table = pd.DataFrame(evidence["alignment"]).astype(object)
        table = table.map(lambda v: "n/a" if pd.isna(v) else f"{v:.3g}" if isinstance(v, float) else v)
        lines += ["## Alignment per layer (before fine-tuning, at the end, lost; test across seeds)", "",
                  markdown_table(table), ""]
    if evidence.get("policy_iv"):
        lines += _policy_iv_lines(evidence["policy_iv"])
    return "\n".join(lines).rstrip() + "\n"


def inactive_policies(selection: dict[str, Any]) -> str | None:
    """A sentence naming the policies that act on nothing with these sets, or None when all can act.

    Policies I and II act on S_I and S_II (phase 1 and 2), policy IV on V_II in phase 2 when on; policy
    III only keeps V_I at K = 1, so it never changes a multiplier (SPEC "Slow-and-fast fine-tuning").

    >>> inactive_policies({"sets": {"S_I": "0", "S_II": None, "V_I": None, "V_II": None}, "policy_iv": False})
    'policies II (S_II is empty), IV (off) act on nothing; the policy methods run anyway'
    >>> inactive_policies(paper_selection(12)) is None
    True
    """
    sets = selection["sets"]
    idle = [f"{name} ({why})" for name, why in (
        ("I", "S_I is empty" if not sets.get("S_I") else None),
        ("II", "S_II is empty" if not sets.get("S_II") else None),
        ("IV", "off" if not selection.get("policy_iv") else ("V_II is empty" if not sets.get("V_II") else None)),
    ) if why]
    if not idle:
        return None
    if len(idle) == 3:
        return ("every policy acts on nothing (" + "; ".join(idle) + "): slow-and-fast, FS and FF equal DF by "
                "construction; they run anyway")
    return f"polic{'ies' if len(idle) > 1 else 'y'} {', '.join(idle)} act{'' if len(idle) > 1 else 's'} on nothing; " \
           "the policy methods run anyway"


def write_selection(selection: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``selection.json`` and ``selection.md`` into ``out_dir``."""
    out_dir = Path(out_dir)
    paths = {"json": out_dir / "selection.json", "md": out_dir / "selection.md"}
    atomic_write_json(paths["json"], selection)
    atomic_write_text(paths["md"], selection_markdown(selection))
    return paths
