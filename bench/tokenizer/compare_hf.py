#!/usr/bin/env python3
"""Hugging Face's Rust tokenizer (the `tokenizers` Python binding) on the 50,000 IMDB reviews.

  compare_hf.py --threads 1 [--csv PATH] [--vocab PATH] [--repeat 3] [--tinyxf-ids PATH]

--threads 1: Tokenizer.encode in a loop with TOKENIZERS_PARALLELISM=false.
--threads N: Tokenizer.encode_batch with RAYON_NUM_THREADS=N (set before tokenizers is imported).
No truncation, like tinyxf-bench-tokenizer. Prints
  RESULT impl=hf threads=N docs=D tokens=T bytes=B seconds=S
(best of --repeat) and, with --tinyxf-ids (tinyxf-bench-tokenizer --write-ids), checks that every
review gets identical ids: "IDENTICAL 50000/50000" or the first differences, exit status 1.
"""
import argparse
import csv
import gzip
import io
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--csv", type=Path,
                        default=Path(os.environ.get("TINYXF_IMDB_CSV",
                                                    REPO.parent / "shared" / "data" / "imdb" / "imdb_50k.csv.gz")))
    parser.add_argument("--vocab", type=Path, default=REPO / "share" / "vocab" / "bert-base-uncased-vocab.txt")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tinyxf-ids", type=Path)
    return parser.parse_args()


ARGS = parse_args()
# Both must be set before the binding starts its thread pool.
os.environ["TOKENIZERS_PARALLELISM"] = "false" if ARGS.threads == 1 else "true"
os.environ["RAYON_NUM_THREADS"] = str(ARGS.threads)

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors  # noqa: E402


def read_reviews(path):
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    with raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        assert next(reader) == ["review", "sentiment"]
        return [row[0] for row in reader]


def bert_uncased_tokenizer(vocab_path):
    """distilbert-base-uncased's pipeline (its tokenizer.json; tests/reference/make_tokenizer_golden.py
    asserts the same components) built with the tokenizers library itself: the Rust
    implementation, called directly. (Not transformers' BertTokenizerFast(vocab_file=...), which
    transformers 5 silently ignores.)"""
    vocab = models.WordPiece.read_file(str(vocab_path))
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix="##",
                                           max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                      lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    tokenizer.add_special_tokens([AddedToken(t, normalized=False, special=True)
                                  for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")])
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tokenizer


def main():
    tokenizer = bert_uncased_tokenizer(ARGS.vocab)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    texts = read_reviews(ARGS.csv)
    total_bytes = sum(len(t.encode("utf-8")) for t in texts)
    best, encodings = None, None
    for _ in range(ARGS.repeat):
        start = time.perf_counter()
        if ARGS.threads == 1:
            encodings = [tokenizer.encode(t) for t in texts]
        else:
            encodings = tokenizer.encode_batch(texts)
        seconds = time.perf_counter() - start
        best = seconds if best is None else min(best, seconds)
    tokens = sum(len(e.ids) for e in encodings)
    print(f"RESULT impl=hf threads={ARGS.threads} docs={len(texts)} tokens={tokens} bytes={total_bytes} "
          f"seconds={best:.4f}", flush=True)

    if ARGS.tinyxf_ids:
        differing = []
        with open(ARGS.tinyxf_ids, encoding="ascii") as f:
            ours = [list(map(int, line.split())) for line in f]
        if len(ours) != len(encodings):
            print(f"DIFFERENT: {len(ours)} tinyxf lines for {len(encodings)} reviews")
            sys.exit(1)
        for row, (mine, theirs) in enumerate(zip(ours, encodings), start=1):
            if mine != theirs.ids:
                differing.append(row)
        if differing:
            print(f"DIFFERENT {len(differing)}/{len(encodings)} reviews, first rows: {differing[:10]}")
            sys.exit(1)
        print(f"IDENTICAL {len(encodings)}/{len(encodings)} reviews ({tokens} tokens)")


if __name__ == "__main__":
    main()
