"""``--report-to tensorboard``: the event files hold the run directory's records, read back."""

import pytest

from tests.tiny import tiny_config
from xlingual_probe.probes.cka_probe import CKAProbe, CKAProbeConfig
from xlingual_probe.training import train
from xlingual_probe.training.slowfast import slowfast_settings
from xlingual_probe.training.trackers import check_trackers
from xlingual_probe.utils import UserError
from xlingual_probe.utils.io import read_jsonl

pytest.importorskip("tensorboard")


def scalars(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_tensorboard_events_mirror_the_run_directory(tiny_model, tiny_data, tmp_path):
    settings = slowfast_settings("slowfast", {"S_I": "0", "S_II": "0:ffn", "V_I": "1", "V_II": "1:attention"},
                                 window=2, threshold=0.05)
    config = tiny_config(tiny_model, tiny_data, tmp_path / "run", max_steps=6, eval_every=3, slowfast=settings,
                         method="slowfast", report_to=["tensorboard"])
    train(config, callbacks=[CKAProbe(CKAProbeConfig(every=3))], show_progress=False)
    logged = scalars(tmp_path / "run/trackers/xlingual-probe")

    steps = read_jsonl(tmp_path / "run/steps.jsonl")
    assert logged["steps/loss"] == [(s["step"], pytest.approx(s["loss"], rel=1e-6)) for s in steps]
    for group, rate in steps[2]["group_lr"].items():
        assert dict(logged[f"steps/group_lr/{group}"])[3] == pytest.approx(rate, rel=1e-6)
    for weight_set, k in steps[-1]["K"].items():
        assert dict(logged[f"steps/K/{weight_set}"])[6] == pytest.approx(k, rel=1e-6)

    metrics = read_jsonl(tmp_path / "run/metrics.jsonl")
    for lang in ("en", "de", "es"):
        assert logged[f"metrics/metrics/{lang}"] == [(m["step"], pytest.approx(m["metrics"][lang])) for m in metrics]
    assert logged["metrics/gap"] == [(m["step"], pytest.approx(m["gap"], abs=1e-5)) for m in metrics]

    cka = [r for r in read_jsonl(tmp_path / "run/cka.jsonl") if r["layer"] == 1]
    assert logged["cka/cka/layer_1"] == [(r["step"], pytest.approx(r["cka"], rel=1e-6)) for r in cka]


def test_tracker_names_are_checked():
    assert check_trackers([]) == [] and check_trackers(["none"]) == []
    with pytest.raises(UserError, match="choose from tensorboard, wandb, mlflow"):
        check_trackers(["tensorbord"])


def test_a_missing_tracker_package_is_one_error_line(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(UserError, match=r"pip install 'xlingual-probe\[wandb\]'"):
        check_trackers(["wandb"])
