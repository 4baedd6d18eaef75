#!/usr/bin/env python3
"""Writes tests/data/tokenizer/padding.jsonl: padding on either side and pad_to_multiple_of through
transformers' tokenizer __call__ (BertTokenizerFast over the `tokenizers` tokenizer of
make_tokenizer_pair_golden.py, passed as tokenizer_object: transformers 5 ignores vocab_file).

Line 1 holds the inputs ("texts", "pairs", "words", "window_text", "window_pair"); each later line
one call: "kind" (texts: a batch of texts; one: the first text alone; pairs; words:
is_split_into_words; windows: window_text with return_overflowing_tokens and a stride;
pair_windows: window_pair, truncation only_second), "padding" (none/longest/max_length),
"padding_side", "pad_to_multiple_of" (0 for None), "max_length", "truncation", "truncation_side",
"stride", and either "error" (the ValueError transformers raises) or "encodings": each row's
"input_ids", "token_type_ids", "attention_mask", "offsets", "word_ids" (null for None).

    .venv-bench/bin/python tests/reference/make_tokenizer_padding_golden.py [--check]

transformers 5.25, tokenizers 0.23.3 from PyPI (scripts/setup-bench-env.sh). Deterministic.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tokenizer_pair_golden import make_tokenizer, write_or_check  # noqa: E402
from transformers import BertTokenizerFast  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "tokenizer" / "padding.jsonl"

LONG = "A somewhat longer sentence that WordPiece splits into pieces: unaffable, all of it."
TEXTS = ["Hello, world!", LONG, "short", "unaffable caf\u00e9 \u4e2d\u6587"]
PAIRS = [["Hello, world!", "How are you?"], ["Is this the question?", LONG], [LONG, "Short answer."]]
WORDS = [["Unaffable,", "don't"], ["New", "York", "is", "big"], ["a"]]
WINDOW_TEXT = ("The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, "
               "a region in France.")
WINDOW_PAIR = ["In what country is Normandy located?", WINDOW_TEXT]


def rows(out):
    n = len(out["input_ids"])
    return [{"input_ids": out["input_ids"][i], "token_type_ids": out["token_type_ids"][i],
             "attention_mask": out["attention_mask"][i], "offsets": [list(o) for o in out["offset_mapping"][i]],
             "word_ids": out.word_ids(i)} for i in range(n)]


def make():
    fast = BertTokenizerFast(tokenizer_object=make_tokenizer())
    lines = [json.dumps({"texts": TEXTS, "pairs": PAIRS, "words": WORDS, "window_text": WINDOW_TEXT,
                         "window_pair": WINDOW_PAIR}, ensure_ascii=True)]
    calls = {
        "texts": lambda **kw: fast(TEXTS, **kw),
        "one": lambda **kw: fast(TEXTS[0], **kw),
        "pairs": lambda **kw: fast([p[0] for p in PAIRS], [p[1] for p in PAIRS], **kw),
        "words": lambda **kw: fast(WORDS, is_split_into_words=True, **kw),
        "windows": lambda **kw: fast(WINDOW_TEXT, return_overflowing_tokens=True, **kw),
        "pair_windows": lambda **kw: fast(*WINDOW_PAIR, return_overflowing_tokens=True, **kw),
    }
    paddings = [("longest", 0), ("longest", 8), ("max_length", 0), ("max_length", 8), ("none", 8)]
    for kind, call in calls.items():
        windows = kind.endswith("windows")
        lengths = {"windows": [(16, True, 6), (12, True, 4)], "pair_windows": [(24, True, 5), (20, True, 4)]}.get(
                       kind, [(16, True, 0), (12, True, 0), (13, False, 0)])
        for max_length, truncation, stride in lengths:
            for truncation_side in (("right", "left") if windows else ("right",)):
                for padding, multiple in paddings:
                    for side in ("right", "left"):
                        if padding == "none" and side == "left":
                            continue  # no padding: the side changes nothing
                        fast.truncation_side = truncation_side
                        kw = {"padding": False if padding == "none" else padding, "padding_side": side,
                              "pad_to_multiple_of": multiple or None, "max_length": max_length,
                              "return_offsets_mapping": True}
                        if windows:
                            kw.update(truncation="only_second" if kind == "pair_windows" else True, stride=stride)
                        else:
                            kw.update(truncation=truncation)
                        record = {"kind": kind, "padding": padding, "padding_side": side,
                                  "pad_to_multiple_of": multiple, "max_length": max_length, "truncation": truncation,
                                  "truncation_side": truncation_side, "stride": stride}
                        try:
                            out = call(**kw)
                            encodings = rows(out) if kind != "one" else [
                                {"input_ids": out["input_ids"], "token_type_ids": out["token_type_ids"],
                                 "attention_mask": out["attention_mask"],
                                 "offsets": [list(o) for o in out["offset_mapping"]], "word_ids": out.word_ids()}]
                            record["encodings"] = encodings
                        except ValueError as err:
                            record["error"] = str(err)
                        lines.append(json.dumps(record, ensure_ascii=True, separators=(",", ":")))
    fast.truncation_side = "right"
    return "\n".join(lines) + "\n"


def main():
    return write_or_check(OUT, make)


if __name__ == "__main__":
    sys.exit(main())
