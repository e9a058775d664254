"""Named world configurations: ``synthetic`` (= ``synthetic:default``) and smaller ones for tests.

>>> sorted(PRESETS)
['default', 'small', 'tiny']
>>> get_preset("tiny").pretrain.layers
4
"""

from __future__ import annotations

from xlingual_probe.synthetic.world import PretrainConfig, WorldConfig
from xlingual_probe.utils.errors import UserError

PRESETS: dict[str, WorldConfig] = {
    # 12 layers like XLM-R base; pre-trains in under 5 minutes on 2 CPU cores
    "default": WorldConfig(),
    # 4 layers, shorter pre-training: a transfer check in about a minute
    "small": WorldConfig(pretrain=PretrainConfig(layers=4, steps=700, sentences_per_language=4000)),
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
