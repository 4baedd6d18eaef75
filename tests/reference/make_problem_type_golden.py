#!/usr/bin/env python3
"""Writes tests/data/golden/problem_type/: tiny random DistilBertForSequenceClassification and
BertForSequenceClassification folders with 1, 3 and 4 labels (the 4-label ones saved with
problem_type "multi_label_classification", the others with none), one padded batch with the labels
of every case (batch.safetensors: float [B], float [B, 1], int64 [B], float [B, 3], float
[B, 4]), and expected.safetensors: per case "<family>.<case>.logits", ".loss", ".grad.head"
(classifier.weight) and ".grad.word_embeddings". A case runs its folder's model under a
problem_type (None: transformers infers it from num_labels and the labels' dtype), eval mode, eager
attention, float32. The C++ sequence-classification loss (include/tinyxf/models/encoder_ops.hpp)
must match (tests/models/task_heads_test.cpp, [problem-type]).

    .venv-bench/bin/python tests/reference/make_problem_type_golden.py [--check]

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
from transformers import (BertConfig, BertForSequenceClassification, DistilBertConfig,  # noqa: E402
                          DistilBertForSequenceClassification)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "golden" / "problem_type"

transformers.utils.logging.disable_progress_bar()
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

B, S, LENGTHS = 3, 6, [6, 4, 2]
FAMILIES = {
    "bert": (BertForSequenceClassification, BertConfig,
             dict(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                  max_position_embeddings=16, type_vocab_size=2, pad_token_id=0, attn_implementation="eager"), 4201),
    "distilbert": (DistilBertForSequenceClassification, DistilBertConfig,
                   dict(vocab_size=64, dim=16, n_layers=1, n_heads=2, hidden_dim=32, max_position_embeddings=16,
                        pad_token_id=0, attn_implementation="eager"), 4301),
}
# num_labels -> problem_type saved in the folder's config.json
FOLDERS = {1: None, 3: None, 4: "multi_label_classification"}
# case -> (num_labels of its folder, problem_type to run under ("saved": the folder's), labels key)
CASES = {
    "regression_b": (1, None, "float_b"),           # inferred regression, labels [B]
    "regression_b1": (1, None, "float_b1"),         # inferred regression, labels [B, 1] (squeezed)
    "regression_b1_named": (1, "regression", "float_b1"),
    "single_int64": (3, None, "int64"),             # inferred single-label (torch.long)
    "regression_3": (3, "regression", "float_b3"),  # MSE over [B, 3]
    "multi_inferred": (4, None, "float_b4"),        # float labels, num_labels > 1: multi-label
    "multi_saved": (4, "saved", "float_b4"),
    "single_named_4": (4, "single_label_classification", "int64"),
}


def save_st(tensors, path, meta=None):
    md = {"tinyxf_golden": json.dumps(meta, sort_keys=True)} if meta else None
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(path), metadata=md)


def make_batch():
    g = torch.Generator().manual_seed(4200)
    ids = torch.randint(1, 64, (B, S), generator=g, dtype=torch.int64)
    mask = torch.zeros(B, S, dtype=torch.int64)
    for b, n in enumerate(LENGTHS):
        mask[b, :n] = 1
    float_b = torch.randn(B, generator=g)
    return {"input_ids": ids * mask, "attention_mask": mask,
            "labels.float_b": float_b, "labels.float_b1": float_b.reshape(B, 1).clone(),
            "labels.int64": torch.tensor([2, 0, 1], dtype=torch.int64),
            "labels.float_b3": torch.randn(B, 3, generator=g),
            # 0/1 targets and one soft target
            "labels.float_b4": torch.tensor([[1, 0, 1, 0], [0, 1, 1, 1], [0, 0, 0.25, 1]], dtype=torch.float32)}


def folder_name(family, num_labels):
    return f"{family}_{num_labels}"


def run(model, batch, case):
    num_labels, problem_type, labels = CASES[case]
    if problem_type != "saved":
        model.config.problem_type = problem_type
    model.eval()
    model.zero_grad()
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                labels=batch["labels." + labels], return_dict=True)
    out.loss.backward()
    params = dict(model.named_parameters())
    embeddings = [k for k in params if k.endswith("word_embeddings.weight")][0]
    return {"logits": out.logits.detach().clone(), "loss": out.loss.detach().reshape(1).clone(),
            "grad.head": params["classifier.weight"].grad.clone(),
            "grad.word_embeddings": params[embeddings].grad.clone()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    batch = make_batch()
    if not args.check:
        if OUT.exists():
            shutil.rmtree(OUT)
        OUT.mkdir(parents=True)
        save_st(batch, OUT / "batch.safetensors", {"generator": "tests/reference/make_problem_type_golden.py"})
        for family, (cls, config_cls, base, seed) in FAMILIES.items():
            for num_labels, problem_type in FOLDERS.items():
                torch.manual_seed(seed + num_labels)
                model = cls(config_cls(**base, num_labels=num_labels, problem_type=problem_type)).eval()
                model.save_pretrained(OUT / folder_name(family, num_labels), safe_serialization=True)
    expected = {}
    for family, (cls, _, _, _) in FAMILIES.items():
        for case, (num_labels, _, _) in CASES.items():
            # A fresh load per case: forward writes the inferred problem_type into the config.
            model = cls.from_pretrained(OUT / folder_name(family, num_labels), attn_implementation="eager")
            for key, value in run(model, batch, case).items():
                expected[f"{family}.{case}.{key}"] = value
    if args.check:
        want = load_file(str(OUT / "expected.safetensors"))
        err = max((expected[k] - want[k]).abs().max().item() for k in want)
        ok = set(want) == set(expected) and err == 0
        print(f"max|err| {err:.2e}; check:", "ok" if ok else "MISMATCH")
        return 0 if ok else 1
    meta = {"generator": "tests/reference/make_problem_type_golden.py", "transformers": transformers.__version__,
            "torch": torch.__version__, "mode": "eval", "cases": {k: list(v) for k, v in CASES.items()}}
    save_st(expected, OUT / "expected.safetensors", meta)
    for family in FAMILIES:
        print(f"  {family}: " + ", ".join(f"{c} {expected[f'{family}.{c}.loss'].item():.5f}" for c in CASES))
    print("wrote", OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
