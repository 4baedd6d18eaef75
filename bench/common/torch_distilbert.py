"""DistilBertForSequenceClassification in plain torch.nn, shared by the PyTorch sides of the
benchmarks (bench/distilbert/torch_bench.py, bench/cuda_train/torch_train_step.py,
bench/train/torch_train.py), so that only PyTorch itself is needed (any 1.13+ or 2.x: the PyPI one
of scripts/setup-bench-env.sh, Debian's python3-torch 1.13). hf_distilbert.py copies its weights
into transformers' own class (for the ONNX export).

The module mirrors transformers 4.44's eager DistilBERT op for op: learned position embeddings,
q / sqrt(head_dim) before Q.K^T, masked_fill with the lowest float, softmax, exact (erf) GELU,
post-LN blocks with eps 1e-12, pre_classifier + ReLU + dropout 0.2 + classifier, and
transformers' _init_weights (Linear/Embedding ~ N(0, 0.02), padding row and biases 0), like
tinyxf's DistilBERT. Parameters are created in transformers' order.

Import it with the folder on sys.path, relative to the importing script:

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
    from torch_distilbert import DistilBertForSequenceClassification
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

# distilbert-base-uncased
VOCAB, MAX_POS, DIM, LAYERS, HEADS, HIDDEN = 30522, 512, 768, 6, 12, 3072

# The named model sizes of the benchmarks, as in bench/common/distilbert_sizes.hpp (keyword
# arguments of DistilBertForSequenceClassification; all with vocab 30522, 512 positions, 2 labels).
MODEL_SIZES = {
    "base": dict(dim=768, layers=6, heads=12, hidden=3072),  # distilbert-base
    "minilm": dict(dim=384, layers=6, heads=12, hidden=1536),  # all-MiniLM-L6-v2's shape
    "small": dict(dim=128, layers=2, heads=4, hidden=512),  # the flagship from scratch
    "tiny": dict(dim=32, layers=1, heads=2, hidden=64),  # a smoke test
}


class Embeddings(nn.Module):
    def __init__(self, vocab, max_pos, dim):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, dim, padding_idx=0)
        self.position_embeddings = nn.Embedding(max_pos, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=1e-12)
        self.dropout = nn.Dropout(0.1)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], device=ids.device)
        return self.dropout(self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(pos)))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.dim, self.heads = dim, heads
        self.q_lin, self.k_lin, self.v_lin, self.out_lin = (nn.Linear(dim, dim) for _ in range(4))
        self.dropout = nn.Dropout(0.1)

    def forward(self, x, mask):
        b, s, _ = x.shape
        d = self.dim // self.heads

        def heads(t):
            return t.view(b, s, self.heads, d).transpose(1, 2)

        q = heads(self.q_lin(x)) / math.sqrt(d)
        k, v = heads(self.k_lin(x)), heads(self.v_lin(x))
        scores = q @ k.transpose(-1, -2)
        scores = scores.masked_fill((mask == 0).view(b, 1, 1, s), torch.finfo(scores.dtype).min)
        weights = self.dropout(F.softmax(scores, dim=-1))
        return self.out_lin((weights @ v).transpose(1, 2).reshape(b, s, self.dim))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.attention = Attention(dim, heads)
        self.sa_layer_norm = nn.LayerNorm(dim, eps=1e-12)
        self.lin1, self.lin2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(0.1)
        self.output_layer_norm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x, mask):
        sa = self.sa_layer_norm(self.attention(x, mask) + x)
        return self.output_layer_norm(self.dropout(self.lin2(F.gelu(self.lin1(sa)))) + sa)


class DistilBertForSequenceClassification(nn.Module):
    """forward(ids, mask, labels=None) returns (logits, loss); loss is None without labels."""

    def __init__(self, layers=LAYERS, dim=DIM, heads=HEADS, hidden=HIDDEN, vocab=VOCAB, max_pos=MAX_POS,
                 labels=2):
        super().__init__()
        self.embeddings = Embeddings(vocab, max_pos, dim)
        self.layer = nn.ModuleList(Block(dim, heads, hidden) for _ in range(layers))
        self.pre_classifier = nn.Linear(dim, dim)
        self.classifier = nn.Linear(dim, labels)
        self.dropout = nn.Dropout(0.2)
        for m in self.modules():  # transformers' _init_weights
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)
            if isinstance(m, nn.Embedding) and m.padding_idx is not None:
                with torch.no_grad():
                    m.weight[m.padding_idx].zero_()

    def forward(self, ids, mask, labels=None):
        h = self.embeddings(ids)
        for block in self.layer:
            h = block(h, mask)
        logits = self.classifier(self.dropout(F.relu(self.pre_classifier(h[:, 0]))))
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return logits, loss


def random_inputs(generator, batch, seq, labels=2):
    """(ids, mask, labels) of the benchmarks: token ids uniform in [1, VOCAB), an all-ones
    attention mask and labels uniform in [0, labels), drawn from generator in that order."""
    ids = torch.randint(1, VOCAB, (batch, seq), generator=generator)
    mask = torch.ones(batch, seq, dtype=torch.int64)
    return ids, mask, torch.randint(0, labels, (batch,), generator=generator)
