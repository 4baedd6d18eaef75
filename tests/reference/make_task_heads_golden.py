#!/usr/bin/env python3
"""Writes tests/data/golden/task_heads/: tiny random BertForTokenClassification,
BertForQuestionAnswering, DistilBertForTokenClassification and DistilBertForQuestionAnswering, each
saved with save_pretrained (safetensors) in its own folder, one padded batch of text pairs
(batch.safetensors: ids, mask, token types, token labels with -100, start/end positions with one
out-of-range and one negative value, which transformers clamps), and per model expected.safetensors:
the logits (start/end logits for QA), the loss, and the loss's gradient with respect to the head's
weight and the word embeddings (eval mode: no dropout; eager attention; float32). The C++ heads
(include/tinyxf/models/{bert,distilbert}/modeling.hpp) must match them (tests/models/task_heads_test.cpp).

    .venv-bench/bin/python tests/reference/make_task_heads_golden.py [--check]

PyPI's torch 2.15 and transformers 5.25 (scripts/setup-bench-env.sh). Deterministic; --check
recomputes the expected outputs from the committed folders and compares.
"""
import argparse
import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import (BertConfig, BertForQuestionAnswering, BertForTokenClassification,  # noqa: E402
                          DistilBertConfig, DistilBertForQuestionAnswering, DistilBertForTokenClassification)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "golden" / "task_heads"

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

B, S, LENGTHS = 3, 10, [10, 7, 4]
BERT = dict(vocab_size=96, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=32, type_vocab_size=2, pad_token_id=0, attn_implementation="eager")
DISTILBERT = dict(vocab_size=96, dim=16, n_layers=2, n_heads=2, hidden_dim=32, max_position_embeddings=32,
                  pad_token_id=0, attn_implementation="eager")
TAGS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
# name -> (class, config class, base, seed, overrides, head weight name)
MODELS = {
    "bert_token": (BertForTokenClassification, BertConfig, BERT, 3101,
                   dict(id2label=TAGS, label2id={v: k for k, v in TAGS.items()}), "classifier.weight"),
    "bert_qa": (BertForQuestionAnswering, BertConfig, BERT, 3102, dict(hidden_act="gelu_new"), "qa_outputs.weight"),
    "distilbert_token": (DistilBertForTokenClassification, DistilBertConfig, DISTILBERT, 3103,
                         dict(id2label=TAGS, label2id={v: k for k, v in TAGS.items()}), "classifier.weight"),
    "distilbert_qa": (DistilBertForQuestionAnswering, DistilBertConfig, DISTILBERT, 3104, {}, "qa_outputs.weight"),
}


def save_st(tensors, path, meta=None):
    md = {"tinyxf_golden": json.dumps(meta, sort_keys=True)} if meta else None
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(path), metadata=md)


def make_batch():
    g = torch.Generator().manual_seed(3100)
    ids = torch.randint(1, 96, (B, S), generator=g, dtype=torch.int64)
    mask = torch.zeros(B, S, dtype=torch.int64)
    types = torch.zeros(B, S, dtype=torch.int64)
    tags = torch.full((B, S), -100, dtype=torch.int64)
    for b, n in enumerate(LENGTHS):
        mask[b, :n] = 1
        types[b, n // 2:n] = 1  # a pair: the second half of the real tokens is segment 1
        tags[b, 1:n - 1] = torch.randint(0, len(TAGS), (n - 2,), generator=g)
        tags[b, 2] = -100  # a word's continuation piece, ignored as in HF's label alignment
    return {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": types, "labels": tags,
            # row 1: an end past the sequence (clamped to S = ignored); row 2: a negative start (clamped to 0)
            "start_positions": torch.tensor([3, 2, -2], dtype=torch.int64),
            "end_positions": torch.tensor([5, 40, 3], dtype=torch.int64)}


def run(name, model, batch):
    cls, _, _, _, _, head = MODELS[name]
    model.eval()
    model.zero_grad()
    kw = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], return_dict=True)
    if name.startswith("bert"):
        kw["token_type_ids"] = batch["token_type_ids"]
    if name.endswith("token"):
        out = model(labels=batch["labels"], **kw)
        res = {"logits": out.logits.detach().clone()}
    else:
        out = model(start_positions=batch["start_positions"], end_positions=batch["end_positions"], **kw)
        res = {"start_logits": out.start_logits.detach().clone(), "end_logits": out.end_logits.detach().clone()}
    out.loss.backward()
    params = dict(model.named_parameters())
    embeddings = [k for k in params if k.endswith("word_embeddings.weight")][0]
    res["loss"] = out.loss.detach().reshape(1).clone()
    res["grad.head"] = params[head].grad.clone()
    res["grad.word_embeddings"] = params[embeddings].grad.clone()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    batch = make_batch()
    ok = True
    if not args.check:
        if OUT.exists():
            shutil.rmtree(OUT)
        OUT.mkdir(parents=True)
        save_st(batch, OUT / "batch.safetensors", {"generator": "tests/reference/make_task_heads_golden.py"})
    for name, (cls, config_cls, base, seed, overrides, _) in MODELS.items():
        folder = OUT / name
        if args.check:
            model = cls.from_pretrained(folder, attn_implementation="eager")
            got, want = run(name, model, batch), load_file(str(folder / "expected.safetensors"))
            err = max((got[k] - want[k]).abs().max().item() for k in want)
            print(f"  {name}: max|err| {err:.2e}")
            ok = ok and err == 0
            continue
        torch.manual_seed(seed)
        model = cls(config_cls(**base, **overrides)).eval()
        model.save_pretrained(folder, safe_serialization=True)
        meta = {"generator": "tests/reference/make_task_heads_golden.py", "transformers": transformers.__version__,
                "torch": torch.__version__, "model_class": cls.__name__, "mode": "eval", "seed": seed}
        res = run(name, model, batch)
        save_st(res, folder / "expected.safetensors", meta)
        print(f"  {name}: {cls.__name__}, loss {res['loss'].item():.6f}")
    print("check:", "ok" if ok else "MISMATCH") if args.check else print("wrote", OUT)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
