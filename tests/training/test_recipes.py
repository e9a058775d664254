"""Recipes: every task has one, the values are the sources', and the precedence flag > config file > recipe."""

import pytest
from typer.testing import CliRunner

from xlingual_probe.cli import app
from xlingual_probe.commands.options import resolve_train_options
from xlingual_probe.tasks import TASKS
from xlingual_probe.training import TrainConfig
from xlingual_probe.training.recipes import (
    RECIPE_FIELDS,
    RECIPES,
    apply_recipe,
    default_recipe,
    recipe_record,
    recipe_values,
)
from xlingual_probe.utils import UserError, read_json


def opts(**given):
    """The ``train_opts`` dict a command receives: every option unset unless given."""
    from xlingual_probe.commands.options import TRAIN_OPTIONS

    return {**{p.name: None for p in TRAIN_OPTIONS}, **given}


@pytest.mark.parametrize("task", TASKS.names())
def test_every_task_has_a_complete_default_recipe(task):
    values = recipe_values(task)
    assert set(values) == set(RECIPE_FIELDS)
    TrainConfig(model="m", task=task, out="x", **values)  # valid values


def test_every_recipe_sets_every_field():
    for name, families in RECIPES.items():
        for family, values in families.items():
            assert set(values) == set(RECIPE_FIELDS), (name, family)


@pytest.mark.parametrize("task, recipe, expected", [
    # XTREME scripts: train_xnli.sh (LR 2e-5, 5 epochs, MAXL 128, batch 8 x 4), run_classify defaults
    ("xnli", "xtreme", {"lr": 2e-5, "epochs": 5.0, "batch_size": 32, "max_length": 128, "warmup_ratio": 0.0,
                        "warmup_steps": None, "weight_decay": 0.0, "select_by": "source"}),
    # train_panx.sh: 10 epochs, 2e-5, 128
    ("panx", "xtreme", {"lr": 2e-5, "epochs": 10.0, "batch_size": 32, "max_length": 128, "select_by": "source"}),
    # train_qa.sh: 3e-5, 3 epochs, 384, batch 4 x 8, 500 warm-up steps, weight decay 1e-4
    ("mlqa", "xtreme", {"lr": 3e-5, "epochs": 3.0, "batch_size": 32, "max_length": 384, "warmup_steps": 500,
                        "weight_decay": 1e-4, "select_by": "source"}),
    # Appendix B: batch 32, lr 5e-6, XNLI 10 epochs, NER 20; MLQA 3e-5, batch 12, 2 epochs; select overall
    ("xnli", "paper", {"lr": 5e-6, "epochs": 10.0, "batch_size": 32, "select_by": "overall"}),
    ("wikiann", "paper", {"lr": 5e-6, "epochs": 20.0, "batch_size": 32, "select_by": "overall"}),
    ("tydiqa", "paper", {"lr": 3e-5, "epochs": 2.0, "batch_size": 12, "max_length": 384, "select_by": "overall"}),
])
def test_recipe_values_are_the_sources(task, recipe, expected):
    values = recipe_values(task, recipe)
    assert {k: values[k] for k in expected} == expected


def test_defaults_learn_on_synthetic_nli_without_any_flag():
    # `xprobe train direct --model synthetic --task synthetic-nli`: the settings the README measured
    values, seeds = resolve_train_options(opts(model="synthetic", task="synthetic-nli"), log=None)
    config = TrainConfig(**values, out="x", seed=seeds[0])
    assert (config.lr, config.max_steps, config.batch_size, config.eval_every) == (5e-4, 400, 32, 50)
    assert config.recipe == "synthetic"
    # and not what every task got before the recipes: 1 epoch at lr 2e-5
    assert TrainConfig(model="m", task="synthetic-nli", out="x").lr == 2e-5


def test_precedence_flag_over_config_file_over_recipe_over_default(tmp_path):
    config_file = tmp_path / "run.yaml"
    config_file.write_text("recipe: paper\nlr: 1.0e-4\nbatch_size: 16\n")
    values, _ = resolve_train_options(opts(config=config_file, model="m", task="xnli", batch_size=8), log=None)
    assert values["batch_size"] == 8  # flag over config file
    assert values["lr"] == 1e-4  # config file over recipe
    assert values["epochs"] == 10.0 and values["select_by"] == "overall"  # the recipe the file named
    assert values["recipe"] == "paper"
    values, _ = resolve_train_options(opts(model="m", task="xnli"), log=None)
    assert values["epochs"] == 5.0 and values["recipe"] == "xtreme"  # the task's default recipe
    values, _ = resolve_train_options(opts(model="m", task="xnli", recipe="paper"), log=None)
    assert values["lr"] == 5e-6 and values["recipe"] == "paper"  # the flag's recipe
    # TrainConfig's defaults below the recipe: fields no recipe sets
    config = TrainConfig(**values, out="x")
    assert config.max_grad_norm == 1.0 and config.eval_batch_size == 64


def test_an_option_of_a_pair_replaces_the_recipes_pair():
    # --epochs must not be overruled by the synthetic recipe's max_steps, nor --warmup-ratio by XTREME's 500 steps
    assert "max_steps" not in apply_recipe({"task": "synthetic-nli", "epochs": 2.0})  # TrainConfig's None
    qa = apply_recipe({"task": "mlqa", "warmup_ratio": 0.1})
    assert "warmup_steps" not in qa and qa["warmup_ratio"] == 0.1
    assert apply_recipe({"task": "mlqa", "max_steps": 10})["epochs"] == 3.0  # kept, and overridden by max_steps


def test_recipe_record_lists_what_the_run_changed():
    values = apply_recipe({"task": "xnli", "recipe": "paper", "lr": 1e-5})
    record = recipe_record(values)
    assert record["name"] == "paper" and record["overridden"] == {"lr": 1e-5}
    assert record["values"]["lr"] == 5e-6
    assert recipe_record({"task": "xnli", "recipe": None}) is None


@pytest.mark.parametrize("given, message", [
    ({"task": "synthetic-nli", "recipe": "paper"}, "recipe 'paper' is defined for the tasks"),
    ({"task": "xnli", "recipe": "nope"}, "unknown recipe 'nope'"),
])
def test_bad_recipe_is_one_error(given, message):
    with pytest.raises(UserError, match=message):
        apply_recipe(given)


def test_a_task_without_recipe_keeps_trainconfig_defaults():
    assert default_recipe("my-task") is None
    assert apply_recipe({"task": "my-task", "lr": 1e-3}) == {"task": "my-task", "lr": 1e-3, "recipe": None}


def test_cli_prints_and_records_the_recipe(tiny_model, tiny_data, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "train", "direct", "--model", str(tiny_model), "--task", "xnli", "--data-dir", str(tiny_data),
        "--recipe", "paper", "--max-steps", "2", "--batch-size", "8", "--eval-every", "2", "--train-size", "16",
        "--eval-size", "8", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "recipe paper (Guo et al. 2023, Appendix B) for xnli" in result.output
    assert "select_by overall" in result.output and "uses target-language data" in result.output
    info = read_json(out / "config.json")
    assert info["config"]["recipe"] == "paper" and info["config"]["lr"] == 5e-6
    assert info["recipe"]["overridden"] == {"max_steps": 2, "batch_size": 8, "eval_every": 2}
    assert read_json(out / "summary.json")["select_by"] == "overall"
