#!/usr/bin/env python3
"""Writes tests/data/tokenizer/windows.jsonl: overlapping windows of long texts and pairs
(tokenizers' Encoding.overflowing with a stride, what transformers' return_overflowing_tokens=True
gives), for the tokenizer of make_tokenizer_pair_golden.py. One line per configuration:

  {"text": t, ...}  or  {"pair": [a, b], "strategy": "only_first"|"only_second", ...}
  with "max_length", "stride", "direction" ("right"/"left"), "add_special_tokens", and "windows":
  the main encoding then its overflowing ones, each {"input_ids", "token_type_ids",
  "attention_mask", "offsets", "word_ids"}, or "error" where tokenizers refuses (a stride not
  below the window, a text that cannot be cut enough).

    .venv-bench/bin/python tests/reference/make_tokenizer_windows_golden.py [--check]

tokenizers 0.23.3 from PyPI (scripts/setup-bench-env.sh). Deterministic.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tokenizer_pair_golden import make_tokenizer, write_or_check  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "tokenizer" / "windows.jsonl"

CONTEXT = ("The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, "
           "a region in France. They were descended from Norse raiders and pirates from Denmark, Iceland "
           "and Norway who, under their leader Rollo, agreed to swear fealty to King Charles III.")
QUESTIONS = ["In what country is Normandy located?", "When?"]


def windows_of(encoding):
    return [{"input_ids": e.ids, "token_type_ids": e.type_ids, "attention_mask": e.attention_mask,
             "offsets": [list(o) for o in e.offsets], "word_ids": e.word_ids}
            for e in [encoding] + list(encoding.overflowing)]


def make():
    tok = make_tokenizer()
    lines = []

    def record(base, encode):
        try:
            base["windows"] = windows_of(encode())
        except BaseException as err:  # tokenizers panics (PanicException) on a stride >= the window
            base["error"] = str(err).split("\n")[0]
        lines.append(json.dumps(base, ensure_ascii=True))

    for text in (CONTEXT, "short text"):
        for max_length, stride in ((24, 4), (40, 0), (9, 7), (9, 6)):
            for direction in ("right", "left"):
                for add_special in (True, False):
                    tok.enable_truncation(max_length, stride=stride, direction=direction)
                    record({"text": text, "max_length": max_length, "stride": stride, "direction": direction,
                            "add_special_tokens": add_special},
                           lambda: tok.encode(text, add_special_tokens=add_special))
    for question in QUESTIONS:
        for strategy, pair in (("only_second", (question, CONTEXT)), ("only_first", (CONTEXT, question))):
            for max_length, stride in ((24, 6), (32, 16), (16, 2), (80, 32)):
                for direction in ("right", "left"):
                    tok.enable_truncation(max_length, stride=stride, strategy=strategy, direction=direction)
                    record({"pair": list(pair), "strategy": strategy, "max_length": max_length, "stride": stride,
                            "direction": direction, "add_special_tokens": True},
                           lambda: tok.encode(pair[0], pair[1]))
    return "\n".join(lines) + "\n"


def main():
    return write_or_check(OUT, make)


if __name__ == "__main__":
    sys.exit(main())
