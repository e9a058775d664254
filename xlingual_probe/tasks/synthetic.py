"""The synthetic world's downstream tasks, registered as ``synthetic-nli``, ``synthetic-ner``, ``synthetic-qa``.

Each subclasses the benchmark task whose schema it copies (XNLI's sentence-pair classification,
PAN-X's token classification, MLQA's extractive QA) and only overrides ``load``: examples are
generated from the world config (no files; ``DataOptions.data_dir`` is ignored). The training split
is in the source language only; the ``validation`` split (evaluation, split into held-out halves) and
the ``test`` split (scored for reporting, generated from another seed) exist in every language and are
parallel across languages row for row (a row's id is its number). ``train_size`` / ``eval_size`` /
``test_size`` set how many examples are generated (defaults from the :class:`WorldConfig`; the test
split defaults to the evaluation size), and ``langs``, ``source_lang``, ``few_shot`` and ``test`` work
as for the real benchmarks.

With a synthetic model (a preset name, or a checkpoint folder with its ``world.json``),
:meth:`~SyntheticTaskMixin.for_model` returns the task over that model's own world; any other model
gets the default world.

>>> from xlingual_probe.tasks import get_task
>>> data = get_task("synthetic-nli").load(DataOptions(train_size=30, eval_size=6, langs=["n1"]))
>>> list(data.eval), len(data.train), data.labels
(['en', 'n1'], 30, ['entailment', 'neutral', 'contradiction'])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import datasets

from xlingual_probe.synthetic.examples import NER_LABELS, NLI_LABELS, ner_examples, nli_examples, qa_examples
from xlingual_probe.synthetic.presets import get_preset
from xlingual_probe.synthetic.pretrain import world_of_model
from xlingual_probe.synthetic.world import DEFAULT_LANGUAGES, World, WorldConfig, build_world
from xlingual_probe.tasks._base import (
    TASKS,
    DataOptions,
    TaskData,
    finish_task_data,
    load_test_sets,
    resolve_languages,
)
from xlingual_probe.tasks._splits import row_number_keys
from xlingual_probe.tasks.classification import SentenceClassificationTask
from xlingual_probe.tasks.panx import TokenClassificationTask, token_features
from xlingual_probe.tasks.qa import QATask
from xlingual_probe.tasks.qa_data import QA_FEATURES

Generator = Callable[[World, str, int, str], list[dict]]


class SyntheticTaskMixin:
    """World handling and loading shared by the three synthetic tasks.

    Args:
        config: the world (default: preset ``default``; every preset shares its lexicon and languages).
    """

    name: ClassVar[str]
    generate: ClassVar[Generator]
    size_fields: ClassVar[tuple[str, str]]  # WorldConfig fields of the default train / eval sizes
    label_list: ClassVar[list[str] | None] = None
    languages: ClassVar[tuple[str, ...]] = tuple(spec.code for spec in DEFAULT_LANGUAGES)  # default world
    parallel = "rows"  # every language realises the same meanings in the same order

    def __init__(self, config: WorldConfig | None = None):
        self.config = config or get_preset("default")
        self._world: World | None = None

    def for_model(self, model: str):
        """This task over ``model``'s own world when it is a synthetic model, else itself."""
        world = world_of_model(model)
        return self if world is None else type(self)(config=world)

    @property
    def world(self) -> World:
        if self._world is None:
            self._world = build_world(self.config)
        return self._world

    def features(self) -> datasets.Features | None:
        return None

    def load(self, opts: DataOptions) -> TaskData:
        world = self.world
        langs = resolve_languages(world.languages, opts, self.name)
        n_train = opts.train_size or getattr(self.config, self.size_fields[0])
        n_eval = opts.eval_size or getattr(self.config, self.size_fields[1])
        gen = type(self).generate
        features = self.features()

        def split(name: str, n: int, lang: str) -> datasets.Dataset:
            return datasets.Dataset.from_list(gen(world, name, n, lang), features=features)

        train = split("train", n_train, opts.source_lang)
        # few-shot examples leave the evaluation split, so generate them on top of eval_size
        eval_sets = {lang: split("validation", n_eval + max(opts.few_shot, 0), lang) for lang in langs}
        test = load_test_sets(langs, opts, self.name, lambda lang: split("test", opts.test_size or n_eval, lang))
        return finish_task_data(train, eval_sets, opts, self.label_list, keys=row_number_keys, test=test)


@TASKS.register("synthetic-nli")
class SyntheticNLITask(SyntheticTaskMixin, SentenceClassificationTask):
    """Sentence-pair inference (entailment / neutral / contradiction) in the synthetic world."""

    name = "synthetic-nli"
    generate = staticmethod(nli_examples)
    text_fields = (("premise", "text"), ("hypothesis", "text_pair"))
    size_fields = ("nli_train", "nli_eval")
    label_list = NLI_LABELS

    def features(self) -> datasets.Features:
        return datasets.Features({"text": datasets.Value("string"), "text_pair": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=NLI_LABELS)})


@TASKS.register("synthetic-ner")
class SyntheticNERTask(SyntheticTaskMixin, TokenClassificationTask):
    """Entity tagging (IOB2, PER/ORG/LOC) in the synthetic world."""

    name = "synthetic-ner"
    generate = staticmethod(ner_examples)
    size_fields = ("ner_train", "ner_eval")
    labels = NER_LABELS
    label_list = NER_LABELS

    def features(self) -> datasets.Features:
        return token_features(NER_LABELS)


@TASKS.register("synthetic-qa")
class SyntheticQATask(SyntheticTaskMixin, QATask):
    """Extractive span QA (who / where / what questions about a context of facts) in the synthetic world."""

    name = "synthetic-qa"
    generate = staticmethod(qa_examples)
    size_fields = ("qa_train", "qa_eval")
    default_max_length: ClassVar[int] = 256  # contexts are short; the encoder has 512 positions

    def features(self) -> datasets.Features:
        return QA_FEATURES
