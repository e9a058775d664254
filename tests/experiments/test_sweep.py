"""The layer sweep: planning (pure), the CLI end to end on a tiny model, and Ctrl-C + re-run."""

import csv
import json

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from xlingual_probe.commands.probe_layers import probe_layers_command
from xlingual_probe.experiments.executor import SequentialExecutor
from xlingual_probe.experiments.sweep import SweepConfig, plan_sweep, run_sweep
from xlingual_probe.runs import RESULT_COLUMNS
from xlingual_probe.training import Callback
from xlingual_probe.training.identity import identity_key, run_identity
from xlingual_probe.utils import UserError, read_json, read_jsonl

TINY = {"task": "xnli", "max_steps": 4, "eval_every": 4, "batch_size": 8, "eval_batch_size": 32, "lr": 3e-3,
        "train_size": 32, "eval_size": 12, "save_best": False}


def by_label(jobs, seed=1):
    return {j.label: j for j in jobs if j.seed == seed}


def test_plan_sweep_units_and_keys(tiny_data, tmp_path):
    config = SweepConfig(train={"model": "m", "task": "xnli", "data_dir": str(tiny_data)}, out=str(tmp_path), seeds=[1, 2],
                         include_embeddings=True, bottom_set="bottom2", top_set="top1", last_k=[1, 4])
    jobs = plan_sweep(config, num_layers=4)
    per_seed = 1 + 2 * 5 + 3 + 3 + 2 + 3  # baseline, reinit/freeze x (emb + 4 layers), groups, last-k, lr
    assert len(jobs) == 2 * per_seed
    jobs1 = by_label(jobs)
    assert [j.label for j in jobs if j.experiment == "baseline"] == ["baseline", "baseline"]
    assert jobs1["baseline"].config.freeze == [] and jobs1["baseline"].config.lr_scale == {}
    assert jobs1["reinit-L2"].config.reinit == ["2"] and jobs1["reinit-L2"].config.freeze == []
    assert jobs1["freeze-L3"].config.freeze == ["3"] and jobs1["freeze-L3"].unit == "3"
    assert jobs1["freeze-embeddings"].config.freeze == ["embeddings"]
    assert jobs1["group-freeze-bottom2-ffn"].config.freeze == ["bottom2:ffn"]
    assert jobs1["group-reinit-bottom2-attention"].config.reinit == ["bottom2:attention"]
    assert jobs1["group-reinit-bottom2"].config.reinit == ["bottom2"]
    assert jobs1["last-1"].config.freeze == ["embeddings", "bottom3"] and jobs1["last-1"].unit == "top1"
    assert jobs1["last-4"].config.freeze == ["embeddings"]
    assert jobs1["lr-x10-top1-attention"].config.lr_scale == {"top1:attention": 10.0}
    assert jobs1["lr-x10-top1"].config.lr_scale == {"top1": 10.0}
    # run directories: runs/<label>-seed<k>-<key of the run identity>, stable across plans
    job = jobs1["reinit-L2"]
    assert job.run_dir == tmp_path / "runs" / f"reinit-L2-seed1-{identity_key(run_identity(job.config))}"
    assert [j.run_dir for j in plan_sweep(config, 4)] == [j.run_dir for j in jobs]
    # fine-tuning the last 4 of 4 layers = freezing the embeddings: one run, shared
    assert jobs1["last-4"].run_dir == jobs1["freeze-embeddings"].run_dir
    assert len({j.run_dir for j in jobs}) == len(jobs) - 2


def test_plan_sweep_shares_identical_configs_and_existing_dirs(tiny_data, tmp_path):
    # freeze-L0 and group-freeze-0 (whole layers of set "0") are the same run
    config = SweepConfig(train={"model": "m", "task": "xnli", "data_dir": str(tiny_data)}, out=str(tmp_path),
                         seeds=[1], layers="0",
                         experiments=["freeze", "group-freeze"], bottom_set="0")
    jobs = by_label(plan_sweep(config, 2))
    assert jobs["group-freeze-0"].run_dir == jobs["freeze-L0"].run_dir
    # a run made earlier under another label, with the same config and seed, is found again
    key = jobs["baseline"].key
    (tmp_path / "runs" / f"old-name-seed1-{key}").mkdir(parents=True)
    assert by_label(plan_sweep(config, 2))["baseline"].run_dir.name == f"old-name-seed1-{key}"


@pytest.mark.parametrize("changes, message", [
    ({"last_k": [3], "experiments": ["last-k"]}, "--last-k 3"),
    ({"experiments": ["reinit,oops"]}, "unknown experiment"),
    ({"bottom_set": "bottom4"}, "--bottom-set: 'bottom4': the model has 2 layers"),
    ({"top_set": "top1:ffn", "experiments": ["lr-x10"]}, "--top-set"),
    ({"seeds": [1, 1]}, "repeated seed"),
])
def test_plan_sweep_rejects_bad_options(tmp_path, changes, message):
    with pytest.raises(UserError, match=message):
        plan_sweep(SweepConfig(train={"model": "m", "task": "xnli"}, out=str(tmp_path), **changes), 2)


def cli_app():
    app, probe = typer.Typer(), typer.Typer()
    probe.command("layers")(probe_layers_command)
    app.add_typer(probe, name="probe")
    app.command("noop")(lambda: None)
    return app


def test_probe_layers_cli(tiny_model, tiny_data, tmp_path):
    # the group-* units are checked by the planning tests; here: what the runs really did
    out = tmp_path / "sweep"
    args = ["probe", "layers", "--model", str(tiny_model), "--data-dir", str(tiny_data), "--out", str(out),
            "--experiments", "reinit,last-k,lr-x10", "--layers", "1", "--include-embeddings", "--top-set", "top1",
            "--last-k", "1", "--seed", "1", "--quiet"]
    for key, value in TINY.items():
        args += [f"--{key.replace('_', '-')}", str(value)] if key != "save_best" else ["--no-save-best"]
    result = CliRunner().invoke(cli_app(), args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "| baseline |" in result.output and "summary.md" in result.output
    for name in ("sweep.json", "results.csv", "summary.csv", "summary.md", "layers.png"):
        assert (out / name).is_file(), name

    results = pd.read_csv(out / "results.csv", dtype={"unit": str})
    assert list(results.columns) == RESULT_COLUMNS
    labels = ["baseline", "reinit-embeddings", "reinit-L1", "last-1", "lr-x10-top1", "lr-x10-top1-attention",
              "lr-x10-top1-ffn"]
    assert results["label"].tolist() == labels and results["run"].is_unique
    assert results["experiment"].tolist() == ["baseline", "reinit", "reinit", "last-k"] + ["lr-x10"] * 3
    assert results["unit"].fillna("").tolist() == ["", "embeddings", "1", "top1", "top1", "top1", "top1"]
    assert results["final_step"].eq(4).all()
    rows = results.set_index("label")
    summary = read_json(out / rows.loc["reinit-L1", "run"] / "summary.json")
    assert rows.loc["reinit-L1", "final_overall"] == pytest.approx(summary["final"]["overall"])
    assert rows.loc["reinit-L1", "best_gap"] == pytest.approx(summary["best"]["gap"])

    def run_config(label):
        return read_json(out / rows.loc[label, "run"] / "config.json")

    assert run_config("reinit-L1")["config"]["reinit"] == ["1"]
    assert run_config("reinit-L1")["sweep"]["label"] == "reinit-L1"
    assert run_config("reinit-embeddings")["config"]["reinit"] == ["embeddings"]
    assert run_config("baseline")["config"]["freeze"] == [] and run_config("baseline")["config"]["reinit"] == []

    # last-1: only layer 1 and the head are trained
    with open(out / rows.loc["last-1", "run"] / "param_groups.csv") as f:
        trained = [r["parameter"] for r in csv.DictReader(f)]
    assert any(".layer.1." in p for p in trained) and any(p.startswith("classifier") for p in trained)
    assert not any(".layer.0." in p or "embeddings" in p for p in trained)

    # lr-x10 of the top set's attention: that group's rate is 10x the rest
    step = read_jsonl(out / rows.loc["lr-x10-top1-attention", "run"] / "steps.jsonl")[1]
    assert step["group_lr"]["top1:attention"] == pytest.approx(10 * step["group_lr"]["rest"])

    plan = read_json(out / "sweep.json")
    assert plan["num_layers"] == 2 and plan["options"]["seeds"] == [1] and len(plan["jobs"]) == 7
    summary_md = (out / "summary.md").read_text()
    assert "lr-x10-top1-ffn" in summary_md and "± n/a" in summary_md  # one seed: no std
    assert "Selected: Checkpoint chosen on the en selection half (--select-by source" in summary_md


class CountTraining(Callback):
    """Records every run that actually trains; optionally raises Ctrl-C in the Nth one at ``kill_step``."""

    def __init__(self, kill_run=None, kill_step=3):
        self.started, self.kill_run, self.kill_step = [], kill_run, kill_step

    def on_train_begin(self, ctx, start_step):
        self.started.append((ctx.files.root.name, start_step))

    def on_step_end(self, ctx, step, loss, batch):
        if len(self.started) == self.kill_run and step == self.kill_step:
            raise KeyboardInterrupt


def test_interrupted_sweep_finishes_without_redoing_runs(tiny_model, tiny_data, tmp_path):
    train = {"model": str(tiny_model), "data_dir": str(tiny_data), **TINY, "eval_every": 2}
    config = SweepConfig(train=train, out=str(tmp_path / "sweep"), seeds=[1, 2], experiments=["freeze"])
    killer = CountTraining(kill_run=3)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(config, executor=SequentialExecutor(show_progress=False, callbacks=[killer]))
    finished = sorted((tmp_path / "sweep/runs").glob("*/summary.json"))
    assert len(finished) == 2
    mtimes = {p: p.stat().st_mtime_ns for p in finished}
    interrupted = killer.started[2][0]
    assert (tmp_path / "sweep/runs" / interrupted / "checkpoints/last").is_dir()

    counter = CountTraining()
    results = run_sweep(config, executor=SequentialExecutor(show_progress=False, callbacks=[counter]))
    assert len(counter.started) == 6 - 2  # finished runs are not trained again
    assert (interrupted, 2) in counter.started  # the interrupted one resumes from its checkpoint
    assert {p: p.stat().st_mtime_ns for p in finished} == mtimes
    assert len(results) == 6 and not results.isna().any().any()
    assert sorted(results["label"].unique()) == ["baseline", "freeze-L0", "freeze-L1"]
    assert (results.groupby("label")["seed"].apply(sorted) == pd.Series({k: [1, 2] for k in results["label"]})).all()

    summary = pd.read_csv(tmp_path / "sweep/summary.csv").set_index("label")
    base = results[results["experiment"] == "baseline"]["final_overall"]
    assert summary.loc["baseline", "final_overall_mean"] == pytest.approx(base.mean())
    assert summary.loc["baseline", "final_overall_std"] == pytest.approx(base.std(ddof=1))
    assert summary.loc["baseline", "final_overall_delta"] == pytest.approx(0)
    frozen = results[results["label"] == "freeze-L1"]["final_overall"]
    assert summary.loc["freeze-L1", "final_overall_delta"] == pytest.approx(frozen.mean() - base.mean())
    assert (summary["seeds"] == 2).all()
    md = (tmp_path / "sweep/summary.md").read_text()
    assert f"{base.mean():.2f} ± {base.std(ddof=1):.2f}" in md
    assert (tmp_path / "sweep/layers.png").stat().st_size > 0

    # a third run changes nothing and trains nothing
    again = CountTraining()
    run_sweep(config, executor=SequentialExecutor(show_progress=False, callbacks=[again]))
    assert again.started == []
    assert json.loads((tmp_path / "sweep/sweep.json").read_text())["jobs"][0]["label"] == "baseline"


def hand_made_results():
    rows = []
    for label, experiment, unit, values in [("baseline", "baseline", "", [70.0, 72.0]),
                                            ("reinit-L0", "reinit", "0", [60.0, 64.0]),
                                            ("reinit-embeddings", "reinit", "embeddings", [50.0, 52.0]),
                                            ("freeze-L0", "freeze", "0", [71.0, 75.0])]:
        for seed, value in zip([1, 2], values):
            row = dict.fromkeys(RESULT_COLUMNS)
            row.update(experiment=experiment, label=label, unit=unit, component="all", seed=seed, run=f"runs/{label}",
                       final_overall=value, best_overall=value + 1, final_gap=10.0 + seed, best_gap=9.0)
            rows.append(row)
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def test_summary_table_mean_std_and_delta():
    from xlingual_probe.experiments.sweep import format_sweep_summary, sweep_summary_table

    results = hand_made_results()
    numbers = sweep_summary_table(results).set_index("label")
    assert numbers.loc["reinit-L0", "final_overall_mean"] == pytest.approx(62.0)
    assert numbers.loc["reinit-L0", "final_overall_std"] == pytest.approx(2 ** 1.5)
    assert numbers.loc["reinit-L0", "final_overall_delta"] == pytest.approx(-9.0)
    assert numbers.loc["freeze-L0", "best_overall_delta"] == pytest.approx(2.0)
    assert numbers.loc["freeze-L0", "final_gap_delta"] == pytest.approx(0.0)
    text = format_sweep_summary(results).set_index("experiment")
    assert text.loc["reinit-L0", "overall"] == "62.00 ± 2.83" and text.loc["reinit-L0", "Δ overall"] == "-9.00"
    assert text.loc["baseline", "Δ overall"] == "—" and text.loc["freeze-L0", "Δ selected"] == "+2.00"


def test_layer_plot_has_both_panels_and_baseline(tmp_path):
    from xlingual_probe.plots.sweep import plot_layer_sweep, save_layer_sweep_plot

    results = hand_made_results()
    fig = plot_layer_sweep(results)
    reinit, freeze = fig.axes
    assert [t.get_text() for t in reinit.get_xticklabels()] == ["emb", "0"]
    assert any(line.get_linestyle() == ":" and line.get_ydata()[0] == pytest.approx(71.0) for line in freeze.lines)
    results.to_csv(tmp_path / "results.csv", index=False)
    assert save_layer_sweep_plot(tmp_path).stat().st_size > 0
    assert plot_layer_sweep(results[results["experiment"] == "baseline"]) is None


def test_cli_ctrl_c_says_how_to_continue(tmp_path, monkeypatch):
    import xlingual_probe.commands.probe_layers as command

    def interrupted(config, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "run_sweep", interrupted)
    result = CliRunner().invoke(cli_app(), ["probe", "layers", "--model", "m", "--task", "xnli", "--out",
                                            str(tmp_path)])
    assert result.exit_code == 130 and "run the same command again" in result.output
