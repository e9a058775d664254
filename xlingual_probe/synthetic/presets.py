"""Named world configurations: ``synthetic`` (= ``synthetic:default``) and smaller ones for tests.

>>> sorted(PRESETS)
['deep', 'default', 'small', 'tiny']
>>> get_preset("deep").pretrain.layers
12
"""

from __future__ import annotations

from xlingual_probe.synthetic.world import PretrainConfig, WorldConfig
from xlingual_probe.utils.errors import UserError

PRESETS: dict[str, WorldConfig] = {
    # 4 layers; pre-trains in under a minute on 2 CPU cores; synthetic-nli: source ~82%, graded targets
    "default": WorldConfig(),
    # XLM-R base's depth (12 layers); pre-trains in about 2.5 minutes, but fine-tuning on
    # synthetic-nli only learns the hypothesis-only shortcut (~65%) in 300-1000 updates
    "deep": WorldConfig(pretrain=PretrainConfig(layers=12, steps=2000, warmup=200)),
    # 2 layers, shorter pre-training: quicker checks
    "small": WorldConfig(pretrain=PretrainConfig(layers=2, steps=800, warmup=100)),
    # for unit tests of the plumbing only (no meaningful transfer)
    "tiny": WorldConfig(nli_train=300, nli_eval=60, ner_train=200, ner_eval=40, qa_train=200, qa_eval=40,
                        pretrain=PretrainConfig(layers=4, hidden=32, heads=2, steps=20,
                                                sentences_per_language=200, warmup=5)),
}


def get_preset(name: str) -> WorldConfig:
    """The world config of preset ``name`` (raises :class:`UserError` listing the presets)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"unknown synthetic preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}") from None
