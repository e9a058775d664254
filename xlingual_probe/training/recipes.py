"""Recipes: the per-task training hyper-parameters a run starts from (``--recipe paper|xtreme``).

Context:
    The same toolkit serves two reference protocols that disagree: the XTREME benchmark's scripts
    (Hu et al., 2020) and the slow-and-fast paper's Appendix B (Guo et al., 2023), and it must also
    learn out of the box on the synthetic tasks. A recipe names one consistent set of values so a
    run says which protocol it followed; ``config.json`` records the name (``config.recipe``) and
    the recipe's values next to what the run actually used (:func:`recipe_record`).

Method:
    Every task has a *default recipe*: ``xtreme`` for the benchmark tasks and ``synthetic`` for the
    synthetic ones. ``--recipe paper`` or ``--recipe xtreme`` picks another one. Values are resolved
    with this precedence (:func:`apply_recipe`)::

        flag  >  --config file  >  recipe (--recipe, else the task's default recipe)  >  TrainConfig default

    The training length and the warm-up are each set by one of two options, one overriding the other
    (``max_steps`` over ``epochs``; ``warmup_steps`` over ``warmup_ratio``): when the user sets the
    weaker one, the recipe's stronger one is dropped, so ``--epochs 2`` is not silently overruled by
    a recipe's ``max_steps``, nor ``--warmup-ratio`` by XTREME's 500 warm-up steps for QA.

Sources (every recipe lists the full set of :data:`RECIPE_FIELDS`, so no value leaks from another):
    * ``xtreme``: ``google-research/xtreme`` ``scripts/train_xnli.sh`` (and ``train_pawsx.sh``, same
      values; used for bring-your-own classification), ``scripts/train_panx.sh`` and
      ``scripts/train_qa.sh``, with the defaults of ``third_party/run_classify.py`` / ``run_tag.py``
      (no warm-up, no weight decay) and ``run_squad.py`` as called by ``train_qa.sh`` (500 warm-up
      steps, weight decay 1e-4, doc stride 128). The scripts' batch is 8 (QA: 4) per GPU × 4 (QA: 8)
      accumulation steps = 32; the checkpoint is selected on the English dev set (``select_by=source``:
      here its selection half, :mod:`~xlingual_probe.training.model_selection`).
    * ``paper``: Appendix B of the paper: batch 32, Adam with warm-up and decay, lr 5e-6 (as printed),
      XNLI 10 epochs, NER 20 epochs; MLQA/QA lr 3e-5, batch 12, 2 epochs; model selection by the mean
      over all languages' dev sets (``select_by=overall``: here their selection halves; it uses
      target-language data). What the
      paper does not state is filled in and said here: warm-up 10% of the updates (BERT's SQuAD
      setting, which the paper follows for QA), no weight decay, max length 128 (XTREME's, which the
      paper follows) and 384 for QA.
    * ``synthetic``: measured on the default 12-layer synthetic world (README, "The synthetic world"):
      lr 5e-4, 400 updates of 32 (QA: 600), evaluation every 50 updates. With no other option, seed
      42: synthetic-nli source 100.0, target mean 81.2 on the reporting halves (numerics version 5);
      measured before the halves (version 4, whole dev sets): synthetic-nli target mean 83.6,
      synthetic-ner 99.9 F1 (67.2), synthetic-qa 54.6 F1 (35.6; it levels off near 58 F1 with more
      updates or lr 1e-3).

>>> r = recipe_values("xnli", "paper")
>>> r["lr"], r["epochs"], r["select_by"]
(5e-06, 10.0, 'overall')
>>> apply_recipe({"task": "xnli", "lr": 1e-5})["lr"], apply_recipe({"task": "xnli"})["recipe"]
(1e-05, 'xtreme')
"""

from __future__ import annotations

from typing import Any

from xlingual_probe.utils.errors import UserError

RECIPE_FIELDS = ("lr", "batch_size", "epochs", "max_steps", "warmup_ratio", "warmup_steps", "weight_decay",
                 "max_length", "select_by", "eval_every")
"""The TrainConfig fields a recipe sets."""

# (stronger, weaker): options that set one quantity, the first overriding the second when both are set
_PAIRS = (("max_steps", "epochs"), ("warmup_steps", "warmup_ratio"))

TASK_FAMILIES = {
    "xnli": "xnli", "classification": "xnli",
    "panx": "ner", "wikiann": "ner",
    "mlqa": "qa", "xquad": "qa", "tydiqa": "qa", "squad-json": "qa",
    "synthetic-nli": "synthetic-nli", "synthetic-ner": "synthetic-ner", "synthetic-qa": "synthetic-qa",
}
"""Which recipe entry a task uses: its benchmark family (bring-your-own classification follows XNLI)."""

_EVAL_EVERY = 100  # the gap-over-time probe's default cadence (SPEC "Probes" 1), for every benchmark recipe


def _benchmark(lr: float, batch: int, epochs: float, max_length: int, select_by: str, *,
               warmup_ratio: float = 0.0, warmup_steps: int | None = None, weight_decay: float = 0.0
               ) -> dict[str, Any]:
    return {"lr": lr, "batch_size": batch, "epochs": float(epochs), "max_steps": None, "warmup_ratio": warmup_ratio,
            "warmup_steps": warmup_steps, "weight_decay": weight_decay, "max_length": max_length,
            "select_by": select_by, "eval_every": _EVAL_EVERY}


def _synthetic(lr: float, max_steps: int) -> dict[str, Any]:
    # max_length None: the synthetic task's own default (128; synthetic-qa 256)
    return {"lr": lr, "batch_size": 32, "epochs": 1.0, "max_steps": max_steps, "warmup_ratio": 0.1,
            "warmup_steps": None, "weight_decay": 0.0, "max_length": None, "select_by": "source", "eval_every": 50}


RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "xtreme": {
        "xnli": _benchmark(2e-5, 32, 5, 128, "source"),
        "ner": _benchmark(2e-5, 32, 10, 128, "source"),
        "qa": _benchmark(3e-5, 32, 3, 384, "source", warmup_steps=500, weight_decay=1e-4),
    },
    "paper": {
        "xnli": _benchmark(5e-6, 32, 10, 128, "overall", warmup_ratio=0.1),
        "ner": _benchmark(5e-6, 32, 20, 128, "overall", warmup_ratio=0.1),
        "qa": _benchmark(3e-5, 12, 2, 384, "overall", warmup_ratio=0.1),
    },
    "synthetic": {
        "synthetic-nli": _synthetic(5e-4, 400),
        "synthetic-ner": _synthetic(5e-4, 400),
        "synthetic-qa": _synthetic(5e-4, 600),
    },
}
"""Recipe name → task family → TrainConfig values (:data:`RECIPE_FIELDS`)."""

RECIPE_SOURCES = {
    "xtreme": "XTREME scripts (google-research/xtreme scripts/train_{xnli,panx,qa}.sh)",
    "paper": "Guo et al. 2023, Appendix B",
    "synthetic": "measured on the 12-layer synthetic world (README)",
}
USER_RECIPES = ("paper", "xtreme")
"""The names ``--recipe`` accepts (``synthetic`` is the synthetic tasks' default, not a choice)."""


def default_recipe(task: str) -> str | None:
    """The recipe a task uses when none is given: ``xtreme`` for benchmarks, ``synthetic`` for synthetic tasks,
    ``None`` for a task without a recipe (a user-registered task: TrainConfig's defaults apply)."""
    family = TASK_FAMILIES.get(task)
    if family is None:
        return None
    return "synthetic" if family.startswith("synthetic") else "xtreme"


def recipe_values(task: str, recipe: str | None = None) -> dict[str, Any]:
    """The TrainConfig values of ``recipe`` (default: the task's default recipe) for ``task``.

    Returns:
        ``{field: value}`` for every field of :data:`RECIPE_FIELDS`; empty for a task without a recipe.

    Raises:
        UserError: an unknown recipe, or one that has no entry for the task (the message lists those that do).
    """
    name = recipe or default_recipe(task)
    if name is None:
        return {}
    if not isinstance(name, str) or name not in RECIPES:  # a config file can hold any YAML value here
        raise UserError(f"unknown recipe {name!r}; choose one of: {', '.join(USER_RECIPES)}")
    family = TASK_FAMILIES.get(task)
    if family not in RECIPES[name]:
        tasks = sorted(t for t, f in TASK_FAMILIES.items() if f in RECIPES[name])
        own = default_recipe(task)
        hint = f"; {task} has its own default recipe ({own}): leave out --recipe" if own else ""
        raise UserError(f"recipe {name!r} is defined for the tasks {', '.join(tasks)}, not {task!r}{hint}")
    return dict(RECIPES[name][family])


def apply_recipe(values: dict[str, Any]) -> dict[str, Any]:
    """TrainConfig values with the recipe filled in under the user's values (see the module docstring).

    Args:
        values: the user's values (``--config`` file merged with the flags): ``task`` and optionally
            ``recipe``; missing fields come from the recipe.

    Returns:
        A new dict: the recipe's values, then ``values`` on top, and ``recipe`` set to the name used
        (``None`` for a task without a recipe).

    Raises:
        UserError: as :func:`recipe_values`.
    """
    name = values.get("recipe") or default_recipe(str(values.get("task")))
    recipe = recipe_values(str(values.get("task")), name)
    for stronger, weaker in _PAIRS:
        if values.get(weaker) is not None and values.get(stronger) is None:
            recipe.pop(stronger, None)
    return {**recipe, **values, "recipe": name}


def recipe_record(config_values: dict[str, Any]) -> dict[str, Any] | None:
    """What ``config.json`` says about the recipe: name, source, its values and those the run changed.

    Args:
        config_values: a resolved TrainConfig as a dict (``recipe`` and ``task`` read from it).

    Returns:
        ``{"name", "source", "values", "overridden"}`` (``overridden``: ``{field: value used}`` where
        the run differs from the recipe), or ``None`` when the run used no recipe.

    >>> rec = recipe_record({"task": "xnli", "recipe": "paper", **recipe_values("xnli", "paper"), "lr": 1e-5})
    >>> rec["source"], rec["overridden"]
    ('Guo et al. 2023, Appendix B', {'lr': 1e-05})
    """
    name = config_values.get("recipe")
    if name is None:
        return None
    values = recipe_values(str(config_values.get("task")), name)
    overridden = {k: config_values.get(k) for k, v in values.items() if config_values.get(k) != v}
    return {"name": name, "source": RECIPE_SOURCES[name], "values": values, "overridden": overridden}


def describe_recipe(config_values: dict[str, Any]) -> str | None:
    """One line for the terminal: the recipe used, the values it set, and the user's overrides.

    ``paper`` selects the checkpoint on every language's dev set; the line says that this uses
    target-language data (SPEC "Statistics and protocol").

    >>> print(describe_recipe({"task": "xnli", "recipe": "xtreme", **recipe_values("xnli"), "lr": 1e-5}))
    recipe xtreme (XTREME scripts (google-research/xtreme scripts/train_{xnli,panx,qa}.sh)) for xnli: lr 2e-05, \
batch_size 32, epochs 5.0, warmup_ratio 0.0, weight_decay 0.0, max_length 128, select_by source, eval_every 100; \
overridden by options: lr 1e-05
    """
    record = recipe_record(config_values)
    if record is None:
        return None
    shown = ", ".join(f"{k} {v}" for k, v in record["values"].items() if v is not None)
    line = f"recipe {record['name']} ({record['source']}) for {config_values.get('task')}: {shown}"
    if record["overridden"]:
        line += "; overridden by options: " + ", ".join(f"{k} {v}" for k, v in record["overridden"].items())
    if config_values.get("select_by") == "overall":
        line += ("; select_by overall: the checkpoint is chosen on every language's dev set "
                 "(the paper's rule; uses target-language data)")
    return line
