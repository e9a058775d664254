"""Tokenizer, monolingual corpus and MLM pre-training of the synthetic world's encoder.

The encoder is an ``XLMRobertaForMaskedLM`` with a small hidden size and XLM-R base's depth
(12 layers; 4 in preset ``shallow``), pre-trained with masked language modelling on monolingual
text of every language of the world (no parallel text): sentences of one language are packed into
sequences (two-sentence passages in the sentence-pair template),
15% of the tokens are selected (80% ``<mask>``, 10% random, 10% kept), AdamW with linear warm-up
and decay. The only things languages share are the syllables their words are made of, the
anchor names and the punctuation — which is exactly what makes transfer graded by distance.

The tokenizer is a Hugging Face ``PreTrainedTokenizerFast`` built with the ``tokenizers`` library:
a WordPiece model whose vocabulary is the syllable inventory (``ka`` word-initially, ``##ka``
inside a word) plus punctuation, after a BERT pre-tokenizer (whitespace and punctuation). Every
word is a sequence of CV syllables, so segmentation is unique and words that share syllables share
pieces. It uses XLM-R's special tokens and templates (``<s> A </s>``, ``<s> A </s></s> B </s>``).

The checkpoint is an ordinary Hugging Face folder (``save_pretrained`` of model and tokenizer, plus
``world.json`` with the :class:`WorldConfig` and ``pretrain_log.json``), cached under
``<cache root>/synthetic/<config hash>`` (``$XPROBE_CACHE``, else ``$XDG_CACHE_HOME/xprobe``, else
``~/.cache/xprobe``; :func:`~xlingual_probe.utils.cache.cache_dir`) and built atomically
(in a temporary folder, then renamed; temporary folders of killed builds are removed by the next
build of the same world). :func:`resolve_synthetic_model` maps ``"synthetic"`` or
``"synthetic:<preset>"`` to that folder, building it on first use.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaForMaskedLM

from xlingual_probe.synthetic.world import (
    ADVERBS,
    PUNCTUATION,
    SYLLABLES,
    PretrainConfig,
    World,
    WorldConfig,
    build_world,
    sentence_text,
)
from xlingual_probe.utils.cache import cache_dir
from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.io import atomic_write_json

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3 as in XLM-R; <mask> is the last id


def build_tokenizer() -> PreTrainedTokenizerFast:
    """The syllable WordPiece tokenizer (fixed vocabulary: it needs no training corpus).

    >>> tok = build_tokenizer()
    >>> tok.tokenize("kalomi visits.")[:3]
    ['ka', '##lo', '##mi']
    """
    digits = [str(d) for d in range(10)]
    pieces = SPECIAL_TOKENS + SYLLABLES + [f"##{s}" for s in SYLLABLES] + PUNCTUATION + digits
    pieces += [f"##{d}" for d in digits] + ["<mask>"]
    vocab = {piece: i for i, piece in enumerate(pieces)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="<unk>", continuing_subword_prefix="##",
                                     max_input_chars_per_word=200))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", vocab["<s>"]), ("</s>", vocab["</s>"])])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", model_max_length=512,
        model_input_names=["input_ids", "attention_mask"])


def corpus_items(world: World, lang: str, n: int) -> list[tuple[str, ...]]:
    """``n`` monolingual corpus items of ``lang``: one sentence, or a two-sentence passage.

    Single facts (35%), two conjoined facts (15%), questions (10%), and two-sentence passages (40%)
    in which the first sentence states one to three facts and the second speaks about one of them
    again: restated (possibly with the other verb), denied, or with one participant replaced. Passages
    are ordinary monolingual text (texts come back to what they said) laid out as sentence pairs
    (``<s> A </s></s> B </s>``, up to ``2 * seq_len`` tokens). Finding which fact the second sentence
    is about needs matching words across sentences (measured effects on an earlier NLI design:
    ``analyses/synthetic-nli``).
    Each language gets its own random facts (seeded by language): the corpora are not parallel.
    """
    rng = random.Random(f"corpus:{world.config.seed}:{lang}")
    out: list[tuple[str, ...]] = []
    for _ in range(n):
        kind = rng.random()
        adverb = rng.choice(ADVERBS) if rng.random() < 0.4 else None
        if kind < 0.35:
            fact = world.random_fact(rng, negated=rng.random() < 0.3)
            out.append((sentence_text(world.realise(fact, lang, synonym=rng.randrange(2), adverb=adverb).words),))
        elif kind < 0.5:
            clauses = [world.realise(world.random_fact(rng, negated=rng.random() < 0.3), lang,
                                     synonym=rng.randrange(2), adverb=adverb if i == 0 else None)
                       for i in range(2)]
            out.append((sentence_text(world.conjoin(clauses, lang).words),))
        elif kind < 0.6:
            fact = world.random_fact(rng)
            ask = rng.choice(["subject", "object"])
            out.append((sentence_text(world.realise(fact, lang, synonym=rng.randrange(2), ask=ask).words, "?"),))
        else:
            facts = [world.random_fact(rng, negated=rng.random() < 0.3) for _ in range(rng.choice([1, 2, 2, 3]))]
            fact = rng.choice(facts)
            again = rng.random()
            if again < 0.3:
                second = replace(fact, negated=not fact.negated)
            elif again < 0.6:
                role = rng.choice(["subject", "object"])
                etype = world.entity_types[getattr(fact, role)]
                second = replace(fact, **{role: rng.choice(world.entities_of(etype))})
            else:
                second = fact
            first = world.conjoin([world.realise(f, lang, synonym=rng.randrange(2), adverb=adverb if i == 0 else None)
                                   for i, f in enumerate(facts)], lang).words
            out.append((sentence_text(first), sentence_text(world.realise(second, lang, synonym=rng.randrange(2)).words)))
    return out


def corpus_sentences(world: World, lang: str, n: int) -> list[str]:
    """The corpus items of :func:`corpus_items` as plain text (a passage's sentences joined by a space)."""
    return [" ".join(item) for item in corpus_items(world, lang, n)]


def packed_sequences(world: World, tokenizer, cfg: PretrainConfig) -> list[list[int]]:
    """Token ids of every language's corpus: consecutive single sentences packed up to ``cfg.seq_len``
    tokens (``<s> … </s>``); each passage is a sequence of its own in the sentence-pair template."""
    sequences = []
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    for lang in world.languages:
        items = corpus_items(world, lang, cfg.sentences_per_language)
        current: list[int] = []
        for item in items:
            if len(item) == 2:
                ids = tokenizer(item[0], item[1], add_special_tokens=True)["input_ids"]
                sequences.append(ids if len(ids) <= 2 * cfg.seq_len else ids[: 2 * cfg.seq_len - 1] + [eos])
                continue
            sent = tokenizer(item[0], add_special_tokens=False)["input_ids"]
            if current and len(current) + len(sent) + 2 > cfg.seq_len:
                sequences.append([bos] + current + [eos])
                current = []
            current = current + sent[: cfg.seq_len - 2]
        if current:
            sequences.append([bos] + current + [eos])
    return sequences


def model_config(world_config: WorldConfig, tokenizer) -> XLMRobertaConfig:
    cfg = world_config.pretrain
    return XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden, num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads, intermediate_size=cfg.ffn_mult * cfg.hidden,
        max_position_embeddings=514, type_vocab_size=1, hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)


def mask_tokens(input_ids: torch.Tensor, tokenizer, mask_prob: float, generator: torch.Generator
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of ``input_ids`` ``[batch, seq]``: returns (masked inputs, labels with -100 elsewhere)."""
    labels = input_ids.clone()
    special = input_ids < len(SPECIAL_TOKENS)  # <s>, <pad>, </s>, <unk>
    selected = (torch.rand(input_ids.shape, generator=generator) < mask_prob) & ~special
    labels[~selected] = -100
    inputs = input_ids.clone()
    roll = torch.rand(input_ids.shape, generator=generator)
    inputs[selected & (roll < 0.8)] = tokenizer.mask_token_id
    random_ids = torch.randint(len(SPECIAL_TOKENS), tokenizer.mask_token_id, input_ids.shape, generator=generator)
    swap = selected & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = random_ids[swap]
    return inputs, labels


def default_threads() -> int:
    """CPU threads of pre-training: ``$XPROBE_SYNTHETIC_THREADS``, else 2 (a quiet laptop's 2 cores).

    On a machine shared with other jobs, 1 thread avoids the 5–10× slow-down of oversubscribed threads.
    """
    value = os.environ.get("XPROBE_SYNTHETIC_THREADS", "2")
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise UserError(f"XPROBE_SYNTHETIC_THREADS must be a positive integer, not {value!r}")
    return threads


def pretrain(world: World, out_dir: str | os.PathLike, *, progress: bool = True, threads: int | None = None) -> dict:
    """Pre-train the world's encoder with MLM and save model + tokenizer to ``out_dir``.

    Uses ``threads`` CPU threads (default :func:`default_threads`; restored afterwards). Returns
    the log also written to ``pretrain_log.json``: per-interval MLM loss, the final loss and the
    seconds taken.

    >>> from xlingual_probe.synthetic.presets import PRESETS
    >>> log = pretrain(build_world(PRESETS["tiny"]), "/tmp/tiny-world")  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    cfg = world.config.pretrain
    start = time.time()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads or default_threads())
    try:
        torch.manual_seed(cfg.seed)
        tokenizer = build_tokenizer()
        sequences = packed_sequences(world, tokenizer, cfg)
        model = XLMRobertaForMaskedLM(model_config(world.config, tokenizer))
        decay = [p for n, p in model.named_parameters() if p.ndim > 1 and "LayerNorm" not in n]
        no_decay = [p for n, p in model.named_parameters() if not (p.ndim > 1 and "LayerNorm" not in n)]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: min(
            (t + 1) / max(cfg.warmup, 1), max(0.0, (cfg.steps - t) / max(cfg.steps - cfg.warmup, 1))))
        generator = torch.Generator().manual_seed(cfg.seed)
        order_rng = random.Random(cfg.seed)
        order: list[int] = []
        log: dict = {"losses": [], "sequences": len(sequences)}
        model.train()
        running, bar = [], tqdm(range(cfg.steps), desc="pre-training synthetic encoder", disable=not progress)
        for step in bar:
            if len(order) < cfg.batch_size:
                order = list(range(len(sequences)))
                order_rng.shuffle(order)
            batch = [sequences[order.pop()] for _ in range(cfg.batch_size)]
            width = max(len(s) for s in batch)
            ids = torch.full((len(batch), width), tokenizer.pad_token_id)
            for i, s in enumerate(batch):
                ids[i, : len(s)] = torch.tensor(s)
            inputs, labels = mask_tokens(ids, tokenizer, cfg.mask_prob, generator)
            loss = model(input_ids=inputs, attention_mask=(ids != tokenizer.pad_token_id).long(), labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            if not math.isfinite(loss.item()):
                raise UserError(f"pre-training diverged at update {step + 1} (loss {loss.item()}); lower the lr")
            running.append(loss.item())
            if len(running) == 100 or step == cfg.steps - 1:
                log["losses"].append({"step": step + 1, "loss": sum(running) / len(running)})
                bar.set_postfix(loss=f"{log['losses'][-1]['loss']:.3f}")
                running = []
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
        log.update(final_loss=log["losses"][-1]["loss"], seconds=round(time.time() - start, 1),
                   config_hash=world.config.config_hash())
        atomic_write_json(out_dir / "world.json", world.config.to_dict())
        atomic_write_json(out_dir / "pretrain_log.json", log)
        return log
    finally:
        torch.set_num_threads(previous_threads)


def cache_root() -> Path:
    """``<cache root>/synthetic``: see :func:`xlingual_probe.utils.cache.cache_dir`."""
    return cache_dir("synthetic")


STALE_BUILD_SECONDS = 6 * 3600  # the default world builds in ~3 minutes on 2 CPU cores


def _build_prefix(final: Path) -> str:
    """Name prefix of the temporary folders that builds of ``final`` use (beside it)."""
    return f".{final.name}."


def remove_stale_builds(final: Path, max_age_s: float = STALE_BUILD_SECONDS) -> None:
    """Delete the temporary build folders of ``final`` last modified more than ``max_age_s`` seconds
    ago: a killed build cannot clean up after itself, and a build still running after that long is
    not expected."""
    for tmp in final.parent.glob(_build_prefix(final) + "*"):
        if tmp.is_dir() and time.time() - tmp.stat().st_mtime > max_age_s:
            shutil.rmtree(tmp, ignore_errors=True)


def ensure_pretrained(config: WorldConfig, *, progress: bool = True, threads: int | None = None) -> Path:
    """The cached checkpoint folder of ``config``, pre-training it first if it is missing (and removing
    what killed builds of it left behind, see :func:`remove_stale_builds`)."""
    final = cache_root() / config.config_hash()
    if (final / "world.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(final)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=_build_prefix(final)))
    try:
        pretrain(build_world(config), tmp, progress=progress, threads=threads)
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / "world.json").is_file():  # another process won the race only if it finished
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def is_synthetic_name(name: str) -> bool:
    return name == "synthetic" or name.startswith("synthetic:")


def resolve_synthetic_model(name_or_path: str, *, progress: bool = True, threads: int | None = None) -> str:
    """Map ``"synthetic"`` / ``"synthetic:<preset>"`` to its cached checkpoint path (built if missing).

    Any other name or path is returned unchanged, so callers can pass every ``--model`` through it.

    Raises:
        UserError: for an unknown preset.
    """
    if not is_synthetic_name(name_or_path):
        return name_or_path
    return str(ensure_pretrained(_preset_of(name_or_path), progress=progress, threads=threads))


def _preset_of(name: str) -> WorldConfig:
    from xlingual_probe.synthetic.presets import get_preset

    return get_preset(name.partition(":")[2] or "default")


def load_world_config(path: str | os.PathLike) -> WorldConfig | None:
    """The :class:`WorldConfig` stored with a synthetic checkpoint, or None for other models."""
    from xlingual_probe.utils.io import read_json

    file = Path(path).expanduser() / "world.json"
    return WorldConfig.from_dict(read_json(file)) if file.is_file() else None


def world_of_model(name_or_path: str) -> WorldConfig | None:
    """The world a ``--model`` was pre-trained on: a preset's config for ``synthetic[:<preset>]`` (nothing
    is built), the stored ``world.json`` for a checkpoint folder, None for any other model."""
    return _preset_of(name_or_path) if is_synthetic_name(name_or_path) else load_world_config(name_or_path)

