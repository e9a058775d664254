"""Tiny offline models and data in the real file formats, for end-to-end tests (no hub needed)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

from xlingual_probe.training import Callback

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
NOUNS = ["cat", "dog", "bird", "fish", "horse", "mouse", "tiger", "lion", "paris", "berlin", "rome", "acme", "globex"]
VERBS = ["sees", "likes", "eats", "finds", "meets"]
FUNCTION = ["the", "a", "not", "does", "and", "who", "what", "where", "is", "in", "of", "?", ".", ","]
# "languages" de/es: the same words with a suffix, so tests can check per-language plumbing
LANGS = {"en": "", "de": "en", "es": "e"}


def word(w: str, lang: str) -> str:
    return w + LANGS[lang] if w.isalpha() else w


def vocabulary() -> list[str]:
    words = NOUNS + VERBS + FUNCTION
    return SPECIALS + sorted({word(w, lang) for w in words for lang in LANGS} | {"##s", "##en", "##e"})


def save_tiny_model(folder: Path, num_layers: int = 2, hidden: int = 32, seed: int = 0) -> Path:
    """A random tiny BERT (weights drawn with ``seed``) and a WordPiece tokenizer over :func:`vocabulary`,
    saved as a HF checkpoint."""
    vocab = {tok: i for i, tok in enumerate(vocabulary())}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=512)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=num_layers, num_attention_heads=2,
                        intermediate_size=hidden * 2, max_position_embeddings=512, pad_token_id=0)
    # seeded: unseeded, the weights depended on how much of torch's global RNG the tests before the
    # fixture had used, so a test's outcome depended on which tests ran first
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        BertForMaskedLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def _fact(rng: random.Random) -> tuple[str, str, str]:
    return rng.choice(NOUNS[:8]), rng.choice(VERBS), rng.choice(NOUNS[:8])


def _sentence(subj: str, verb: str, obj: str, lang: str, negate: bool = False) -> str:
    words = ["the", subj] + (["does", "not"] if negate else []) + [verb, "the", obj, "."]
    return " ".join(word(w, lang) for w in words)


def nli_pairs(n: int, lang: str, seed: int) -> list[tuple[str, str, str]]:
    """Learnable NLI pairs: entailment = same fact, contradiction = negated fact, neutral = other fact."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        subj, verb, obj = _fact(rng)
        label = rng.choice(["entailment", "neutral", "contradiction"])
        premise = _sentence(subj, verb, obj, lang)
        if label == "entailment":
            hyp = _sentence(subj, verb, obj, lang)
        elif label == "contradiction":
            hyp = _sentence(subj, verb, obj, lang, negate=True)
        else:
            other = rng.choice([x for x in NOUNS[:8] if x != obj])
            hyp = _sentence(subj, verb, other, lang)
        rows.append((premise, hyp, label))
    return rows


def write_xnli(folder: Path, n_train: int = 256, n_dev: int = 48) -> Path:
    """``mnli_train.tsv`` (with header) and ``dev-{lang}.tsv`` (no header), as XTREME ships them."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "mnli_train.tsv", "w", encoding="utf-8") as f:
        f.write("sentence1\tsentence2\tlabel\tgenre\n")
        f.writelines(f"{p}\t{h}\t{label}\tfiction\n" for p, h, label in nli_pairs(n_train, "en", seed=1))
    for i, lang in enumerate(LANGS):
        with open(folder / f"dev-{lang}.tsv", "w", encoding="utf-8") as f:
            f.writelines(f"{p}\t{h}\t{label}\n" for p, h, label in nli_pairs(n_dev, lang, seed=10 + i))
    return folder


def xnli_groups(n_premises: int, lang: str, seed: int) -> list[tuple[str, str, str]]:
    """XNLI-shaped rows: each premise three times in a row, with an entailed, a neutral and a contradicting
    hypothesis; the same facts for every language given the seed (parallel row for row, as XNLI)."""
    rng = random.Random(seed)
    facts = rng.sample([(s, v, o) for s in NOUNS[:8] for v in VERBS for o in NOUNS[:8]], n_premises)  # no repeats
    rows = []
    for subj, verb, obj in facts:
        other = rng.choice([x for x in NOUNS[:8] if x != obj])
        premise = _sentence(subj, verb, obj, lang)
        rows += [(premise, _sentence(subj, verb, obj, lang), "entailment"),
                 (premise, _sentence(subj, verb, other, lang), "neutral"),
                 (premise, _sentence(subj, verb, obj, lang, negate=True), "contradiction")]
    return rows


def write_grouped_xnli(root: Path, n_train: int = 96, n_dev: int = 20, n_test: int = 10) -> Path:
    """``root/xnli`` (``mnli_train.tsv``, parallel ``dev-{lang}.tsv`` of ``n_dev`` premise groups of three rows)
    and ``root/xnli_test/test-{lang}.tsv`` (labelled, ``n_test`` groups), laid out like ../shared/data.
    (:func:`write_parallel_xnli` writes parallel dev rows without the premise groups or test files.)"""
    folder = root / "xnli"
    folder.mkdir(parents=True, exist_ok=True)
    (root / "xnli_test").mkdir(exist_ok=True)
    with open(folder / "mnli_train.tsv", "w", encoding="utf-8") as f:
        f.write("sentence1\tsentence2\tlabel\tgenre\n")
        f.writelines(f"{p}\t{h}\t{label}\tfiction\n" for p, h, label in nli_pairs(n_train, "en", seed=1))
    for lang in LANGS:
        for path, groups, seed in ((folder / f"dev-{lang}.tsv", n_dev, 2), (root / "xnli_test" / f"test-{lang}.tsv",
                                                                           n_test, 3)):
            path.write_text("".join(f"{p}\t{h}\t{label}\n" for p, h, label in xnli_groups(groups, lang, seed)),
                            encoding="utf-8")
    return root


def write_parallel_xnli(root: Path, n_dev: int = 48) -> Path:
    """``root/xnli`` as :func:`write_xnli`, but dev sets that are translations row for row (the same pairs in
    each language's word forms), like XNLI's 15-way parallel dev set. Returns ``root``."""
    folder = write_xnli(root / "xnli")
    for lang in LANGS:
        with open(folder / f"dev-{lang}.tsv", "w", encoding="utf-8") as f:
            f.writelines(f"{p}\t{h}\t{label}\n" for p, h, label in nli_pairs(n_dev, lang, seed=10))
    return root


def ner_sentences(n: int, lang: str, seed: int) -> list[list[tuple[str, str]]]:
    """Sentences whose animal nouns are PER, city nouns LOC, company nouns ORG."""
    rng = random.Random(seed)
    kinds = {"paris": "LOC", "berlin": "LOC", "rome": "LOC", "acme": "ORG", "globex": "ORG"}
    out = []
    for _ in range(n):
        subj, verb = rng.choice(NOUNS), rng.choice(VERBS)
        obj = rng.choice(NOUNS)
        sent = []
        for w in ["the", subj, verb, "the", obj, "."]:
            tag = "O"
            if w in NOUNS:
                tag = "B-" + kinds.get(w, "PER")
            sent.append((word(w, lang), tag))
        out.append(sent)
    return out


def write_panx(folder: Path, n_train: int = 200, n_dev: int = 40) -> Path:
    """``train-en.tsv`` and ``dev-{lang}.tsv``: ``token<TAB>tag`` lines, blank line between sentences."""
    folder.mkdir(parents=True, exist_ok=True)

    def dump(path: Path, sentences: list[list[tuple[str, str]]]) -> None:
        path.write_text("\n\n".join("\n".join(f"{t}\t{g}" for t, g in s) for s in sentences) + "\n", encoding="utf-8")

    dump(folder / "train-en.tsv", ner_sentences(n_train, "en", 1))
    for i, lang in enumerate(LANGS):
        dump(folder / f"dev-{lang}.tsv", ner_sentences(n_dev, lang, 10 + i))
    return folder


def squad_json(n: int, lang: str, seed: int) -> dict:
    """SQuAD-v1.1 JSON: 'the X verb the Y .' contexts; the question asks who verbs the Y."""
    rng = random.Random(seed)
    paragraphs = []
    for i in range(n):
        facts = [_fact(rng) for _ in range(3)]
        context = " ".join(_sentence(*f, lang) for f in facts)
        subj, verb, obj = facts[rng.randrange(3)]
        answer = word(subj, lang)
        start = context.index(" ".join([word("the", lang), answer, word(verb, lang)])) + len(word("the", lang)) + 1
        question = " ".join(word(w, lang) for w in ["who", verb, "the", obj, "?"])
        paragraphs.append({"context": context, "qas": [{"id": f"{lang}-{seed}-{i}", "question": question,
                                                        "answers": [{"text": answer, "answer_start": start}]}]})
    return {"version": "1.1", "data": [{"title": "tiny", "paragraphs": paragraphs}]}


def write_qa(folder: Path, n_train: int = 200, n_dev: int = 30) -> Path:
    """``tydiqa/tydiqa.goldp.en.train.json`` and ``mlqa/dev-context-{l}-question-{l}.json`` as in XTREME."""
    (folder / "tydiqa").mkdir(parents=True, exist_ok=True)
    (folder / "mlqa").mkdir(parents=True, exist_ok=True)
    (folder / "tydiqa" / "tydiqa.goldp.en.train.json").write_text(json.dumps(squad_json(n_train, "en", 1)))
    for i, lang in enumerate(LANGS):
        path = folder / "mlqa" / f"dev-context-{lang}-question-{lang}.json"
        path.write_text(json.dumps(squad_json(n_dev, lang, 10 + i)))
    return folder


def tiny_config(model, data, out, **overrides):
    """A TrainConfig for a few fast updates of the tiny model on the fixture XNLI data."""
    from xlingual_probe.training import TrainConfig

    values = {"model": str(model), "task": "xnli", "out": str(out), "data_dir": str(data), "max_steps": 40,
              "batch_size": 16, "lr": 5e-3, "eval_every": 20, "warmup_ratio": 0.1, "seed": 1,
              "eval_batch_size": 32, "save_best": False}
    return TrainConfig(**{**values, **overrides})


def kill_at(step: int):
    """A callback that raises KeyboardInterrupt (as Ctrl-C would) after update ``step``."""
    from xlingual_probe.training import Callback

    class KillAt(Callback):
        def on_step_end(self, ctx, current, loss, batch):
            if current == step:
                raise KeyboardInterrupt

    return KillAt()


class RecordStart(Callback):
    """A picklable callback: appends ``<run directory name> <start step>`` to ``path`` when a run starts
    training (in whichever process runs it)."""

    def __init__(self, path):
        self.path = str(path)

    def on_train_begin(self, ctx, start_step):
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{ctx.files.root.name} {start_step}\n")


class StopOnce(RecordStart):
    """A picklable callback that, once across all processes (a marker file), stops the first run reaching
    update ``step`` of a run whose directory name contains ``match``: ``signal`` sends that signal to its
    own process (SIGKILL: a killed worker; SIGUSR2: Slurm's pre-emption notice), else it raises
    ``RuntimeError`` (a run that fails)."""

    def __init__(self, path, step, match="", signal=None):
        super().__init__(path)
        self.step, self.match, self.signal = step, match, signal

    def on_step_end(self, ctx, step, loss, batch):
        import os

        if step != self.step or self.match not in ctx.files.root.name:
            return
        try:
            os.close(os.open(self.path + ".stopped", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        if self.signal is None:
            raise RuntimeError(f"boom at update {step}")
        os.kill(os.getpid(), self.signal)


# 1 CPU thread per run in every executor: the thread count is part of a run's config and numbers
FOUR_RUNS = {"task": "xnli", "max_steps": 4, "eval_every": 2, "batch_size": 8, "eval_batch_size": 32, "lr": 3e-3,
             "train_size": 32, "eval_size": 12, "save_best": False, "threads": 1}


def four_run_sweep(model, data, out):
    """A 4-run layer sweep (DF and freeze-L1, seeds 1 and 2) for the executor tests; checkpoints at update
    2, so a run stopped at update 3 resumes from update 2."""
    from xlingual_probe.experiments.sweep import SweepConfig

    return SweepConfig(train={"model": str(model), "data_dir": str(data), **FOUR_RUNS}, out=str(out),
                       seeds=[1, 2], experiments=["freeze"], layers="1")


class NonFiniteLossAt(Callback):
    """Fault injection: the training loss of the given updates becomes ``value`` (gradients included)."""

    def __init__(self, steps: set[int], value: float = math.nan):
        self.steps, self.value = steps, value

    def on_train_begin(self, ctx, start_step):
        model, forward, counter = ctx.model, ctx.model.forward, {"step": start_step}

        def poisoned(*args, **kwargs):
            outputs = forward(*args, **kwargs)
            if model.training:
                counter["step"] += 1
                if counter["step"] in self.steps:
                    outputs.loss = outputs.loss * self.value
            return outputs

        model.forward = poisoned
