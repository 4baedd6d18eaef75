#!/usr/bin/env python3
"""Writes tests/data/tokenizer/words.jsonl: word ids (Encoding.word_ids) of `tokenizers`, set up
as bert-base-uncased's tokenizer.json (the tokenizer of make_tokenizer_pair_golden.py):

  {"hard_string": i, "ids": [...], "word_ids": [...]}   each text of hard_strings.jsonl, [CLS]/[SEP]
                                                        added, no truncation (word id null = -1 in C++)
  {"words": [...], "max_length": n|null, "direction": "right"|"left", "add_special_tokens": b,
   "ids": [...], "word_ids": [...], "offsets": [...]}   pre-split words (is_pretokenized=True,
                                                        transformers' is_split_into_words=True)
  {"pair": [a, b], "max_length": n, "ids": [...], "word_ids": [...]}   text pairs (word ids per text)

    .venv-bench/bin/python tests/reference/make_tokenizer_words_golden.py [--check]

tokenizers 0.23.3 from PyPI (scripts/setup-bench-env.sh). Deterministic.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tokenizer_pair_golden import PAIRS, make_tokenizer, write_or_check  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "tokenizer"
OUT = DATA / "words.jsonl"

WORD_LISTS = [
    ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
    ["New", "York's", "", "unaffable", "[SEP]", "caf\u00e9", "\u4e2d\u6587", "x" * 120],
    ["Peter", "Blackburn"],
    ["don't", "stop", "...", "U.S.", "e-mail", "\u00c9cole"],
    [],
    ["", "  ", "\u200b"],
    ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"],
]


def make():
    tok = make_tokenizer()
    lines = []
    for i, line in enumerate((DATA / "hard_strings.jsonl").read_text(encoding="utf-8").splitlines()):
        text = json.loads(line)["text"]
        tok.no_truncation()
        e = tok.encode(text)
        lines.append(json.dumps({"hard_string": i, "ids": e.ids, "word_ids": e.word_ids}, ensure_ascii=True))
    for words in WORD_LISTS:
        for max_length in (None, 6, 9):
            for direction in ("right", "left"):
                for add_special in (True, False):
                    if max_length is None and direction == "left":
                        continue
                    if max_length is None:
                        tok.no_truncation()
                    else:
                        tok.enable_truncation(max_length, direction=direction)
                    e = tok.encode(words, is_pretokenized=True, add_special_tokens=add_special)
                    lines.append(json.dumps({"words": words, "max_length": max_length, "direction": direction,
                                             "add_special_tokens": add_special, "ids": e.ids,
                                             "word_ids": e.word_ids, "offsets": [list(o) for o in e.offsets]},
                                            ensure_ascii=True))
    for first, second in PAIRS:
        for max_length in (None, 9):
            if max_length is None:
                tok.no_truncation()
            else:
                tok.enable_truncation(max_length)
            e = tok.encode(first, second)
            lines.append(json.dumps({"pair": [first, second], "max_length": max_length, "ids": e.ids,
                                     "word_ids": e.word_ids}, ensure_ascii=True))
    return "\n".join(lines) + "\n"


def main():
    return write_or_check(OUT, make)


if __name__ == "__main__":
    sys.exit(main())
