#!/usr/bin/env python3
"""run_qa.py's feature preparation on Hugging Face's tokenizer, against tinyxf's.

  compare_hf.py --make-examples OUT [--csv PATH] [--count N]
      SQuAD-style examples from IMDB reviews, as HF datasets' JSON lines: the context is a review,
      the question its first words, the answer two words from its middle (answer_start in characters).
  compare_hf.py --examples PATH --threads N [--repeat 3] [--tinyxf-features PATH]
      times prepare_train_features (tests/reference/make_squad_golden.py: run_qa's code, 384 tokens,
      doc stride 128) over the examples in batches of 1,000 (datasets.map's default) and prints
        RESULT impl=hf threads=N examples=E features=F seconds=S
      (best of --repeat). With --tinyxf-features (tinyxf-bench-qa-features --write-features) it
      compares every feature's ids, example and positions: "IDENTICAL F/F", or the features that
      differ only where run_qa's start search steps onto [SEP] (an answer ending a window; tinyxf
      labels the answer's token, docs/training.md), or the first real difference (exit status 1).
"""
import argparse
import csv
import gzip
import io
import json
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--make-examples", type=Path)
    parser.add_argument("--csv", type=Path,
                        default=Path(os.environ.get("TINYXF_IMDB_CSV",
                                                    REPO.parent / "shared" / "data" / "imdb" / "imdb_50k.csv.gz")))
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--examples", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tinyxf-features", type=Path)
    return parser.parse_args()


ARGS = parse_args()
os.environ["TOKENIZERS_PARALLELISM"] = "false" if ARGS.threads == 1 else "true"
os.environ["RAYON_NUM_THREADS"] = str(ARGS.threads)
sys.path.insert(0, str(REPO / "tests" / "reference"))
import make_squad_golden as run_qa  # noqa: E402
from transformers import BertTokenizerFast  # noqa: E402

MAX_LENGTH, DOC_STRIDE, BATCH = 384, 128, 1000


def make_examples(csv_path, count, out):
    raw = gzip.open(csv_path, "rb") if csv_path.suffix == ".gz" else open(csv_path, "rb")
    with raw, open(out, "w", encoding="utf-8") as sink:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        assert next(reader) == ["review", "sentiment"]
        for i, row in enumerate(reader):
            if i == count:
                break
            context = row[0]
            words = list(re.finditer(r"\S+", context))
            middle = len(words) // 2
            start, end = words[middle].start(), words[min(middle + 1, len(words) - 1)].end()
            example = {"id": f"imdb-{i}", "question": "what about " + " ".join(w.group() for w in words[:6]) + "?",
                       "context": context, "answers": {"text": [context[start:end]], "answer_start": [start]}}
            sink.write(json.dumps(example, ensure_ascii=False) + "\n")


def read_examples(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    if ARGS.make_examples:
        make_examples(ARGS.csv, ARGS.count, ARGS.make_examples)
        return 0
    examples = read_examples(ARGS.examples)
    tokenizer = BertTokenizerFast(tokenizer_object=run_qa.make_tokenizer(), do_lower_case=True)
    batches = []
    for begin in range(0, len(examples), BATCH):
        chunk = examples[begin:begin + BATCH]
        batches.append({key: [e[key] for e in chunk] for key in ("id", "question", "context", "answers")})
    best, features = float("inf"), None
    for _ in range(ARGS.repeat):
        start = time.perf_counter()
        out = [run_qa.prepare_train_features(tokenizer, batch, MAX_LENGTH, DOC_STRIDE) for batch in batches]
        best = min(best, time.perf_counter() - start)
        features = out
    rows = []
    for b, f in enumerate(features):
        for i in range(len(f["input_ids"])):
            rows.append((b * BATCH + f["example_index"][i], f["start_positions"][i], f["end_positions"][i],
                         f["input_ids"][i]))
    print(f"RESULT impl=hf threads={ARGS.threads} examples={len(examples)} features={len(rows)} seconds={best:.4f}",
          flush=True)
    if not ARGS.tinyxf_features:
        return 0
    with open(ARGS.tinyxf_features, encoding="utf-8") as f:
        ours = [list(map(int, line.split())) for line in f]
    if len(ours) != len(rows):
        print(f"DIFFERENT feature counts: tinyxf {len(ours)}, run_qa {len(rows)}")
        return 1
    sep_quirk = 0
    for n, ((example, start, end, ids), mine) in enumerate(zip(rows, ours)):
        if mine[0] != example or mine[3:] != ids:
            print(f"DIFFERENT feature {n} (example {example}): ids or example differ")
            return 1
        if (mine[1], mine[2]) != (start, end):
            # run_qa's quirk: the answer ends the window's context, its start search runs onto [SEP].
            if mine[2] == end and start == len(ids) - 1 and mine[1] < start:
                sep_quirk += 1
                continue
            print(f"DIFFERENT feature {n} (example {example}): positions tinyxf {mine[1:3]}, run_qa {(start, end)}")
            return 1
    print(f"IDENTICAL {len(rows) - sep_quirk}/{len(rows)} features; {sep_quirk} differ only by run_qa's start on [SEP]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
