#!/usr/bin/env python3
"""Writes tests/data/tokenizer/pairs.jsonl: text pairs ([CLS] A [SEP] B [SEP], token type ids 0/1)
through Hugging Face `tokenizers`, set up as bert-base-uncased's tokenizer.json (BertNormalizer
lowercase, BertPreTokenizer, WordPiece, TemplateProcessing "[CLS] $A [SEP] $B:1 [SEP]:1"), with
every truncation strategy (longest_first, only_first, only_second) and direction (right, left),
padding, and with and without special tokens. The first line holds the pairs, each later line one
configuration's results, pair by pair. A pair that a strategy cannot fit records the error
instead of ids. The C++ test: tests/text/tokenizer_golden_test.cpp "[pairs]".

    .venv-bench/bin/python tests/reference/make_tokenizer_pair_golden.py [--check]

tokenizers 0.23.3 from PyPI (scripts/setup-bench-env.sh). transformers 5's
BertTokenizerFast(vocab_file=...) ignores the file, so the tokenizer is built here from its parts.
Deterministic: rerunning gives a byte-identical file.
"""
import argparse
import json
import sys
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

REPO = Path(__file__).resolve().parents[2]
VOCAB = REPO / "share" / "vocab" / "bert-base-uncased-vocab.txt"
OUT = REPO / "tests" / "data" / "tokenizer" / "pairs.jsonl"


def make_tokenizer():
    tok = Tokenizer(models.WordPiece.from_file(str(VOCAB), unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    return tok


LONG = ("A somewhat longer sentence that certainly needs more than sixteen tokens once WordPiece has split "
        "it into pieces, unaffable and all.")
PAIRS = [
    ["Hello, world!", "How are you?"],
    ["Is this the question?", LONG],
    [LONG, "Short answer."],
    [LONG, LONG.upper()],
    ["one two three four", "five six seven eight"],     # equal lengths
    ["one two three four five", "six seven eight nine"],  # first one longer
    ["", "only the second text"],
    ["only the first text", ""],
    ["", ""],
    ["[CLS] literal [SEP] inside", "unaffable \u00e9clair \u4e2d\u6587 caf\u00e9"],
    ["x" * 150 + " y", "tokenizers\u2019 pairs"],
]


def encode_one(tok, first, second, max_length, strategy, direction, add_special):
    tok.no_padding()
    if max_length is None:
        tok.no_truncation()
    else:
        tok.enable_truncation(max_length, strategy=strategy, direction=direction)
    try:
        e = tok.encode(first, second, add_special_tokens=add_special)
    except Exception as err:  # the strategy cannot fit the pair
        return {"error": str(err)}
    return {"input_ids": e.ids, "token_type_ids": e.type_ids, "attention_mask": e.attention_mask,
            "offsets": [list(o) for o in e.offsets]}


def make():
    tok = make_tokenizer()
    lines = [json.dumps({"pairs": PAIRS}, ensure_ascii=True)]  # the texts once; each configuration's results follow
    for max_length in (None, 5, 8, 9, 16, 17, 40):
        for strategy in ("longest_first", "only_first", "only_second"):
            for direction in ("right", "left"):
                for add_special in (True, False):
                    if max_length is None and (strategy, direction) != ("longest_first", "right"):
                        continue
                    results = [encode_one(tok, a, b, max_length, strategy, direction, add_special) for a, b in PAIRS]
                    lines.append(json.dumps({"max_length": max_length, "strategy": strategy, "direction": direction,
                                             "add_special_tokens": add_special, "results": results}, ensure_ascii=True))
    # Padding of a batch of pairs: to the longest, and to max_length.
    ok_pairs = PAIRS[:6]  # padded results of these, in this order
    for padding in ("longest", "max_length"):
        tok.enable_truncation(16)
        if padding == "longest":
            tok.enable_padding(pad_id=0, pad_token="[PAD]", pad_type_id=0)
        else:
            tok.enable_padding(pad_id=0, pad_token="[PAD]", pad_type_id=0, length=16)
        out = tok.encode_batch([tuple(p) for p in ok_pairs])
        lines.append(json.dumps({"max_length": 16, "strategy": "longest_first", "direction": "right",
                                 "add_special_tokens": True, "padding": padding, "count": len(ok_pairs),
                                 "results": [{"input_ids": e.ids, "token_type_ids": e.type_ids,
                                              "attention_mask": e.attention_mask,
                                              "offsets": [list(o) for o in e.offsets]} for e in out]},
                                ensure_ascii=True))
    return "\n".join(lines) + "\n"


def write_or_check(out, make_text):
    """Writes make_text() to out, or with --check compares it with out; the exit status."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = make_text()
    if args.check:
        same = out.read_text(encoding="utf-8") == text
        print("check:", "ok" if same else "MISMATCH")
        return 0 if same else 1
    out.write_text(text, encoding="utf-8")
    print("wrote", out, len(text.splitlines()), "lines")
    return 0


def main():
    return write_or_check(OUT, make)


if __name__ == "__main__":
    sys.exit(main())
