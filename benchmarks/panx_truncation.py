"""How many PAN-X gold entities each encoding scores: truncation at ``max_length`` against XTREME's split.

Run on purpose (not in CI); it only tokenises, so it is quick and its counts do not depend on the machine:

    .venv/bin/python benchmarks/panx_truncation.py --model ~/.cache/xprobe-models/multilingual-e5-small \
        --data-dir ../shared/data/panx --max-length 128

For every dev file it reads the sentences as the task does (:func:`~xlingual_probe.tasks.panx.read_conll`)
and counts the gold entities (seqeval's, IOB2) that each encoding leaves intact:

* ``truncate``: the encoding before NUMERICS_VERSION 2 — one feature per sentence cut to ``max_length``;
  words past the cut (and words with no sub-token) had no labelled position and left the gold.
  An entity is lost when any of its words lost its position (it vanished, or was scored cut short).
* ``split``: :meth:`~xlingual_probe.tasks.panx.TokenClassificationTask.encode` now — sentences split at
  word boundaries as XTREME's ``utils_preprocess.py`` does; scoring reads every gold word.

It prints one row per language (sentences, sentences longer than one feature, gold entities, entities
lost by each encoding) and writes the table as JSON with ``--out``.

Measured on ``../shared/data/panx`` (XTREME's dev files) with multilingual-e5-small's XLM-R
SentencePiece tokenizer at ``--max-length 128`` (126 sub-tokens per feature)::

    lang  sentences  long   gold  lost (truncate)  lost (split)
    en        10000     5  14146        31 (0.2%)             0
    fr        10000     4  13156        28 (0.2%)             0
    bg        10000     5  14221        16 (0.1%)             0
    ko        10000     2  14560         3 (0.0%)             0
    ja        10000   867  14105       749 (5.3%)             0
    zh        10000   584  12493       292 (2.3%)             0
    ar de el es hi ru sw ta te tr ur vi: no entity lost either way (vi: 1 long sentence)
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from seqeval.metrics.sequence_labeling import get_entities
from transformers import AutoTokenizer

from xlingual_probe.tasks.panx import PANX_LABELS, PanXTask, first_subtoken_labels, read_conll


def kept_words_truncated(tokenizer, sentences: list[list[str]], max_length: int) -> list[set[int]]:
    """The words that kept a labelled position under plain truncation (the old encoding)."""
    enc = tokenizer(sentences, is_split_into_words=True, truncation=True, max_length=max_length)
    return [set(first_subtoken_labels(enc.word_ids(i), [0] * len(words))[1]) for i, words in enumerate(sentences)]


def kept_words_split(tokenizer, examples, max_length: int) -> list[set[int]]:
    """The words with a labelled position in the word-boundary split (the encoding now)."""
    features = PanXTask().encode(examples, tokenizer, train=False, max_length=max_length)
    kept: list[set[int]] = [set() for _ in range(len(examples))]
    for example, words in zip(features["example_id"], features["word_index"]):
        kept[example].update(words)
    return kept


def count(path: Path, tokenizer, max_length: int) -> dict[str, int]:
    examples = read_conll(path, PANX_LABELS, path.stem.removeprefix("dev-"))  # as the task reads it
    sentences = [list(words) for words in examples["tokens"]]
    tags = [[PANX_LABELS[t] for t in row] for row in examples["ner_tags"]]
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    lengths = [len(ids) for ids in tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)["input_ids"]]
    row = {"sentences": len(sentences), "longer_than_one_feature": sum(n > budget for n in lengths)}
    entities = [get_entities(t) for t in tags]
    row["gold_entities"] = sum(map(len, entities))
    for name, kept in (("truncate", kept_words_truncated(tokenizer, sentences, max_length)),
                       ("split", kept_words_split(tokenizer, examples, max_length))):
        row[f"lost_{name}"] = sum(1 for sentence, ents in zip(kept, entities) for _, start, end in ents
                                  if not set(range(start, end + 1)) <= sentence)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="tokenizer folder or hub name (XLM-R-like)")
    parser.add_argument("--data-dir", required=True, help="folder of PAN-X dev-{lang}.tsv files")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--langs", default=None, help="comma-separated languages (default: every dev file)")
    parser.add_argument("--limit", type=int, default=None, help="first N sentences per language (a quick check)")
    parser.add_argument("--out", default=None, help="write the table as JSON here")
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(str(Path(args.model).expanduser()))
    folder = Path(args.data_dir)
    langs = args.langs.split(",") if args.langs else sorted(p.stem[4:] for p in folder.glob("dev-*.tsv"))
    table = {}
    print(f"{'lang':5s} {'sentences':>9s} {'long':>6s} {'gold':>7s} {'lost (truncate)':>16s} {'lost (split)':>13s}")
    for lang in langs:
        path = folder / f"dev-{lang}.tsv"
        if args.limit:
            blocks = path.read_text(encoding="utf-8").split("\n\n")[:args.limit]
            path = Path(tempfile.mkdtemp()) / f"dev-{lang}.tsv"
            path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
        row = table[lang] = count(path, tokenizer, args.max_length)
        share = 100 * row["lost_truncate"] / max(row["gold_entities"], 1)
        print(f"{lang:5s} {row['sentences']:9d} {row['longer_than_one_feature']:6d} {row['gold_entities']:7d} "
              f"{row['lost_truncate']:9d} ({share:4.1f}%) {row['lost_split']:13d}")
    if args.out:
        Path(args.out).write_text(json.dumps({"model": args.model, "max_length": args.max_length, "langs": table},
                                             indent=2))


if __name__ == "__main__":
    main()
