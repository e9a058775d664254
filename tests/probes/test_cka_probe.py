"""The CKA probe callback end to end on the tiny offline model, and ``xprobe probe cka``."""

import pytest
import torch
import typer
from typer.testing import CliRunner

from tests.tiny import kill_at
from tests.tiny import tiny_config as shared_tiny_config
from xlingual_probe.probes.cka_probe import CKAProbe, CKAProbeConfig, _frozen_copy, cka_overhead, last_cka
from xlingual_probe.runs import load_runs
from xlingual_probe.training import train
from xlingual_probe.utils import UserError
from xlingual_probe.utils.io import read_json, read_jsonl


def tiny_config(tiny_model, tiny_data, out, **overrides):
    settings = {"max_steps": 12, "lr": 3e-3, "eval_every": 6, "eval_batch_size": 48, "max_length": 48, "eval_size": 24}
    return shared_tiny_config(tiny_model, tiny_data, out, **{**settings, **overrides})


def without_timing(records):
    return [{k: v for k, v in r.items() if k not in ("cka_seconds", "eval_seconds")} for r in records]


def test_probe_records_every_layer_and_leaves_training_unchanged(tiny_model, tiny_data, tmp_path):
    plain = train(tiny_config(tiny_model, tiny_data, tmp_path / "plain"), show_progress=False)
    probe = CKAProbe(CKAProbeConfig(every=4))
    probed = train(tiny_config(tiny_model, tiny_data, tmp_path / "probed"), callbacks=[probe], show_progress=False)

    # eval mode, no grad, deepcopy: the training stream (dropout, data order) is untouched
    assert read_jsonl(tmp_path / "probed/steps.jsonl") == read_jsonl(tmp_path / "plain/steps.jsonl")
    assert without_timing(read_jsonl(tmp_path / "probed/metrics.jsonl")) == \
        without_timing(read_jsonl(tmp_path / "plain/metrics.jsonl"))
    assert probed["final"]["metrics"] == plain["final"]["metrics"]
    assert not (tmp_path / "plain/cka.jsonl").exists()

    records = read_jsonl(tmp_path / "probed/cka.jsonl")
    assert [(r["step"], r["layer"]) for r in records] == [(s, layer) for s in (4, 8, 12) for layer in (0, 1)]
    for r in records:
        assert set(r) == {"step", "layer", "cka", "pooling", "debiased", "n", "cka_seconds"}
        assert r["pooling"] == "tokens" and r["debiased"] is False
        assert 0 < r["cka"] < 1 and r["cka_seconds"] > 0
        assert r["n"] > 16  # tokens under the mask of a 16-sentence batch
    # the working model drifts away from its starting point
    assert last_cka(tmp_path / "probed")[1] < records[1]["cka"] < 0.9999
    assert probe.probes == 3 and probe.reference is None  # freed at the end
    overhead = cka_overhead(tmp_path / "probed")
    assert overhead["probe_steps"] == 3 and 0 < overhead["fraction"] < 1
    assert len(load_runs(tmp_path / "probed").cka) == 6


@pytest.mark.parametrize("config", [
    {"reinit": ["0"], "save_every": 6},  # the "pre-trained" reference is the model after re-initialisation
    {"noise_lambda": 0.15, "save_every": 6},  # ... after NoisyTune's noise
], ids=["reinit", "noisytune"])
def test_resume_rebuilds_the_starting_point(tiny_model, tiny_data, tmp_path, config):
    straight = tiny_config(tiny_model, tiny_data, tmp_path / "straight", **config)
    train(straight, callbacks=[CKAProbe(CKAProbeConfig(every=3))], show_progress=False)
    killed = tiny_config(tiny_model, tiny_data, tmp_path / "killed", **config)
    with pytest.raises(KeyboardInterrupt):  # after the probe at 9; the checkpoint is at 6
        train(killed, callbacks=[CKAProbe(CKAProbeConfig(every=3)), kill_at(9)], show_progress=False)
    assert [r["step"] for r in read_jsonl(tmp_path / "killed/cka.jsonl")][-1] == 9
    train(killed, callbacks=[CKAProbe(CKAProbeConfig(every=3))], resume=True, show_progress=False)

    assert read_jsonl(tmp_path / "killed/steps.jsonl") == read_jsonl(tmp_path / "straight/steps.jsonl")
    resumed = without_timing(read_jsonl(tmp_path / "killed/cka.jsonl"))
    expected = without_timing(read_jsonl(tmp_path / "straight/cka.jsonl"))
    assert [(r["step"], r["layer"]) for r in resumed] == [(r["step"], r["layer"]) for r in expected]
    for got, want in zip(resumed, expected):
        assert got["cka"] == pytest.approx(want["cka"], abs=1e-6)


def test_frozen_copy_drops_the_mixed_precision_forward_wrapper():
    # Accelerate's mixed precision sets `model.forward` on the instance, wrapping the original's
    # bound method; a naive deepcopy would keep running the original model
    model = torch.nn.Linear(3, 2)
    model._original_forward = model.forward
    original = model.forward
    model.forward = lambda *args, **kwargs: original(*args, **kwargs)
    copy = _frozen_copy(model)
    with torch.no_grad():
        model.weight.add_(1.0)
    x = torch.ones(1, 3)
    assert not torch.allclose(copy(x), model(x))
    assert "forward" not in copy.__dict__ and "forward" in model.__dict__


@pytest.mark.parametrize("options, debiased", [
    ({"pooling": "mean"}, True),  # SPEC: n of a few dozen sentences against hundreds of dimensions
    ({"pooling": "tokens"}, False),
    ({"pooling": "mean", "debiased": False}, False),  # --no-cka-debiased
    ({"pooling": "tokens", "debiased": True}, True),
])
def test_estimator_default_follows_the_pooling(options, debiased):
    config = CKAProbeConfig(**options)
    assert config.debiased is debiased and config.to_dict()["debiased"] is debiased


@pytest.mark.parametrize("bad", [{"every": 0}, {"pooling": "cls"}, {"dtype": "fp16"}, {"device": "gpu:x"}])
def test_bad_options_are_user_errors(bad):
    with pytest.raises(UserError):
        CKAProbeConfig(**bad)


def test_probe_cka_command_mean_pooling_is_debiased_by_default_bf16_copy(tiny_model, tiny_data, tmp_path):
    from xlingual_probe.commands.probe_cka import probe_cka_command

    app = typer.Typer()
    app.command()(probe_cka_command)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "--model", str(tiny_model), "--task", "xnli", "--data-dir", str(tiny_data), "--max-steps", "8",
        "--eval-every", "4", "--eval-size", "24", "--batch-size", "16", "--max-length", "48", "--lr", "3e-3", "--no-save-best",
        "--cka-pooling", "mean", "--cka-dtype", "bf16", "--cka-device", "cpu",
        "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "CKA to the pre-trained model at the last probe step" in result.output
    assert "layer" in result.output and "CKA probe" in result.output
    assert read_json(out / "config.json")["cka_probe"] == {
        "every": None, "pooling": "mean", "debiased": True, "device": "cpu", "dtype": "bf16"}
    records = read_jsonl(out / "cka.jsonl")
    assert [r["step"] for r in records] == [4, 4, 8, 8]  # every = eval_every by default
    # one row per sentence; the debiased value may dip a little below 0
    assert all(r["n"] == 16 and r["pooling"] == "mean" and r["debiased"] for r in records)
    assert all(-0.5 < r["cka"] <= 1.0 for r in records)
    assert read_json(out / "summary.json")["method"] == "direct"
    for name in ("cka.png", "gap.png"):
        assert (out / name).stat().st_size > 1000


def test_nan_hidden_states_of_a_diverging_model_give_null_cka_with_a_reason(tiny_model, tiny_data, tmp_path):
    from xlingual_probe.training import Callback

    class PoisonLayer1(Callback):
        """After update 3, the top layer's weights become NaN (as a diverging run's would)."""

        def on_step_end(self, ctx, step, loss, batch):
            if step == 3:
                with torch.no_grad():
                    for name, p in ctx.model.named_parameters():
                        if ".layer.1." in name:
                            p.fill_(float("nan"))

    summary = train(tiny_config(tiny_model, tiny_data, tmp_path / "run"),
                    callbacks=[PoisonLayer1(), CKAProbe(CKAProbeConfig(every=3))], show_progress=False)
    records = read_jsonl(tmp_path / "run/cka.jsonl")
    assert [(r["step"], r["layer"]) for r in records] == [(3, 0), (3, 1)]
    assert 0 < records[0]["cka"] <= 1 and "cka_undefined" not in records[0]
    assert records[1]["cka"] is None and "NaN or inf" in records[1]["cka_undefined"]
    assert summary["status"] == "diverged" and summary["diverged_at"] == 4
def test_the_frozen_copy_runs_once_per_probe_step(tiny_model, tiny_data, tmp_path):
    """One forward pass of the frozen copy gives every layer's hidden states for a probe step."""
    from xlingual_probe.training import Callback

    probe = CKAProbe(CKAProbeConfig(every=4))
    calls = []

    class CountFrozenForwards(Callback):
        def on_train_begin(self, ctx, start_step):
            probe.reference.register_forward_hook(lambda module, args, output: calls.append(1))

    train(tiny_config(tiny_model, tiny_data, tmp_path / "run"), callbacks=[probe, CountFrozenForwards()],
          show_progress=False)
    assert len(calls) == probe.probes == 3
