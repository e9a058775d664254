"""Recipes: one YAML file per paper figure or table (``analyses/*.yaml``), run with ``xprobe run``.

Context:
    A reader of a paper that used the toolkit should re-make any figure or table with one command, at the
    paper's scale on a GPU or at a small scale on a laptop. A recipe names the artefacts it produces, the
    runs behind them (as the steps a user would type: ``train``, ``sweep``, ``cka``, ``select``,
    ``compare``) and two scales of training settings; :func:`run_recipe` runs the steps for every task of
    the chosen scale (finished runs are reused, unfinished ones resumed) and then draws the artefacts.

Format (``yaml.safe_load``)::

    recipe: 1                        # format version
    title: Figure 3 ...
    produces: [fig3-layers]          # artefact names (xlingual_probe.plots.artefacts.ARTEFACTS)
    scales:                          # demo (minutes on a CPU) and at least one other: paper, or measured
      paper:
        seeds: [1, 2, 3, 4]
        num_layers: 12               # the model's depth, so a plan needs no download (optional)
        train: {model: xlm-roberta-base, lr: 5.0e-6, ...}     # TrainConfig values of every run
        tasks: {xnli: {}, mlqa: {lr: 3.0e-5}, panx: {policy: {policy_iv: "off"}}}  # per task: TrainConfig
                                     # values, and policy settings of its policy runs
        policy: {window: 50}         # slow-and-fast settings of this scale's policy runs (optional)
        vary: {few_shot: [0, 5]}     # fewer values for the steps' vary lists of these keys (optional)
    steps:                           # run in order, once per task; "{task}" in a path is the task
      - sweep: {out: "sweep-{task}", experiments: [reinit, freeze]}
      - compare: {out: "compare-{task}-M{few_shot}", methods: [direct, slowfast], vary: {few_shot: [0, 5]}}

Step options: ``out`` (relative to the recipe's output folder), ``train`` (more TrainConfig values),
``seeds`` (this step's own seeds), ``vary`` (``{option: [values]}``: the step once per value; a TrainConfig field, a slow-and-fast
hyper-parameter or a step option), and per kind:

    train     method, sets and policy_iv (policy methods), c1, c2, r, window, threshold, cka (attach the
              CKA probe: true / false)
    cka       (a DF run with the CKA probe)
    sweep     experiments, layers, include_embeddings, bottom_set, top_set, last_k, lr_factor
    select    sweep, cka (paths relative to the output folder)
    compare   methods, sets, policy_iv, noise_lambda, which, alpha, and c1, c2, r, window, threshold

``--set KEY=VALUE`` overrides a TrainConfig value of every run (e.g. a local ``model`` folder, ``data_dir``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xlingual_probe.experiments.compare import CompareConfig, compare_methods, parse_methods
from xlingual_probe.experiments.executor import Executor, SequentialExecutor
from xlingual_probe.experiments.methods import method_values, needs_sets, resolve_sets
from xlingual_probe.experiments.seeds import run_seeds
from xlingual_probe.experiments.sweep import SweepConfig, run_sweep, sweep_configs
from xlingual_probe.plots.artefacts import ARTEFACTS, BuildResult, build_artefacts
from xlingual_probe.selection import select_from_sweep
from xlingual_probe.training.config import TrainConfig
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import read_mapping_file

__all__ = ["PlannedStep", "Recipe", "load_recipe", "plan_recipe", "run_recipe"]

RECIPE_VERSION = 1
POLICY_KEYS = ("c1", "c2", "r", "window", "threshold", "phase_mode")
STEP_OPTIONS = {
    "train": {"method", "sets", "cka", "policy_iv", *POLICY_KEYS},
    "cka": set(),
    "sweep": {"experiments", "layers", "include_embeddings", "bottom_set", "top_set", "last_k", "lr_factor"},
    "select": {"sweep", "cka"},
    "compare": {"methods", "sets", "policy_iv", "noise_lambda", "which", "alpha", *POLICY_KEYS},
}
COMMON_OPTIONS = {"out", "train", "vary", "seeds"}


@dataclass
class Recipe:
    """A parsed recipe file (see the module docstring)."""

    path: Path
    title: str
    produces: list[str]
    scales: dict[str, dict[str, Any]]
    steps: list[tuple[str, dict[str, Any]]]

    @property
    def name(self) -> str:
        """The file's stem, or its folder's name for ``<analysis>/recipe.yaml``."""
        return self.path.parent.name if self.path.stem == "recipe" else self.path.stem


@dataclass
class PlannedStep:
    """One step for one task and one ``vary`` value: what it runs and how many fine-tuning runs."""

    kind: str
    task: str
    out: Path
    train: dict[str, Any]
    options: dict[str, Any]
    seeds: list[int]
    runs: int
    describe: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _fail(path: Path, message: str) -> UserError:
    return UserError(f"recipe {path}: {message}")


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a recipe file.

    Raises:
        UserError: a missing file, another format version, unknown artefacts, scales, step kinds or options.
    """
    path = Path(path)
    data = read_mapping_file(path, "recipe")
    if data.get("recipe") != RECIPE_VERSION:
        raise _fail(path, f"needs 'recipe: {RECIPE_VERSION}' (the format version)")
    produces = list(data.get("produces") or [])
    unknown = [p for p in produces if p not in ARTEFACTS]
    if unknown:
        raise _fail(path, f"unknown artefact(s) {', '.join(unknown)}; choose from {', '.join(ARTEFACTS)}")
    scales = data.get("scales") or {}
    if "demo" not in scales or len(scales) < 2:
        raise _fail(path, f"needs a demo scale and at least one other (paper, measured); has {', '.join(map(str, scales))}")
    for name, scale in scales.items():
        if not isinstance(scale, dict) or not scale.get("seeds") or not isinstance(scale.get("tasks"), dict):
            raise _fail(path, f"scale {name!r} needs seeds and tasks")
        bad = sorted(set(scale.get("policy") or {}) - set(POLICY_KEYS))
        if bad:
            raise _fail(path, f"scale {name!r}: unknown policy option(s) {', '.join(bad)}")
        _check_train(path, scale.get("train") or {}, f"scale {name}")
        for task, values in scale["tasks"].items():
            values = dict(values or {})
            bad = sorted(set(values.pop("policy", None) or {}) - {*POLICY_KEYS, "policy_iv"})
            if bad:
                raise _fail(path, f"scale {name}, task {task}: unknown policy option(s) {', '.join(bad)}")
            _check_train(path, values, f"scale {name}, task {task}")
    steps = []
    for i, entry in enumerate(data.get("steps") or []):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise _fail(path, f"step {i + 1} must be one mapping like 'sweep: {{...}}'")
        (kind, options), = entry.items()
        options = dict(options or {})
        if kind not in STEP_OPTIONS:
            raise _fail(path, f"step {i + 1}: unknown kind {kind!r}; choose from {', '.join(STEP_OPTIONS)}")
        if "out" not in options:
            raise _fail(path, f"step {i + 1} ({kind}) needs out")
        known = STEP_OPTIONS[kind] | COMMON_OPTIONS | set(TrainConfig.field_names())
        bad = sorted(set(options) - known)
        if bad:
            raise _fail(path, f"step {i + 1} ({kind}): unknown option(s) {', '.join(bad)}")
        for key in (options.get("vary") or {}):
            if key not in known | set(POLICY_KEYS):
                raise _fail(path, f"step {i + 1} ({kind}): cannot vary {key!r}")
        _check_train(path, options.get("train") or {}, f"step {i + 1}")
        steps.append((kind, options))
    if not steps:
        raise _fail(path, "has no steps")
    return Recipe(path, str(data.get("title") or path.stem), produces, scales, steps)


def _check_train(path: Path, values: dict[str, Any], where: str) -> None:
    bad = sorted(set(values) - TrainConfig.field_names())
    if bad:
        raise _fail(path, f"{where}: unknown training option(s) {', '.join(bad)}")


def _expand(options: dict[str, Any], shorter: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The step once per combination of its ``vary`` values (``{key: value}`` per combination); the scale's
    ``vary`` (``shorter``) replaces the values of the keys it names."""
    vary = {k: shorter.get(k, v) for k, v in (options.get("vary") or {}).items()}
    keys = list(vary)
    return [dict(zip(keys, values)) for values in itertools.product(*(list(vary[k]) for k in keys))] or [{}]


def _format(template: str, values: dict[str, Any]) -> str:
    try:
        return template.format(**{k: (f"{v:g}" if isinstance(v, float) else v) for k, v in values.items()})
    except KeyError as exc:
        raise UserError(f"recipe: unknown name {exc} in {template!r}") from None


def _num_layers(scale: dict[str, Any], train: dict[str, Any]) -> int:
    if scale.get("num_layers"):
        return int(scale["num_layers"])
    from xlingual_probe.models.units import count_layers

    return count_layers(train["model"], bool(train.get("trust_remote_code")))


def plan_recipe(recipe: Recipe, scale: str, out: str | Path, overrides: dict[str, Any] | None = None
                ) -> list[PlannedStep]:
    """Every step for every task and ``vary`` value, with its resolved training values and run count.

    Raises:
        UserError: an unknown scale.
    """
    if scale not in recipe.scales:
        raise UserError(f"unknown --scale {scale!r}; choose from {', '.join(recipe.scales)}")
    config = recipe.scales[scale]
    seeds = [int(s) for s in config["seeds"]]
    planned = []
    for task, task_values in config["tasks"].items():
        task_values = dict(task_values or {})
        task_policy = task_values.pop("policy", None) or {}
        for kind, options in recipe.steps:
            for varied in _expand(options, config.get("vary") or {}):
                train = {**(config.get("train") or {}), "task": task, **task_values,
                         **(options.get("train") or {}), **(overrides or {})}
                step_opts = {k: v for k, v in options.items() if k not in COMMON_OPTIONS}
                for key, value in varied.items():
                    target = train if key in TrainConfig.field_names() else step_opts
                    target[key] = value
                if kind in ("train", "compare"):  # policy settings: the scale's, the task's, then the step's
                    step_opts = {**(config.get("policy") or {}), **task_policy, **step_opts}
                names = {"task": task, **varied}
                step_seeds = [int(x) for x in options.get("seeds") or seeds]
                step = PlannedStep(kind, task, Path(out) / _format(options["out"], names), train, step_opts,
                                   step_seeds, 0)
                step.runs = _count_runs(step, config)
                step.describe = _describe(step)
                planned.append(step)
    return planned


def _count_runs(step: PlannedStep, scale: dict[str, Any]) -> int:
    seeds = len(step.seeds)
    if step.kind in ("train", "cka"):
        return seeds
    if step.kind == "compare":  # (with --sets auto, plus the sweep that selects the sets)
        return len(parse_methods(step.options.get("methods", "direct,noisytune,slowfast"))) * seeds
    if step.kind == "sweep":
        # distinct configs (the baseline is shared); counted without reading any data, so a dry run works offline
        configs = sweep_configs(_sweep_config(step), _num_layers(scale, step.train))
        return len({json.dumps(c.to_dict(), sort_keys=True) for _, c in configs})
    return 0


def _describe(step: PlannedStep) -> str:
    updates = step.train.get("max_steps")
    budget = f"{updates} updates" if updates else f"{step.train.get('epochs', 1)} epochs"
    what = {"train": f"train {step.options.get('method', 'direct')}", "cka": "train direct with the CKA probe",
            "sweep": "layer sweep " + ",".join(map(str, step.options.get("experiments", ["all"]))),
            "select": "select the weight sets", "compare": "compare " + ",".join(
                parse_methods(step.options.get("methods", "direct,noisytune,slowfast")))}[step.kind]
    runs = "" if step.kind == "select" else f": {step.runs} runs × {budget}"
    return f"{step.task}: {what} → {step.out}{runs}"


def _sweep_config(step: PlannedStep) -> SweepConfig:
    opts = {k: v for k, v in step.options.items() if k in STEP_OPTIONS["sweep"]}
    if "experiments" in opts and not isinstance(opts["experiments"], list):
        opts["experiments"] = [str(opts["experiments"])]
    train = {k: v for k, v in step.train.items() if k not in ("out", "seed")}
    return SweepConfig(train=train, out=str(step.out), seeds=step.seeds, **opts)


def _policy(options: dict[str, Any]) -> dict[str, Any]:
    return {k: options[k] for k in POLICY_KEYS if options.get(k) is not None}


def _run_step(step: PlannedStep, root: Path, executor: Executor) -> None:
    train = {k: v for k, v in step.train.items() if k not in ("out", "seed")}
    if step.kind in ("train", "cka"):
        method = "direct" if step.kind == "cka" else str(step.options.get("method", "direct"))
        selection = None
        if needs_sets([method]):
            selection = resolve_sets(str(step.options.get("sets", "paper")), train, step.seeds,
                                     step.out.parent / f"{step.out.name}-selection", executor=executor)
        train.update(method_values(method, selection, policy=_policy(step.options),
                                   policy_iv=_policy_iv(step.options.get("policy_iv", "auto"))))
        probe = {} if step.kind == "cka" or step.options.get("cka") else None
        run_seeds(train, step.seeds, step.out, resume=True, cka_probe=probe, executor=executor)
    elif step.kind == "sweep":
        run_sweep(_sweep_config(step), executor=executor)
    elif step.kind == "select":
        cka = [root / _format(str(c), {"task": step.task}) for c in _as_list(step.options.get("cka"))]
        select_from_sweep(root / _format(str(step.options["sweep"]), {"task": step.task}), cka, out_dir=step.out)
    elif step.kind == "compare":
        compare_methods(CompareConfig(
            train=train, out=str(step.out), seeds=step.seeds,
            methods=_as_list(step.options.get("methods", "direct,noisytune,slowfast")),
            sets=str(step.options.get("sets", "paper")), policy=_policy(step.options),
            policy_iv=_policy_iv(step.options.get("policy_iv", "auto")),
            **{k: step.options[k] for k in ("noise_lambda", "which", "alpha") if k in step.options}),
            executor=executor)


def _policy_iv(value: Any) -> str:
    """``auto``, ``on`` or ``off``; YAML reads an unquoted on / off as a boolean."""
    return {True: "on", False: "off"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def run_recipe(recipe: Recipe, scale: str, out: str | Path, *, overrides: dict[str, Any] | None = None,
               executor: Executor | None = None, log: Callable[[str], None] = print,
               show_progress: bool = True) -> BuildResult:
    """Run every step of ``recipe`` at ``scale`` into ``out`` (reusing finished runs), then draw its artefacts
    into ``out/figures``.

    Args:
        recipe: the recipe (:func:`load_recipe`).
        scale: ``paper`` or ``demo``.
        out: the output folder.
        overrides: TrainConfig values that replace the recipe's in every run (``--set``).
        executor: how the runs are carried out (default: one after the other in this process); runs
            that fail stay in its ``failures`` for the caller to report
            (:meth:`~xlingual_probe.experiments.executor.Executor.raise_for_failures`).
        log: where progress lines go.
        show_progress: progress bars.

    Returns:
        The artefacts drawn (and the ones skipped, with the reason).
    """
    out = Path(out)
    executor = executor or SequentialExecutor(show_progress=show_progress, log=log)
    planned = plan_recipe(recipe, scale, out, overrides)
    for i, step in enumerate(planned, start=1):
        log(f"[step {i}/{len(planned)}] {step.describe}")
        _run_step(step, out, executor)
    return build_artefacts([out], out / "figures", only=recipe.produces)
