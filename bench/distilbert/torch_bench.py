#!/usr/bin/env python3
"""The PyTorch side of bench/distilbert: the same DistilBertForSequenceClassification
(distilbert-base: vocab 30522, dim 768, 6 layers, 12 heads, FFN 3072, 2 labels, random weights),
written with plain torch.nn so that only Debian's python3-torch is needed. The module mirrors
transformers 4.44's eager DistilBERT op for op: q / sqrt(head_dim) before Q.K^T, masked_fill with
the lowest float, softmax, exact (erf) GELU, post-LN blocks with eps 1e-12.

    /usr/bin/python3 bench/distilbert/torch_bench.py [--threads 2] [--reps 3] [--warmup 1]
                                                      [--shapes 16x128,8x512] [--tsv]

Same protocol and output as tinyxf_bench_distilbert: forward = eval() + no_grad, forward+backward =
train() (dropout on) + loss.backward(); median of --reps after --warmup runs.
"""
import argparse
import math
import statistics
import time

import torch
from torch import nn

VOCAB, DIM, LAYERS, HEADS, FFN, MAX_POS, LABELS = 30522, 768, 6, 12, 3072, 512, 2


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_lin, self.k_lin, self.v_lin, self.out_lin = (nn.Linear(DIM, DIM) for _ in range(4))
        self.dropout = nn.Dropout(0.1)

    def forward(self, x, mask):
        b, s, _ = x.shape
        hd = DIM // HEADS

        def heads(t):
            return t.view(b, s, HEADS, hd).transpose(1, 2)

        q = heads(self.q_lin(x)) / math.sqrt(hd)
        k, v = heads(self.k_lin(x)), heads(self.v_lin(x))
        scores = q @ k.transpose(-1, -2)
        scores = scores.masked_fill((mask == 0).view(b, 1, 1, s), torch.finfo(scores.dtype).min)
        w = self.dropout(torch.softmax(scores, dim=-1))
        return self.out_lin((w @ v).transpose(1, 2).reshape(b, s, DIM))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.sa_layer_norm = nn.LayerNorm(DIM, eps=1e-12)
        self.lin1, self.lin2 = nn.Linear(DIM, FFN), nn.Linear(FFN, DIM)
        self.dropout = nn.Dropout(0.1)
        self.output_layer_norm = nn.LayerNorm(DIM, eps=1e-12)

    def forward(self, x, mask):
        x = self.sa_layer_norm(self.attention(x, mask) + x)
        return self.output_layer_norm(self.dropout(self.lin2(nn.functional.gelu(self.lin1(x)))) + x)


class DistilBertForSequenceClassification(nn.Module):
    def __init__(self):
        super().__init__()
        self.word_embeddings = nn.Embedding(VOCAB, DIM, padding_idx=0)
        self.position_embeddings = nn.Embedding(MAX_POS, DIM)
        self.LayerNorm = nn.LayerNorm(DIM, eps=1e-12)
        self.emb_dropout = nn.Dropout(0.1)
        self.layer = nn.ModuleList(Block() for _ in range(LAYERS))
        self.pre_classifier, self.classifier = nn.Linear(DIM, DIM), nn.Linear(DIM, LABELS)
        self.dropout = nn.Dropout(0.2)

    def forward(self, ids, mask, labels=None):
        s = ids.shape[1]
        x = self.word_embeddings(ids) + self.position_embeddings(torch.arange(s))
        x = self.emb_dropout(self.LayerNorm(x))
        for block in self.layer:
            x = block(x, mask)
        logits = self.classifier(self.dropout(torch.relu(self.pre_classifier(x[:, 0]))))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return logits, loss


def time_runs(warmup, reps, fn):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


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
