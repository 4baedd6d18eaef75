#!/usr/bin/env python3
"""PyTorch counterpart of tinyxf_bench_lstm: torch.nn.LSTM on the same packed ragged batch
(pack_padded_sequence with enforce_sorted=False), forward under no_grad and forward + backward,
timed the same way (bench_util.time_runs: warm-up runs, then the median of --reps).

    python torch_lstm.py [--threads N] [--reps N] [--warmup N] [--tsv]
"""
import argparse
import os
import sys

import torch
from torch.nn.utils.rnn import pack_padded_sequence

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from bench_util import time_runs  # noqa: E402

BATCH, STEPS, INPUT, HIDDEN = 32, 256, 128, 256


def lengths():
    return [STEPS - (b * 37) % (3 * STEPS // 4) for b in range(BATCH)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--tsv", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    lens = torch.tensor(lengths())
    for name, layers, bidirectional in (("1layer_bidir", 1, True), ("2layer", 2, False)):
        lstm = torch.nn.LSTM(INPUT, HIDDEN, num_layers=layers, bidirectional=bidirectional, batch_first=True)
        x = torch.randn(BATCH, STEPS, INPUT)

        def forward():
            with torch.no_grad():
                lstm(pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False))

        def train_step():
            out, (h, _) = lstm(pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False))
            (out.data.sum() + h.sum()).backward()

        fwd = time_runs(args.warmup, args.reps, forward)[0] * 1e3
        step = time_runs(args.warmup, args.reps, train_step)[0] * 1e3
        if args.tsv:
            print(f"{name}_forward\t{fwd:.3f}\n{name}_forward_backward\t{step:.3f}")
        else:
            print(f"{name + '_forward':28s} {fwd:9.3f} ms\n{name + '_forward_backward':28s} {step:9.3f} ms")


if __name__ == "__main__":
    main()
