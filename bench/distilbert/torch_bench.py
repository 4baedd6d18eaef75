#!/usr/bin/env python3
"""The PyTorch side of bench/distilbert: the same DistilBertForSequenceClassification
(distilbert-base: vocab 30522, dim 768, 6 layers, 12 heads, FFN 3072, 2 labels, random weights),
written with plain torch.nn so that only Debian's python3-torch is needed. The module
(bench/common/torch_distilbert.py) mirrors transformers 4.44's eager DistilBERT op for op.

    /usr/bin/python3 bench/distilbert/torch_bench.py [--threads 2] [--reps 3] [--warmup 1]
                                                      [--shapes 16x128,8x512] [--tsv]

Same protocol and output as tinyxf_bench_distilbert: forward = eval() + no_grad, forward+backward =
train() (dropout on) + loss.backward(); median of --reps after --warmup runs.
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from bench_util import time_runs  # noqa: E402
from torch_distilbert import VOCAB, DistilBertForSequenceClassification  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--shapes", default="16x128,8x512")
    ap.add_argument("--tsv", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1234)
    model = DistilBertForSequenceClassification()
    if not args.tsv:
        n = sum(p.numel() for p in model.parameters())
        print(f"torch {torch.__version__}, {n} parameters, {torch.get_num_threads()} threads, "
              f"median of {args.reps} (after {args.warmup} warm-up)")
    g = torch.Generator().manual_seed(42)
    for shape in args.shapes.split(","):
        b, s = (int(v) for v in shape.split("x"))
        ids = torch.randint(1, VOCAB, (b, s), generator=g)
        mask = torch.ones(b, s, dtype=torch.int64)
        labels = torch.randint(0, 2, (b,), generator=g)

        def forward():
            with torch.no_grad():
                model(ids, mask)

        def forward_backward():
            model.zero_grad(set_to_none=True)
            model(ids, mask, labels)[1].backward()

        model.eval()
        fwd = time_runs(args.warmup, args.reps, forward)
        model.train()
        fwd_bwd = time_runs(args.warmup, args.reps, forward_backward)
        for phase, (median, best) in (("forward", fwd), ("forward+backward", fwd_bwd)):
            if args.tsv:
                print(f"{shape}\t{phase}\t{median:.4f}\t{best:.4f}", flush=True)
            else:
                print(f"{shape:<8} {phase:<17} median {median:8.3f} s   min {best:8.3f} s", flush=True)


if __name__ == "__main__":
    main()
