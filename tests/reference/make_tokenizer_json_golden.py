#!/usr/bin/env python3
"""Writes tests/data/tokenizer/small_tokenizer.json: Hugging Face `tokenizers`' own tokenizer.json
for small_vocab.txt, configured as bert-base-uncased's (BertWordPieceTokenizer: BertNormalizer
lowercase + strip accents, BertPreTokenizer, WordPiece, [CLS]/[SEP] post-processing). The C++ test
(tests/models/distilbert_test.cpp "[tokenizer-json]") reads its vocabulary and compares it with
small_vocab.txt; it edits the JSON text for the refused variants.

    .venv-bench/bin/python tests/reference/make_tokenizer_json_golden.py [--check]

Any tokenizers 0.2x (committed file: tokenizers 0.23.3 from PyPI, scripts/setup-bench-env.sh).
"""
import argparse
import json
import sys
from pathlib import Path

from tokenizers import BertWordPieceTokenizer

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "tokenizer"


def make():
    tok = BertWordPieceTokenizer(str(DATA / "small_vocab.txt"), lowercase=True)
    text = json.dumps(json.loads(tok.to_str()), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    # The vocabulary must be small_vocab.txt's, line for line.
    vocab = json.loads(text)["model"]["vocab"]
    lines = (DATA / "small_vocab.txt").read_text(encoding="utf-8").split("\n")
    lines = [l.rstrip() for l in lines if l.strip()]
    assert len(set(lines)) == len(vocab) and all(vocab[t] == lines.index(t) for t in vocab), "vocab differs"
    return text


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text, out = make(), DATA / "small_tokenizer.json"
    if args.check:
        same = out.read_text(encoding="utf-8") == text
        print("check:", "ok" if same else "MISMATCH")
        return 0 if same else 1
    out.write_text(text, encoding="utf-8")
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
