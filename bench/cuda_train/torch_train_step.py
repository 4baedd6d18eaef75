#!/usr/bin/env python3
"""PyTorch twin of tinyxf-bench-cuda-train: one DistilBERT-base training step (forward with labels,
backward, AdamW) with plain torch.nn modules written like transformers' eager DistilBERT, on the
same GPU, printing one JSON line with the same fields.

    python3 torch_train_step.py --batch 16 --seq 512 [--steps 10] [--warmup 3] [--precision fp32|tf32|bf16]

bf16 is torch.autocast(bfloat16) (tinyxf has no bf16 path; it is listed for context only).
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, MAX_POS, DIM, HEADS, HIDDEN = 30522, 512, 768, 12, 3072


class Embeddings(nn.Module):
    def __init__(self):
        super().__init__()
        self.word_embeddings = nn.Embedding(VOCAB, DIM, padding_idx=0)
        self.position_embeddings = nn.Embedding(MAX_POS, DIM)
        self.LayerNorm = nn.LayerNorm(DIM, eps=1e-12)
        self.dropout = nn.Dropout(0.1)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], device=ids.device)
        return self.dropout(self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(pos)))


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_lin, self.k_lin, self.v_lin, self.out_lin = (nn.Linear(DIM, DIM) for _ in range(4))
        self.dropout = nn.Dropout(0.1)

    def forward(self, x, mask):
        b, s, _ = x.shape
        d = DIM // HEADS

        def heads(t):
            return t.view(b, s, HEADS, d).transpose(1, 2)

        q = heads(self.q_lin(x)) / math.sqrt(d)
        k, v = heads(self.k_lin(x)), heads(self.v_lin(x))
        scores = q @ k.transpose(-1, -2)
        scores = scores.masked_fill((mask == 0).view(b, 1, 1, s), torch.finfo(scores.dtype).min)
        weights = self.dropout(F.softmax(scores, dim=-1))
        return self.out_lin((weights @ v).transpose(1, 2).reshape(b, s, DIM))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.sa_layer_norm = nn.LayerNorm(DIM, eps=1e-12)
        self.lin1, self.lin2 = nn.Linear(DIM, HIDDEN), nn.Linear(HIDDEN, DIM)
        self.dropout = nn.Dropout(0.1)
        self.output_layer_norm = nn.LayerNorm(DIM, eps=1e-12)

    def forward(self, x, mask):
        sa = self.sa_layer_norm(self.attention(x, mask) + x)
        return self.output_layer_norm(self.dropout(self.lin2(F.gelu(self.lin1(sa)))) + sa)


class DistilBertForSequenceClassification(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.embeddings = Embeddings()
        self.layer = nn.ModuleList(Block() for _ in range(layers))
        self.pre_classifier = nn.Linear(DIM, DIM)
        self.classifier = nn.Linear(DIM, 2)
        self.dropout = nn.Dropout(0.2)
        for m in self.modules():  # transformers' _init_weights
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, ids, mask, labels):
        h = self.embeddings(ids)
        for block in self.layer:
            h = block(h, mask)
        pooled = self.dropout(F.relu(self.pre_classifier(h[:, 0])))
        return F.cross_entropy(self.classifier(pooled), labels)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default="fp32")
    a = ap.parse_args()

    tf32 = a.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(1234)
    dev = torch.device("cuda:0")
    model = DistilBertForSequenceClassification(a.layers).to(dev).train()
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
            loss = model(ids, mask, labels)
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
