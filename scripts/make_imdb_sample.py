#!/usr/bin/env python3
"""Makes share/data/imdb_sample.csv, the small IMDB sample shipped with tinyxf.

A seeded, class-balanced random sample of the 50,000 labeled aclImdb reviews, written in the
same `review,sentiment` CSV form as the source (sentiment 1 = positive, 0 = negative; RFC-4180
quoting, LF line ends). Python 3 standard library only.

Selection, reproducible on any Python version (it does not use the `random` module, whose
algorithms may change between versions):
  1. Drop exact duplicate texts: keep the first occurrence of each text, and drop a text entirely
     if it occurs with both labels. aclImdb has 418 duplicates; without this step a review could
     land in both the train and the test part of a split, inflating the test accuracy.
  2. For each class (positive with seed, negative with seed + 1), shuffle that class's reviews
     (in file order) with SplitMix64 + Fisher-Yates (the same algorithm as
     tinyxf::data::shuffled_indices) and keep the first --per-class.
  3. Put positives then negatives together and shuffle them once more (seed + 2), so that the
     file's row order carries no label information.

Usage:
  python3 scripts/make_imdb_sample.py [--source imdb_50k.csv.gz] [--out imdb_sample.csv]
                                      [--per-class 6000] [--seed 2011]
The default source is ../shared/data/imdb/imdb_50k.csv.gz next to the repository.
"""
import argparse
import csv
import gzip
import hashlib
import io
import pathlib
import sys

MASK64 = (1 << 64) - 1


class SplitMix64:
    """Vigna's splitmix64.c; identical to tinyxf::data::SplitMix64."""

    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, bound):
        """Uniform in [0, bound): rejects draws below 2**64 mod bound, then takes the remainder."""
        threshold = (1 << 64) % bound
        while True:
            r = self.next()
            if r >= threshold:
                return r % bound


def shuffled_indices(n, seed):
    """Fisher-Yates from the back; identical to tinyxf::data::shuffled_indices."""
    order = list(range(n))
    rng = SplitMix64(seed)
    for i in range(n, 1, -1):
        j = rng.below(i)
        order[i - 1], order[j] = order[j], order[i - 1]
    return order


def read_rows(path):
    with gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        reader = csv.reader(text)
        header = next(reader)
        if header != ["review", "sentiment"]:
            sys.exit(f"{path}: expected the header review,sentiment, found {header}")
        return [(review, sentiment) for review, sentiment in reader]


def main():
    repo = pathlib.Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=pathlib.Path,
                        default=repo.parent / "shared" / "data" / "imdb" / "imdb_50k.csv.gz")
    parser.add_argument("--out", type=pathlib.Path, default=repo / "share" / "data" / "imdb_sample.csv")
    parser.add_argument("--per-class", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=2011)
    args = parser.parse_args()

    rows = read_rows(args.source)
    labels_of_text = {}
    for review, sentiment in rows:
        if sentiment not in ("0", "1"):
            sys.exit(f"{args.source}: unexpected sentiment {sentiment!r}")
        labels_of_text.setdefault(review, set()).add(sentiment)
    seen = set()
    by_label = {"1": [], "0": []}
    for review, sentiment in rows:
        if review in seen or len(labels_of_text[review]) > 1:
            continue
        seen.add(review)
        by_label[sentiment].append(review)
    conflicting = sum(1 for labels in labels_of_text.values() if len(labels) > 1)
    print(f"source rows: {len(rows)}, distinct texts: {len(labels_of_text)}, "
          f"texts with both labels (dropped): {conflicting}, "
          f"kept: {len(by_label['1'])} positive, {len(by_label['0'])} negative")

    chosen = []
    for offset, sentiment in enumerate(("1", "0")):
        pool = by_label[sentiment]
        if args.per_class > len(pool):
            sys.exit(f"--per-class {args.per_class} is more than the {len(pool)} distinct reviews of label {sentiment}")
        order = shuffled_indices(len(pool), args.seed + offset)
        chosen += [(pool[i], sentiment) for i in order[:args.per_class]]
    chosen = [chosen[i] for i in shuffled_indices(len(chosen), args.seed + 2)]

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerow(["review", "sentiment"])
    writer.writerows(chosen)
    data = buffer.getvalue().encode("utf-8")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out}: {len(chosen)} rows ({args.per_class} per class), {len(data)} bytes, "
          f"sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
