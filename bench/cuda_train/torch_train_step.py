#!/usr/bin/env python3
"""PyTorch twin of tinyxf-bench-cuda-train: one DistilBERT-base training step (forward with labels,
backward, AdamW) with plain torch.nn modules written like transformers' eager DistilBERT
(bench/common/torch_distilbert.py), on the same GPU, printing one JSON line with the same fields.

    python3 torch_train_step.py --batch 16 --seq 512 [--steps 10] [--warmup 3] [--precision fp32|tf32|bf16]

bf16 is torch.autocast(bfloat16) (tinyxf has no bf16 path; it is listed for context only).
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from torch_distilbert import VOCAB, DistilBertForSequenceClassification  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default="fp32")
    ap.add_argument("--profile", action="store_true", help="print per-kernel GPU time of one more step to stderr")
    a = ap.parse_args()

    tf32 = a.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(1234)
    dev = torch.device("cuda:0")
    model = DistilBertForSequenceClassification(layers=a.layers).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    ids = torch.randint(1, VOCAB, (a.batch, a.seq), device=dev)
    mask = torch.ones(a.batch, a.seq, dtype=torch.long, device=dev)
    labels = torch.randint(0, 2, (a.batch,), device=dev)

    fwd = bwd = optim = total = 0.0
    loss_value = 0.0
    torch.cuda.reset_peak_memory_stats(dev)
    for step in range(a.warmup + a.steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = model(ids, mask, labels)[1]
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        loss.backward()
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        opt.step()
        torch.cuda.synchronize()
        t3 = time.perf_counter()
        if step >= a.warmup:
            fwd, bwd, optim, total = fwd + t1 - t0, bwd + t2 - t1, optim + t3 - t2, total + t3 - t0
        loss_value = loss.item()
    if a.profile:  # one more step under torch.profiler, kernels sorted by their total GPU time
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
                loss = model(ids, mask, labels)[1]
            loss.backward()
            opt.step()
            torch.cuda.synchronize()
        events = prof.key_averages()
        key = "self_device_time_total" if hasattr(events[0], "self_device_time_total") else "self_cuda_time_total"
        print(events.table(sort_by=key, row_limit=40, max_name_column_width=90), file=sys.stderr)
    n = a.steps
    print(json.dumps({
        "impl": "torch " + torch.__version__, "precision": a.precision, "batch": a.batch, "seq": a.seq,
        "layers": a.layers, "steps": n, "step_ms": round(1e3 * total / n, 3), "forward_ms": round(1e3 * fwd / n, 3),
        "backward_ms": round(1e3 * bwd / n, 3), "optimizer_ms": round(1e3 * optim / n, 3),
        "tokens_per_s": round(a.batch * a.seq / (total / n)),
        "peak_mem_gib": round(torch.cuda.max_memory_allocated(dev) / 2**30, 2), "loss": round(loss_value, 5),
        "device": torch.cuda.get_device_name(dev),
    }))


if __name__ == "__main__":
    main()
