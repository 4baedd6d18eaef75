#!/usr/bin/env python3
"""The PyTorch side of bench/train: the training throughput of DistilBertForSequenceClassification
(--task classify, the default: bench/common/torch_distilbert.py, plain torch.nn like transformers'
eager DistilBERT) or of transformers' own DistilBertForMaskedLM (--task mlm: hf_distilbert.py's
hf_masked_lm, SDPA attention, logits for every position) on the CPU, with the same step as
tinyxf_bench_train and examples/imdb_distilbert: forward with labels (train mode, dropout on),
zero_grad, backward, clip_grad_norm_(1.0), AdamW step (lr 5e-5, weight decay 0.01).

    .venv-bench/bin/python bench/train/torch_train.py [--task classify|mlm]
                              [--config small|minilm|base|tiny] [--batch B] [--seq S] [--steps N]
                              [--warmup W] [--threads 2] [--precision fp32|bf16|medium] [--tsv]

Any PyTorch from 1.13 on runs the classifier (scripts/setup-bench-env.sh's PyPI one, Debian's
python3-torch); --task mlm needs transformers too. Configurations, defaults, the MLM labels
(mlm_labelled), memory readings and the --tsv line are those of tinyxf_bench_train
(bench/train/main.cpp). The last column names what PyTorch's fp32 matmuls ran on: "MKL <version>"
for PyPI's wheels, "OpenBLAS <kernel set>" for Debian's (set OPENBLAS_CORETYPE before starting
Python to choose that kernel set; run.sh does). --precision bf16 runs the forward pass under
torch.autocast("cpu", dtype=torch.bfloat16) (backward outside it, as PyTorch recommends).
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from bench_util import proc_status_mib, time_runs, torch_matmul_backend  # noqa: E402
from torch_distilbert import MODEL_SIZES, DistilBertForSequenceClassification, random_inputs  # noqa: E402

# name: (batch, seq, steps, warmup), as in tinyxf_bench_train; the model sizes are MODEL_SIZES[name]
CONFIGS = {
    "small": (16, 256, 30, 3),
    "minilm": (16, 256, 10, 2),
    "base": (16, 128, 5, 2),
    "tiny": (2, 16, 3, 1),
}
MASK_ID = 103  # [MASK] of the BERT uncased vocabulary


def mlm_labelled(b, p, seq):
    """Whether position p of row b is an MLM target: about 15 % of the positions (Knuth's
    multiplicative hash of the flat index against 0.15 * 2^32), never the first or the last, where
    [CLS] and [SEP] would be. main.cpp's mlm_labelled is the same rule: both sides must agree, so
    that they mask the same positions and their heads do the same work."""
    return 0 < p < seq - 1 and ((b * seq + p) * 2654435761) % 2**32 < 0.15 * 2**32


def mlm_inputs(ids):
    """(input ids, labels) of an MLM step: the labelled positions keep their id as the label and
    read [MASK]; the others are ignored (-100)."""
    batch, seq = ids.shape
    picked = torch.tensor([[mlm_labelled(b, p, seq) for p in range(seq)] for b in range(batch)])
    return ids.masked_fill(picked, MASK_ID), torch.where(picked, ids, torch.full_like(ids, -100))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=["classify", "mlm"], default="classify")
    ap.add_argument("--config", choices=sorted(CONFIGS), default="small")
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--seq", type=int, default=0)
    ap.add_argument("--steps", type=int, default=-1)
    ap.add_argument("--warmup", type=int, default=-1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", choices=["fp32", "bf16", "medium"], default="fp32")
    ap.add_argument("--tsv", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    baseline = proc_status_mib("VmRSS")

    sizes = MODEL_SIZES[args.config]
    batch, seq, steps, warmup = CONFIGS[args.config]
    batch = args.batch if args.batch > 0 else batch
    seq = args.seq if args.seq > 0 else seq
    steps = args.steps if args.steps >= 0 else steps
    warmup = args.warmup if args.warmup >= 0 else warmup
    if steps < 1 or warmup < 0 or seq > 512:
        ap.error("--steps must be >= 1, --warmup >= 0 and --seq at most 512")

    torch.manual_seed(1234)
    g = torch.Generator().manual_seed(42)
    ids, mask, labels = random_inputs(g, batch, seq)
    if args.task == "mlm":
        from hf_distilbert import PlainInterface, hf_masked_lm
        import transformers

        model = PlainInterface(hf_masked_lm(sizes)).train()
        ids, labels = mlm_inputs(ids)
        name = "DistilBertForMaskedLM"
        impl = f", transformers {transformers.__version__}, {model.hf.config._attn_implementation} attention"
    else:
        model = DistilBertForSequenceClassification(**sizes).train()
        name, impl = "DistilBertForSequenceClassification", ""
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    params = sum(p.numel() for p in model.parameters())  # the tied projector once
    losses = []  # the first and the last step's

    autocast = args.precision == "bf16"
    if args.precision == "medium":  # float32 tensors, matmuls allowed bf16 internally (oneDNN)
        torch.set_float32_matmul_precision("medium")

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model(ids, mask, labels)[1]
        optimizer.zero_grad(set_to_none=True)  # tinyxf's default (torch 1.13's is False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses[1:] = [loss.item()]

    if not args.tsv:
        labelled = f" ({int((labels != -100).sum())} positions labelled)" if args.task == "mlm" else ""
        print(f"torch {torch.__version__}{impl}, {name} '{args.config}' ({sizes}), "
              f"{params} parameters, batch {batch} x seq {seq}{labelled}, {torch.get_num_threads()} threads, "
              f"baseline RSS {baseline:.1f} MiB", flush=True)
    median, best = time_runs(warmup, steps, step)
    matmuls = ("autocast bf16 (oneDNN)" if autocast else torch_matmul_backend(torch) +
               (" (matmul precision medium)" if args.precision == "medium" else "")) + impl
    peak = proc_status_mib("VmHWM")
    samples, tokens = batch / median, batch * seq / median
    if args.tsv:
        print(f"{args.config}\tPyTorch {torch.__version__}\t{median:.4f}\t{best:.4f}\t{samples:.2f}\t{tokens:.1f}\t"
              f"{peak:.1f}\t{baseline:.1f}\t{params}\t{batch}\t{seq}\t{steps}\t{losses[-1]:.4f}\t{losses[0]:.4f}\t"
              f"{matmuls}", flush=True)
    else:
        print(f"step median {median:.4f} s, min {best:.4f} s ({steps} timed after {warmup} warm-up): "
              f"{samples:.2f} samples/s, {tokens:.1f} tokens/s; peak RSS {peak:.1f} MiB; "
              f"first loss {losses[0]:.4f}, last loss {losses[-1]:.4f}; {matmuls}", flush=True)


if __name__ == "__main__":
    main()
