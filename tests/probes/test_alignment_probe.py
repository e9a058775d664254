"""The alignment probe in the training loop and in a transformers Trainer, on the tiny offline model."""

import pytest
import torch
from accelerate import Accelerator
from transformers import Trainer, TrainerControl, TrainerState, TrainingArguments, set_seed

from tests.tiny import kill_at
from tests.tiny import tiny_config as shared_tiny_config
from xlingual_probe.models import get_model_map, load_model
from xlingual_probe.probes.alignment_probe import AlignmentCallback, AlignmentProbe, AlignmentProbeConfig
from xlingual_probe.probes.hf_callback import GapCallback
from xlingual_probe.runs import RunWriter, load_runs
from xlingual_probe.tasks import DataOptions, get_task
from xlingual_probe.training import LoopContext, TrainConfig, train
from xlingual_probe.utils import UserError
from xlingual_probe.utils.io import read_json, read_jsonl

FIELDS = {"step", "layer", "lang", "n", "retrieval_src2tgt", "retrieval_tgt2src", "retrieval", "cka_cross",
          "cka_to_pretrained", "align_seconds"}


def tiny_config(tiny_model, data, out, **overrides):
    settings = {"max_steps": 10, "lr": 3e-3, "eval_every": 5, "eval_batch_size": 48, "max_length": 48}
    return shared_tiny_config(tiny_model, data, out, **{**settings, **overrides})


def without(records, *keys):
    return [{k: v for k, v in r.items() if k not in keys} for r in records]


def test_probe_records_and_leaves_training_unchanged(tiny_model, parallel_data, tmp_path):
    plain = train(tiny_config(tiny_model, parallel_data, tmp_path / "plain"), show_progress=False)
    probe = AlignmentProbe(AlignmentProbeConfig(every=4, size=16))
    probed = train(tiny_config(tiny_model, parallel_data, tmp_path / "probed"), callbacks=[probe],
                   show_progress=False)
    # eval mode, no grad, no random draws: the same losses (dropout and data order untouched)
    assert read_jsonl(tmp_path / "probed/steps.jsonl") == read_jsonl(tmp_path / "plain/steps.jsonl")
    assert without(read_jsonl(tmp_path / "probed/metrics.jsonl"), "eval_seconds") == \
        without(read_jsonl(tmp_path / "plain/metrics.jsonl"), "eval_seconds")
    assert probed["final"]["metrics"] == plain["final"]["metrics"]

    records = read_jsonl(tmp_path / "probed/alignment.jsonl")
    # before the first update, every 4 updates, and at the last one (10)
    assert [(r["step"], r["layer"], r["lang"]) for r in records] == [
        (s, layer, lang) for s in (0, 4, 8, 10) for layer in (0, 1) for lang in ("en", "de", "es")]
    for r in records:
        assert set(r) == FIELDS and r["n"] == 16
        if r["lang"] == "en":
            assert r["retrieval"] is None and r["cka_cross"] is None
        else:
            assert 0 <= r["retrieval"] <= 100 and r["retrieval"] == (r["retrieval_src2tgt"] + r["retrieval_tgt2src"]) / 2
    assert all(r["cka_to_pretrained"] == pytest.approx(1.0) for r in records if r["step"] == 0)
    assert records[-1]["cka_to_pretrained"] < 0.9999  # the working model moved
    sample = read_json(tmp_path / "probed/alignment_sample.json")
    assert sample["field"] == "premise" and sample["n"] == {"de": 16, "es": 16}
    assert probe.probes == 4 and probe.meter is None
    assert len(load_runs(tmp_path / "probed").alignment) == len(records)


def test_resume_rebuilds_the_starting_point(tiny_model, parallel_data, tmp_path):
    probe = lambda: AlignmentProbe(AlignmentProbeConfig(every=3, size=12))
    straight = tiny_config(tiny_model, parallel_data, tmp_path / "straight", save_every=6, reinit=["0"])
    train(straight, callbacks=[probe()], show_progress=False)
    killed = tiny_config(tiny_model, parallel_data, tmp_path / "killed", save_every=6, reinit=["0"])
    with pytest.raises(KeyboardInterrupt):  # after the probe at 9; the checkpoint is at 6
        train(killed, callbacks=[probe(), kill_at(9)], show_progress=False)
    train(killed, callbacks=[probe()], resume=True, show_progress=False)
    assert read_jsonl(tmp_path / "killed/steps.jsonl") == read_jsonl(tmp_path / "straight/steps.jsonl")
    resumed = without(read_jsonl(tmp_path / "killed/alignment.jsonl"), "align_seconds")
    expected = without(read_jsonl(tmp_path / "straight/alignment.jsonl"), "align_seconds")
    assert [(r["step"], r["layer"], r["lang"]) for r in resumed] == [(r["step"], r["layer"], r["lang"]) for r in expected]
    for got, want in zip(resumed, expected):
        for key in ("retrieval", "cka_cross", "cka_to_pretrained"):
            assert got[key] == pytest.approx(want[key], abs=1e-6)


def test_trainer_callback_writes_the_loops_records(tiny_model, parallel_data, tmp_path):
    # both forms driven on the same model through the same states: the records must agree
    set_seed(0)
    model, tokenizer = load_model(str(tiny_model), "sequence", 3)
    data = get_task("xnli").load(DataOptions(data_dir=str(parallel_data)))
    config = tiny_config(tiny_model, parallel_data, tmp_path / "loop")
    # before the Accelerator: TrainingArguments resets Accelerate's shared state
    args = TrainingArguments(output_dir=str(tmp_path / "trainer"), use_cpu=True, report_to=[], seed=1)
    ctx = LoopContext(config, Accelerator(cpu=True), model, tokenizer, get_task("xnli"), get_model_map(model),
                      RunWriter(tmp_path / "loop"), rebuild_starting_model=lambda: None, data=data, total_steps=10)
    options = AlignmentProbeConfig(every=5, size=16)
    loop = AlignmentProbe(options)
    hf = AlignmentCallback(options.sample(ctx.task, data, config.data_seed), tokenizer, output_dir=tmp_path / "hf",
                           every=5, max_length=config.max_length, batch_size=config.eval_batch_size)
    state, control = TrainerState(max_steps=10), TrainerControl()
    loop.on_train_begin(ctx, 0)
    hf.on_train_begin(args, state, control, model=model)
    for step in (5, 7, 10):  # 7: no probe
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * torch.sin(torch.arange(p.numel(), dtype=p.dtype).reshape(p.shape) + step))
        state.global_step = step
        loop.on_step_end(ctx, step, 0.5, {})
        hf.on_step_end(args, state, control, model=model)
    hf.on_train_end(args, state, control, model=model)
    from_loop = without(read_jsonl(tmp_path / "loop/alignment.jsonl"), "align_seconds")
    from_hf = without(read_jsonl(tmp_path / "hf/alignment.jsonl"), "align_seconds")
    assert [r["step"] for r in from_hf][::6] == [0, 5, 10] and from_hf == from_loop
    assert read_json(tmp_path / "hf/alignment_sample.json") == read_json(tmp_path / "loop/alignment_sample.json")


LABELS = ["entailment", "neutral", "contradiction"]


def nli_dataset(tokenizer, n, lang, seed):
    import datasets

    from tests.tiny import nli_pairs

    rows = nli_pairs(n, lang, seed)
    enc = tokenizer([p for p, _, _ in rows], [h for _, h, _ in rows], truncation=True, max_length=48)
    return datasets.Dataset.from_dict({**enc, "label": [LABELS.index(y) for _, _, y in rows]})


def run_trainer(tiny_model, out, callbacks=()):
    set_seed(0)
    model, tokenizer = load_model(str(tiny_model), "sequence", 3, labels=LABELS)
    args = TrainingArguments(output_dir=str(out / "trainer"), max_steps=6, per_device_train_batch_size=16,
                             learning_rate=3e-3, logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
                             disable_tqdm=True, seed=3)
    trainer = Trainer(model=model, args=args, train_dataset=nli_dataset(tokenizer, 64, "en", 1),
                      processing_class=tokenizer, callbacks=[make(tokenizer) for make in callbacks])
    trainer.train()
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


def test_trainer_run_unchanged_and_recorded(tiny_model, tmp_path):
    from tests.tiny import nli_pairs
    from xlingual_probe.probes.parallel import ParallelSample

    sample = ParallelSample.from_texts({lang: [p for p, _, _ in nli_pairs(24, lang, seed=10)]
                                        for lang in ("en", "de", "es")}, size=10)
    alone, shared = tmp_path / "alone", tmp_path / "shared"
    align = lambda run: lambda tok: AlignmentCallback(sample, tok, output_dir=run, every=3, max_length=48)
    with_cb = run_trainer(tiny_model, tmp_path / "a", callbacks=[align(alone)])
    without_cb = run_trainer(tiny_model, tmp_path / "b")
    assert with_cb == without_cb  # the callback leaves training alone
    records = read_jsonl(alone / "alignment.jsonl")
    assert sorted({r["step"] for r in records}) == [0, 3, 6] and set(records[0]) == FIELDS
    assert read_json(alone / "config.json")["alignment_probe"]["every"] == 3  # alone: a minimal config.json

    # with a GapCallback listed after it (which starts the run directory in its on_train_begin)
    gap = lambda tok: GapCallback({lang: nli_dataset(tok, 12, lang, 10) for lang in ("en", "de")},
                                  output_dir=shared, eval_every=3)
    run_trainer(tiny_model, tmp_path / "c", callbacks=[align(shared), gap])
    assert without(read_jsonl(shared / "alignment.jsonl"), "align_seconds") == without(records, "align_seconds")
    assert [r["step"] for r in read_jsonl(shared / "metrics.jsonl")] == [3, 6]
    assert read_json(shared / "config.json")["source"].startswith("transformers.Trainer (GapCallback)")


def test_bad_options_are_user_errors():
    for bad in ({"every": 0}, {"size": 2}, {"retrieval": "bleu"}, {"k": 0}):
        with pytest.raises(UserError):
            AlignmentProbeConfig(**bad)


def test_a_non_parallel_task_stops_before_training(tiny_model, tiny_data, tmp_path):
    config = TrainConfig(model=str(tiny_model), task="panx", out=str(tmp_path / "run"), data_dir=str(tiny_data),
                         max_steps=2)
    with pytest.raises(UserError, match="not parallel"):
        train(config, callbacks=[AlignmentProbe()], show_progress=False)
