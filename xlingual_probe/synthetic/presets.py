"""Named world configurations: ``synthetic`` (= ``synthetic:default``) and smaller ones for tests.

>>> sorted(PRESETS)
['default', 'shallow', 'small', 'tiny']
>>> get_preset("default").pretrain.layers, get_preset("shallow").pretrain.layers
(12, 4)
"""

from __future__ import annotations

from xlingual_probe.synthetic.world import PretrainConfig, WorldConfig
from xlingual_probe.utils.errors import UserError

PRESETS: dict[str, WorldConfig] = {
    # XLM-R base's depth (12 layers); pre-trains in 3 minutes on 2 CPU cores; synthetic-nli
    # (400 updates, lr 5e-4, 32 s): source 100%, n1-n3 98-99%, n4 (SOV) ~86%, n5 (VSO) ~36%
    "default": WorldConfig(),
    # 4 layers, pre-trains in about a minute: the demo's world (its 15-run sweep fits in minutes)
    "shallow": WorldConfig(pretrain=PretrainConfig(layers=4, steps=1500, warmup=150)),
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
