"""Recipes (``analyses/*.yaml``): every file loads, plans without a download, says its launch command and
compute, and the runner runs the steps and draws the artefacts (tiny synthetic world: plumbing)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xlingual_probe.experiments.analyses import load_recipe, plan_recipe, run_recipe
from xlingual_probe.utils.errors import UserError

ANALYSES = Path(__file__).resolve().parents[2] / "analyses"
RECIPES = sorted(ANALYSES.rglob("*.yaml"))


def test_there_is_a_recipe_per_paper_figure_and_table():
    names = {p.stem for p in RECIPES}
    for paper in ("fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "table1", "table2", "table4", "table5",
                  "table6", "table7", "table8"):
        assert any(n.startswith(paper + "-") for n in names), paper
    readme = (ANALYSES / "README.md").read_text(encoding="utf-8")
    for path in RECIPES:
        assert path.relative_to(ANALYSES).as_posix() in readme or path.name == "recipe.yaml", path
    # the shell analyses moved to recipes; the alignment analysis stays a script until recipes have an
    # alignment step (its stages run `xprobe probe alignment` and analyses/alignment/summarise.py)
    assert [p.relative_to(ANALYSES).as_posix() for p in ANALYSES.rglob("run.sh")] == ["alignment/run.sh"]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.relative_to(ANALYSES).as_posix())
def test_recipe_loads_plans_and_states_its_compute(path, tmp_path):
    recipe = load_recipe(path)
    header = path.read_text(encoding="utf-8").split("\nrecipe:")[0]
    relative = path.relative_to(ANALYSES.parent).as_posix()
    assert f"xprobe run {relative}" in header  # the launch command
    assert "Batch arithmetic" in header and "Demo scale" in header
    for scale in recipe.scales:
        plan = plan_recipe(recipe, scale, tmp_path)  # num_layers in the scale: no model download
        runs = sum(step.runs for step in plan)
        title = "Demo scale" if scale == "demo" else f"{scale.capitalize()} scale"
        stated = re.search(rf"{title}: (?:[^\n]*?)(\d[\d,]*) runs", header)
        assert stated and int(stated.group(1).replace(",", "")) == runs, (scale, runs)


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    return path


SCALES = """scales:
  demo: {seeds: [1, 2], num_layers: 2, train: {model: "synthetic:tiny"}, tasks: {synthetic-nli: {}},
         vary: {c1: [0.5]}, policy: {window: 5}}
  paper:
    seeds: [1]
    num_layers: 2
    train: {model: m}
    tasks:
      xnli: {lr: 1.0e-5, policy: {policy_iv: off}}
      panx: {}
"""


def test_plan_expands_vary_scales_tasks_and_policies(tmp_path):
    recipe = load_recipe(write(tmp_path, "recipe: 1\nproduces: [table5-ablation]\n" + SCALES + """steps:
  - train: {out: "sf-{task}-c1-{c1}", method: slowfast, sets: paper, vary: {c1: [0.5, 0.1]}, c2: 5}
  - cka: {out: "cka-{task}", seeds: [3]}
"""))
    paper = plan_recipe(recipe, "paper", tmp_path, overrides={"data_dir": "D"})
    assert [s.out.name for s in paper] == ["sf-xnli-c1-0.5", "sf-xnli-c1-0.1", "cka-xnli", "sf-panx-c1-0.5",
                                           "sf-panx-c1-0.1", "cka-panx"]
    first = paper[0]
    assert first.train == {"model": "m", "task": "xnli", "lr": 1e-5, "data_dir": "D"}
    assert first.options == {"policy_iv": False, "method": "slowfast", "sets": "paper", "c2": 5, "c1": 0.5}
    assert paper[2].seeds == [3] and paper[2].runs == 1 and "policy_iv" not in paper[2].options
    assert paper[3].options.get("policy_iv") is None  # panx has no task policy
    demo = plan_recipe(recipe, "demo", tmp_path)
    assert [s.out.name for s in demo] == ["sf-synthetic-nli-c1-0.5", "cka-synthetic-nli"]  # the demo's shorter vary
    assert demo[0].options["window"] == 5 and demo[0].runs == 2


@pytest.mark.parametrize("text, message", [
    ("recipe: 2\n", "recipe: 1"),
    ("recipe: 1\nproduces: [fig99]\n", "unknown artefact"),
    ("recipe: 1\nscales: {demo: {seeds: [1], tasks: {x: {}}}}\n", "needs a demo scale and at least one other"),
    ("recipe: 1\n" + SCALES + "steps:\n  - fly: {out: x}\n", "unknown kind 'fly'"),
    ("recipe: 1\n" + SCALES + "steps:\n  - sweep: {out: x, methods: [direct]}\n", "unknown option(s) methods"),
    ("recipe: 1\n" + SCALES + "steps:\n  - sweep: {experiments: [reinit]}\n", "needs out"),
    ("recipe: 1\n" + SCALES + "steps:\n  - train: {out: x, vary: {colour: [1]}}\n", "cannot vary 'colour'"),
    ("recipe: 1\n" + SCALES.replace("lr: 1.0e-5", "lrr: 1") + "steps:\n  - cka: {out: x}\n", "lrr"),
])
def test_bad_recipes_are_user_errors(tmp_path, text, message):
    with pytest.raises(UserError, match=re.escape(message)):
        load_recipe(write(tmp_path, text))


def test_unknown_scale_is_a_user_error(tmp_path):
    recipe = load_recipe(write(tmp_path, "recipe: 1\n" + SCALES + "steps:\n  - cka: {out: x}\n"))
    with pytest.raises(UserError, match="unknown --scale 'huge'"):
        plan_recipe(recipe, "huge", tmp_path)


def test_run_recipe_trains_and_draws(tmp_path, monkeypatch):
    monkeypatch.setenv("XPROBE_CACHE", str(tmp_path / "cache"))
    recipe = load_recipe(write(tmp_path, """recipe: 1
produces: [fig2-loss-gap, table2-methods, fig-policy-k]
scales:
  demo:
    seeds: [1, 2]
    num_layers: 2
    train: {model: "synthetic:tiny", max_steps: 6, eval_every: 3, batch_size: 8, lr: 1.0e-3, train_size: 40,
            eval_size: 12, save_best: false, save_every: 0}
    tasks: {synthetic-nli: {}}
    policy: {window: 2}
  paper: {seeds: [1], tasks: {xnli: {}}}
steps:
  - compare: {out: "compare-{task}", methods: [direct, slowfast], sets: paper}
"""))
    lines: list[str] = []
    result = run_recipe(recipe, "demo", tmp_path / "out", log=lines.append, show_progress=False)
    assert lines[0].startswith("[step 1/1] synthetic-nli: compare direct,slowfast")
    assert sorted(o.name for o in result.outputs) == ["fig-policy-k", "fig2-loss-gap", "table2-methods"]
    table = next(o.table for o in result.outputs if o.name == "table2-methods")
    assert table.rows == ["DF", "slow-and-fast"] and table.cell("DF", "synthetic-nli M = 0").n == 2
    assert (tmp_path / "out" / "figures" / "fig2-loss-gap.png").is_file()
    # a second run reuses every finished run
    again = run_recipe(recipe, "demo", tmp_path / "out", log=lines.append, show_progress=False)
    assert sum("reused" in line for line in lines) == 4 and len(again.outputs) == 3
