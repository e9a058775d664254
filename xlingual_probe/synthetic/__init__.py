"""A synthetic multilingual world in which zero-shot cross-lingual transfer really happens.

Languages built from one meaning space and a shared syllable inventory, at graded distances from
the source ``en`` (targets ``n1`` … ``n5``, near → far); a small XLM-R-style encoder with
12 layers (4 in preset ``shallow``) pre-trained with MLM on their monolingual text; and three downstream tasks in the schemas of XNLI,
PAN-X and MLQA (``synthetic-nli``, ``synthetic-ner``, ``synthetic-qa``). The model is an ordinary
Hugging Face checkpoint: ``resolve_synthetic_model("synthetic")`` returns its cached folder.

>>> world = build_world(get_preset("default"))
>>> world.languages[0], world.config.languages[-1].mutation
('en', 0.6)
"""

from xlingual_probe.synthetic.examples import NER_LABELS, NLI_LABELS, ner_examples, nli_examples, qa_examples
from xlingual_probe.synthetic.presets import PRESETS, get_preset
from xlingual_probe.synthetic.pretrain import (
    build_tokenizer,
    cache_root,
    ensure_pretrained,
    is_synthetic_name,
    load_world_config,
    pretrain,
    resolve_synthetic_model,
)
from xlingual_probe.synthetic.world import (
    DEFAULT_LANGUAGES,
    Fact,
    LanguageSpec,
    PretrainConfig,
    World,
    WorldConfig,
    build_world,
)

__all__ = [
    "DEFAULT_LANGUAGES",
    "NER_LABELS",
    "NLI_LABELS",
    "PRESETS",
    "Fact",
    "LanguageSpec",
    "PretrainConfig",
    "World",
    "WorldConfig",
    "build_tokenizer",
    "build_world",
    "cache_root",
    "ensure_pretrained",
    "get_preset",
    "is_synthetic_name",
    "load_world_config",
    "ner_examples",
    "nli_examples",
    "pretrain",
    "qa_examples",
    "resolve_synthetic_model",
]
