"""One run on two CPU processes (gloo) against the same run on one.

The tiny model has its dropout switched off, so one and two processes compute the same function and
differ only by floating-point order (shares padded to their own length, gradients averaged by DDP).
Stated tolerance: every logged loss within 1e-4 (absolute) of the one-process run, every language's
score within one example; the evaluation of the same weights (update 0) is identical.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.tiny import tiny_config
from xlingual_probe.training import train
from xlingual_probe.training.slowfast import SlowFastLRPolicy, slowfast_settings
from xlingual_probe.utils.io import read_json, read_jsonl

SETS = {"S_I": "0", "S_II": "0:ffn", "V_I": "1", "V_II": "1:attention"}


class RecordingPolicy(SlowFastLRPolicy):
    """The loop's slow-and-fast policy, also writing what it returns to ``<folder>/rank-<r>.jsonl``."""

    def __init__(self, settings, folder):
        super().__init__(settings)
        self.folder = folder

    def scales(self, step, loss):
        scales, fields = super().scales(step, loss)
        path = Path(self.folder, f"rank-{os.environ.get('RANK', '0')}.jsonl")
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, "loss": loss, "scales": scales, "phase": fields.get("phase")}) + "\n")
        return scales, fields


@pytest.fixture(scope="module")
def deterministic_model(tiny_model, tmp_path_factory):
    folder = shutil.copytree(tiny_model, tmp_path_factory.mktemp("no-dropout") / "model")
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_two_processes_match_one(deterministic_model, tiny_data, tmp_path):
    # 17 examples in batches of 8: every epoch ends with a one-example batch, so one process runs a
    # stand-in; the window of 2 updates lets the policy change phase within the run
    settings = slowfast_settings("slowfast", SETS, window=2, threshold=0.05)
    config = tiny_config(deterministic_model, tiny_data, tmp_path / "one", max_steps=9, eval_every=9, batch_size=8,
                         train_size=17, eval_at_start=True, slowfast=settings, method="slowfast")
    train(config, show_progress=False)
    (tmp_path / "records").mkdir()
    train(config.replace(out=str(tmp_path / "two"), num_processes=2),
          policy=RecordingPolicy(settings, str(tmp_path / "records")), show_progress=False)

    one, two = (read_jsonl(tmp_path / name / "metrics.jsonl") for name in ("one", "two"))
    assert read_json(tmp_path / "two/config.json")["device"]["processes"] == 2
    strip = lambda record: {k: v for k, v in record.items() if k != "eval_seconds"}
    assert strip(one[0]) == strip(two[0])  # the same weights, evaluated by one and by two processes
    n_examples = 48  # per language in the fixture
    for lang, score in one[-1]["metrics"].items():
        assert abs(two[-1]["metrics"][lang] - score) <= 100 / n_examples + 1e-9
    steps_one, steps_two = (read_jsonl(tmp_path / name / "steps.jsonl") for name in ("one", "two"))
    assert [s["loss"] for s in steps_two] == pytest.approx([s["loss"] for s in steps_one], abs=1e-4)
    assert [s["phase"] for s in steps_two] == [s["phase"] for s in steps_one]

    # the policy saw the same loss and chose the same K and phase on both processes
    ranks = [read_jsonl(tmp_path / "records" / f"rank-{r}.jsonl") for r in (0, 1)]
    assert ranks[0] == ranks[1] and len(ranks[0]) == 9
    assert {r["phase"] for r in ranks[0]} >= {1, 2}  # both phases happened
    assert [r["loss"] for r in ranks[0]] == [s["loss"] for s in steps_two]
    assert [r["scales"] for r in ranks[0]] == [s["K"] for s in steps_two]
    # the run directory was written once: one line per update, one summary
    assert [s["step"] for s in steps_two] == list(range(1, 10))
    assert read_json(tmp_path / "two/summary.json")["steps"] == 9


def test_a_user_error_in_the_workers_is_one_line(deterministic_model, tiny_data, tmp_path):
    from xlingual_probe.utils import UserError

    config = tiny_config(deterministic_model, tiny_data, tmp_path / "run", max_steps=2, langs=["xx"], num_processes=2)
    with pytest.raises(UserError, match="xx") as error:
        train(config, show_progress=False)
    assert "\n" not in str(error.value)
