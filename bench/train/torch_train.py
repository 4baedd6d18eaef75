#!/usr/bin/env python3
"""The PyTorch side of bench/train: the training throughput of DistilBertForSequenceClassification
(bench/common/torch_distilbert.py, plain torch.nn like transformers' eager DistilBERT) on the CPU,
with the same step as tinyxf_bench_train and examples/imdb_distilbert: forward with labels (train
mode, dropout on), zero_grad, backward, clip_grad_norm_(1.0), AdamW step (lr 5e-5, weight decay
0.01).

    /usr/bin/python3 bench/train/torch_train.py [--config small|base|tiny] [--batch B] [--seq S]
                                                [--steps N] [--warmup W] [--threads 2] [--tsv]

Configurations, defaults, memory readings and the --tsv line are those of tinyxf_bench_train
(bench/train/main.cpp). The last column names the OpenBLAS kernel set PyTorch's fp32 matmuls
ran with (set OPENBLAS_CORETYPE before starting Python to choose it; run.sh does).
"""
import argparse
import ctypes
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from bench_util import proc_status_mib, time_runs  # noqa: E402
from torch_distilbert import VOCAB, DistilBertForSequenceClassification  # noqa: E402

# name: (model sizes, batch, seq, steps, warmup), as in tinyxf_bench_train
CONFIGS = {
    "small": (dict(dim=128, layers=2, heads=4, hidden=512), 16, 256, 30, 3),
    "base": (dict(dim=768, layers=6, heads=12, hidden=3072), 16, 128, 5, 2),
    "tiny": (dict(dim=32, layers=1, heads=2, hidden=64), 2, 16, 3, 1),
}


def blas_name():
    """"OpenBLAS <core>" for the OpenBLAS loaded into this process (after a matmul), else "?"."""
    libs = sorted({line.split()[-1] for line in open("/proc/self/maps") if "openblas" in line.lower()})
    for lib in libs:
        try:
            corename = ctypes.CDLL(lib).openblas_get_corename
        except (OSError, AttributeError):
            continue
        corename.restype = ctypes.c_char_p
        return "OpenBLAS " + corename().decode()
    return "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", choices=sorted(CONFIGS), default="small")
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--seq", type=int, default=0)
    ap.add_argument("--steps", type=int, default=-1)
    ap.add_argument("--warmup", type=int, default=-1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tsv", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    baseline = proc_status_mib("VmRSS")

    sizes, batch, seq, steps, warmup = CONFIGS[args.config]
    batch = args.batch if args.batch > 0 else batch
    seq = args.seq if args.seq > 0 else seq
    steps = args.steps if args.steps >= 0 else steps
    warmup = args.warmup if args.warmup >= 0 else warmup
    if steps < 1 or warmup < 0 or seq > 512:
        ap.error("--steps must be >= 1, --warmup >= 0 and --seq at most 512")

    torch.manual_seed(1234)
    model = DistilBertForSequenceClassification(**sizes).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    params = sum(p.numel() for p in model.parameters())
    g = torch.Generator().manual_seed(42)
    ids = torch.randint(1, VOCAB, (batch, seq), generator=g)
    mask = torch.ones(batch, seq, dtype=torch.int64)
    labels = torch.randint(0, 2, (batch,), generator=g)
    last_loss = [0.0]

    def step():
        loss = model(ids, mask, labels)[1]
        optimizer.zero_grad(set_to_none=True)  # tinyxf's default (torch 1.13's is False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        last_loss[0] = loss.item()

    if not args.tsv:
        print(f"torch {torch.__version__}, DistilBertForSequenceClassification '{args.config}' ({sizes}), "
              f"{params} parameters, batch {batch} x seq {seq}, {torch.get_num_threads()} threads, "
              f"baseline RSS {baseline:.1f} MiB", flush=True)
    median, best = time_runs(warmup, steps, step)
    peak = proc_status_mib("VmHWM")
    samples, tokens = batch / median, batch * seq / median
    if args.tsv:
        print(f"{args.config}\tPyTorch {torch.__version__}\t{median:.4f}\t{best:.4f}\t{samples:.2f}\t{tokens:.1f}\t"
              f"{peak:.1f}\t{baseline:.1f}\t{params}\t{batch}\t{seq}\t{steps}\t{last_loss[0]:.4f}\t{blas_name()}",
              flush=True)
    else:
        print(f"step median {median:.4f} s, min {best:.4f} s ({steps} timed after {warmup} warm-up): "
              f"{samples:.2f} samples/s, {tokens:.1f} tokens/s; peak RSS {peak:.1f} MiB; "
              f"last loss {last_loss[0]:.4f}; {blas_name()}", flush=True)


if __name__ == "__main__":
    main()
