#!/usr/bin/env python3
"""Writes tests/data/golden/mlm/: what transformers' masked language modeling data path makes of
texts, for data::group_texts:

  texts.jsonl   {"text": ...}: the first 150 hard strings of tests/data/tokenizer/hard_strings.jsonl,
                a few blank ones and "movie " x 600 (602 ids: more than the tokenizer's default 512)
  cases.jsonl   {"block_size", "texts_per_group", "line_by_line", "blocks": [[ids]], "word_starts":
                [[0|1]], "dropped": n}

Blocks: run_mlm.py's tokenize_function + group_texts (datasets.map(batched=True, batch_size =
texts_per_group): each group concatenated, cut into block_size blocks, its remainder dropped), or
--line_by_line (blank lines dropped, truncation to block_size). Word starts: transformers 5's
DataCollatorForLanguageModeling._calc_word_ids_and_prob_mask (whole_word_mask) on each block's
offsets, with the special tokens of get_special_tokens_mask(already_has_special_tokens=True)
(all_special_ids: [PAD] [UNK] [CLS] [SEP] [MASK]); a word starts where is_new_word is true.

    .venv-bench/bin/python tests/reference/make_mlm_golden.py [--check]

tokenizers 0.23.3 and transformers 5.25 from PyPI (scripts/setup-bench-env.sh). Deterministic.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
from transformers import DataCollatorForLanguageModeling

sys.path.insert(0, str(Path(__file__).resolve().parent))
from golden_files import write_or_check_files  # noqa: E402
from make_tokenizer_pair_golden import make_tokenizer  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "golden" / "mlm"
HARD = REPO / "tests" / "data" / "tokenizer" / "hard_strings.jsonl"

# (block_size, texts_per_group, line_by_line)
CASES = [(16, 7, False), (32, 1000, False), (8, 1, False), (64, 40, False), (12, 0, True), (128, 0, True)]


def texts():
    hard = [json.loads(line)["text"] for line in HARD.read_text(encoding="utf-8").splitlines()][:150]
    # The last text is longer than 512 pieces: grouping must keep all of it (run_mlm does not truncate).
    return hard[:20] + ["", "   ", "\t"] + hard[20:] + ["movie " * 600]


def word_starts(ids, offsets, special_ids):
    special = np.array([[1 if i in special_ids else 0 for i in ids]])
    _, prob_mask = DataCollatorForLanguageModeling._calc_word_ids_and_prob_mask(np.array([offsets]), special)
    return [int(x) for x in ~prob_mask[0]]


def make():
    tok = make_tokenizer()
    special_ids = {tok.token_to_id(t) for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]}
    all_texts = texts()
    lines = []
    for block_size, per_group, line_by_line in CASES:
        blocks, starts, dropped = [], [], 0
        if line_by_line:
            tok.enable_truncation(block_size)
            for text in all_texts:
                if len(text) == 0 or text.isspace():
                    continue
                e = tok.encode(text)
                blocks.append(e.ids)
                starts.append(word_starts(e.ids, [list(o) for o in e.offsets], special_ids))
        else:
            tok.no_truncation()
            encodings = [tok.encode(t) for t in all_texts]
            step = per_group if per_group > 0 else len(encodings)
            for g in range(0, len(encodings), step):
                group = encodings[g:g + step]
                ids = sum((e.ids for e in group), [])
                offsets = sum(([list(o) for o in e.offsets] for e in group), [])
                total = len(ids) // block_size * block_size
                dropped += len(ids) - total
                for b in range(0, total, block_size):
                    blocks.append(ids[b:b + block_size])
                    starts.append(word_starts(ids[b:b + block_size], offsets[b:b + block_size], special_ids))
        lines.append(json.dumps({"block_size": block_size, "texts_per_group": per_group, "line_by_line": line_by_line,
                                 "blocks": blocks, "word_starts": starts, "dropped": dropped}))
    return {
        "texts.jsonl": "".join(json.dumps({"text": t}, ensure_ascii=True) + "\n" for t in all_texts),
        "cases.jsonl": "".join(line + "\n" for line in lines),
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    sys.exit(write_or_check_files(OUT, make(), ap.parse_args().check))
