#!/usr/bin/env python3
"""PyTorch counterpart of tinyxf_bench_ops: the same operations on the same shapes, timed the
same way (2 warm-up runs, then at least 5 runs and --min-time seconds, median reported).

    /usr/bin/python3 compare_torch.py [--threads N] [--min-time S] [--filter SUBSTRING] [--tsv]

Case names match tinyxf_bench_ops exactly so run.sh can join the two outputs."""
import argparse
import sys
import time

import torch
import torch.nn.functional as F


def median_ms(fn, min_time):
    fn()
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
        if len(times) >= 1000:
            break
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=0.5)
    ap.add_argument("--filter", default="")
    ap.add_argument("--tsv", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    B, T, C, H, Fh = 16, 128, 768, 12, 3072
    D, N = C // H, B * T
    f4 = 4.0
    cases = []  # (name, work, unit, fn)

    def gemm(name, flops, fn):
        cases.append((name, flops, "GFLOP/s", fn))

    x = torch.rand(N, C) * 2 - 1
    w_qkv = torch.rand(C, C) * 2 - 1
    w_up = torch.rand(Fh, C) * 2 - 1
    w_down = torch.rand(C, Fh) * 2 - 1
    h = torch.rand(N, Fh) * 2 - 1
    y = torch.rand(N, C) * 2 - 1
    gemm("gemm linear 2048x768 <- 768 (x W^T)", 2.0 * N * C * C, lambda: F.linear(x, w_qkv))
    gemm("gemm linear 2048x3072 <- 768 (x W^T)", 2.0 * N * Fh * C, lambda: F.linear(x, w_up))
    gemm("gemm linear 2048x768 <- 3072 (x W^T)", 2.0 * N * C * Fh, lambda: F.linear(h, w_down))
    gemm("gemm weight-grad 768x768x2048 (gy^T x)", 2.0 * C * C * N, lambda: y.t().mm(x))
    gemm("gemm weight-grad 3072x768x2048 (gy^T x)", 2.0 * Fh * C * N, lambda: h.t().mm(x))

    q = torch.rand(B * H, T, D) * 2 - 1
    k = torch.rand(B * H, T, D) * 2 - 1
    scores = torch.rand(B * H, T, T) * 2 - 1
    gemm("bmm scores 192x(128x64 @ 64x128)", 2.0 * B * H * T * T * D, lambda: torch.bmm(q, k.transpose(1, 2)))
    gemm("bmm context 192x(128x128 @ 128x64)", 2.0 * B * H * T * T * D, lambda: torch.bmm(scores, k))

    s_in = torch.rand(B * H * T, T) * 10 - 5
    s_out = torch.softmax(s_in, -1)
    s_gy = torch.rand(B * H * T, T) * 2 - 1
    s_bytes = f4 * s_in.numel()
    cases.append(("softmax [24576, 128]", 2 * s_bytes, "GB/s", lambda: torch.softmax(s_in, -1)))
    cases.append(("softmax backward [24576, 128]", 3 * s_bytes, "GB/s",
                  lambda: torch._softmax_backward_data(s_gy, s_out, -1, s_in.dtype)))
    cases.append(("log_softmax [24576, 128]", 2 * s_bytes, "GB/s", lambda: torch.log_softmax(s_in, -1)))

    ln_x = torch.rand(N, C) * 4 - 2
    ln_g = torch.rand(C) + 0.5
    ln_b = torch.rand(C) * 2 - 1
    ln_gy = torch.rand(N, C) * 2 - 1
    _, ln_mean, ln_rstd = torch.ops.aten.native_layer_norm(ln_x, [C], ln_g, ln_b, 1e-12)
    ln_bytes = f4 * N * C
    cases.append(("layer_norm [2048, 768]", 2 * ln_bytes, "GB/s",
                  lambda: F.layer_norm(ln_x, (C,), ln_g, ln_b, 1e-12)))
    cases.append(("layer_norm backward [2048, 768]", 3 * ln_bytes, "GB/s",
                  lambda: torch.ops.aten.native_layer_norm_backward(
                      ln_gy, ln_x, [C], ln_mean, ln_rstd, ln_g, ln_b, [True, True, True])))

    e_x = torch.rand(N, Fh) * 8 - 4
    e_gy = torch.rand(N, Fh) * 2 - 1
    bias = torch.rand(Fh) * 2 - 1
    e_bytes = f4 * N * Fh
    cases.append(("gelu [2048, 3072]", 2 * e_bytes, "GB/s", lambda: F.gelu(e_x)))
    cases.append(("gelu backward [2048, 3072]", 3 * e_bytes, "GB/s",
                  lambda: torch.ops.aten.gelu_backward(e_gy, e_x)))
    cases.append(("gelu_tanh [2048, 3072]", 2 * e_bytes, "GB/s", lambda: F.gelu(e_x, approximate="tanh")))
    cases.append(("exp [2048, 3072]", 2 * e_bytes, "GB/s", lambda: torch.exp(e_x)))
    cases.append(("add [2048, 3072] + [2048, 3072]", 3 * e_bytes, "GB/s", lambda: e_x + e_gy))
    cases.append(("add bias [2048, 3072] + [3072]", 2 * e_bytes, "GB/s", lambda: e_x + bias))
    cases.append(("mul scalar [2048, 3072] * 0.125", 2 * e_bytes, "GB/s", lambda: e_x * 0.125))
    cases.append(("copy transpose [2048, 3072] -> [3072, 2048]", 2 * e_bytes, "GB/s",
                  lambda: e_x.t().contiguous()))
    cases.append(("sum last dim [2048, 3072]", e_bytes, "GB/s", lambda: e_x.sum(-1)))
    cases.append(("sum first dim [2048, 3072]", e_bytes, "GB/s", lambda: e_x.sum(0)))
    cases.append(("argmax last dim [2048, 3072]", e_bytes, "GB/s", lambda: e_x.argmax(-1)))
    cases.append(("dropout mask [2048, 3072] (bernoulli_scaled)", e_bytes, "GB/s",
                  lambda: torch.empty(N, Fh).bernoulli_(0.9).div_(0.9)))

    vocab = 30522
    table = torch.rand(vocab, C) * 2 - 1
    idx = torch.randint(0, vocab, (N,))
    emb = table.index_select(0, idx)
    gtable = torch.zeros(vocab, C)
    cases.append(("embedding index_select 2048 of [30522, 768]", 2 * ln_bytes, "GB/s",
                  lambda: torch.index_select(table, 0, idx)))
    cases.append(("embedding index_add 2048 into [30522, 768]", 3 * ln_bytes, "GB/s",
                  lambda: gtable.index_add_(0, idx, emb)))

    P = 4 * 1024 * 1024
    p = torch.nn.Parameter(torch.rand(P) * 2 - 1)
    p.grad = torch.rand(P) * 2 - 1
    opt = torch.optim.AdamW([p], lr=1e-4, weight_decay=0.01)
    cases.append(("adamw step 4M params", 7 * f4 * P, "GB/s", opt.step))

    cases.append(("zeros [2048, 3072] (allocate + fill)", e_bytes, "GB/s", lambda: torch.zeros(N, Fh)))

    if not args.tsv:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
        print(f"{'case':58s} {'median ms':>10s} {'throughput':>12s}")
    with torch.no_grad():
        for name, work, unit, fn in cases:
            if args.filter and args.filter not in name:
                continue
            ms = median_ms(fn, args.min_time)
            rate = work / (ms * 1e-3) / 1e9
            if args.tsv:
                print(f"{name}\t{ms:.4f}\t{rate:.2f}\t{unit}")
            else:
                print(f"{name:58s} {ms:10.3f} {rate:8.1f} {unit}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
