#!/usr/bin/env python3
"""Writes tests/data/golden/tokenizer_save/: what transformers' tokenizer.save_pretrained writes for
a small BERT vocabulary with padding_side / truncation_side "left" and model_max_length 16
(tokenizer.json, tokenizer_config.json; vocab.txt is the input), and expected.json: the ids and
attention masks AutoTokenizer.from_pretrained of that folder gives. tests/models/
tokenizer_sides_test.cpp "[tokenizer-save]" compares models::save_pretrained_tokenizer's files and
the tokenizer it reads back with them.

    .venv-bench/bin/python tests/reference/make_tokenizer_save_golden.py [--check]

Committed files: transformers 5.25, tokenizers 0.23.3 (scripts/setup-bench-env.sh).
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

from golden_files import write_or_check_files
from transformers import AutoTokenizer, BertTokenizer

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "golden" / "tokenizer_save"
TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "a", "much", "long", "##er",
          "sentence", "here", ",", ".", "!", "x", "##x"]
TEXTS = ["Hello world!", "a much longer sentence here, x xx.", "Hello [MASK] world"]


def make():
    vocab = "\n".join(TOKENS) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        src, saved = Path(tmp) / "src", Path(tmp) / "saved"
        src.mkdir()
        (src / "vocab.txt").write_text(vocab, encoding="utf-8")
        tok = BertTokenizer.from_pretrained(src, padding_side="left", truncation_side="left", model_max_length=16)
        tok.save_pretrained(saved)
        files = {name: (saved / name).read_text(encoding="utf-8") for name in ("tokenizer.json", "tokenizer_config.json")}
        back = AutoTokenizer.from_pretrained(saved)
        assert (back.padding_side, back.truncation_side, back.model_max_length) == ("left", "left", 16)
        padded = back(TEXTS, padding=True)
        truncated = back(TEXTS[1], truncation=True, max_length=6)
    files["vocab.txt"] = vocab
    files["expected.json"] = json.dumps({"texts": TEXTS, "padded_ids": padded["input_ids"],
                                         "padded_mask": padded["attention_mask"], "truncated_text": TEXTS[1],
                                         "truncated_max_length": 6, "truncated_ids": truncated["input_ids"]}) + "\n"
    return files


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    return write_or_check_files(OUT, make(), parser.parse_args().check)


if __name__ == "__main__":
    sys.exit(main())
