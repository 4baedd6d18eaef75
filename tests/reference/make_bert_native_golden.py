#!/usr/bin/env python3
"""Writes tests/data/golden/bert_native/ (see tests/reference/README.md) and checks bert_native_cpp_saved/.

    /opt/tinyxf-ref/bin/python tests/reference/make_bert_native_golden.py [--check]

Tiny random BertModel (with pooler), BertForSequenceClassification (3 named labels) and BertForMaskedLM
(gelu_new), each saved with save_pretrained(safe_serialization=True) into its own folder with a padded batch
that uses both token types, and the reference outputs (eager attention, eval mode, fp32): hidden states,
pooled output, logits and loss. The C++ native BERT family (include/tinyxf/models/bert/) must match them.

The script also checks tests/data/golden/bert_native_cpp_saved/ (written by tinyxf's save_pretrained, see
tests/models/bert_test.cpp): transformers loads each folder with no missing or unexpected tensors, keeps its
label names, and reproduces the expected outputs exactly (the weights are the golden ones, re-saved by C++).
Deterministic, runnable from any cwd, idempotent (bert_native/ wiped and rewritten byte-identically;
bert_native_cpp_saved/ is only read).
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
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "golden" / "bert_native"
CPP_SAVED = REPO / "tests" / "data" / "golden" / "bert_native_cpp_saved"

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

BATCH_SEED = 2201
B, S, LENGTHS = 3, 12, [12, 9, 4]
BASE = dict(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=64, type_vocab_size=2, pad_token_id=0, attn_implementation="eager")
LABELS = {0: "negative", 1: "neutral", 2: "positive"}
# name -> (model class, seed, config overrides)
MODELS = {
    "model": (BertModel, 1201, dict(hidden_act="gelu")),
    "seqcls": (BertForSequenceClassification, 1202,
               dict(hidden_act="gelu", layer_norm_eps=1e-7, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})),
    "mlm": (BertForMaskedLM, 1203, dict(hidden_act="gelu_new")),
}


def save_st(tensors, path, meta=None):
    # single metadata key -> deterministic header (safetensors serializes __metadata__ from a hash map)
    md = {"tinyxf_golden": json.dumps(meta, sort_keys=True)} if meta else None
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(path), metadata=md)


def make_batch():
    g = torch.Generator().manual_seed(BATCH_SEED)
    ids = torch.randint(1, BASE["vocab_size"], (B, S), generator=g, dtype=torch.int64)
    mask = torch.zeros(B, S, dtype=torch.int64)
    types = torch.zeros(B, S, dtype=torch.int64)
    for b, n in enumerate(LENGTHS):
        mask[b, :n] = 1
        types[b, n // 2:n] = 1  # a "sentence pair": second half of the real tokens is segment 1
    mlm = torch.full((B, S), -100, dtype=torch.int64)
    for b, n in enumerate(LENGTHS):
        for p in torch.randperm(n, generator=g)[:3].tolist():
            mlm[b, p] = ids[b, p]
    return {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": types,
            "labels": torch.tensor([2, 0, 1], dtype=torch.int64), "mlm_labels": mlm}


def run(name, model, batch):
    model.eval()
    kw = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
              token_type_ids=batch["token_type_ids"], output_hidden_states=True, return_dict=True)
    with torch.no_grad():
        if name == "seqcls":
            out = model(labels=batch["labels"], **kw)
        elif name == "mlm":
            out = model(labels=batch["mlm_labels"], **kw)
        else:
            out = model(**kw)
    res = {f"hidden_state.{i}": h.clone() for i, h in enumerate(out.hidden_states)}
    if name == "model":
        res["last_hidden_state"] = out.last_hidden_state.clone()
        res["pooler_output"] = out.pooler_output.clone()
    else:
        res["logits"] = out.logits.clone()
        res["loss"] = out.loss.reshape(1).clone()
    return res


def noise_fp64(name, model, batch, r32):
    cls, _, _ = MODELS[name]
    m64 = cls(model.config).eval()
    m64.load_state_dict(model.state_dict())
    r64 = run(name, m64.double(), batch)
    for k in r32:
        a, r = r32[k].double(), r64[k]
        nmse = ((a - r) ** 2).sum().item() / (r * r).sum().item()
        print(f"  {name:<7}{k:<16} max|err| {(a - r).abs().max().item():.2e}  max|ref| {r.abs().max().item():.2e}"
              f"  NMSE {nmse:.2e}")


def check_folder(name, folder, batch, expected, what):
    cls, _, _ = MODELS[name]
    model, info = cls.from_pretrained(folder, attn_implementation="eager", output_loading_info=True)
    got = run(name, model, batch)
    err = max((got[k] - expected[k]).abs().max().item() for k in expected)
    clean = not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    labels_ok = name != "seqcls" or model.config.id2label == LABELS
    ok = err == 0 and clean and labels_ok
    print(f"  {'ok ' if ok else 'BAD'} {what} {folder.relative_to(REPO)}: max|err| {err:.3e}, loading info {info}, "
          f"id2label {model.config.id2label}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only verify existing fixtures")
    args = ap.parse_args()
    if not args.check:
        if OUT.exists():
            shutil.rmtree(OUT)
        OUT.mkdir(parents=True)
        batch = make_batch()
        save_st(batch, OUT / "batch.safetensors", {"generator": "tests/reference/make_bert_native_golden.py"})
        print("fp32 vs fp64 (same weights):")
        for name, (cls, seed, overrides) in MODELS.items():
            torch.manual_seed(seed)
            model = cls(BertConfig(**BASE, **overrides)).eval()
            folder = OUT / name
            model.save_pretrained(folder, safe_serialization=True)
            r32 = run(name, model, batch)
            meta = {"generator": "tests/reference/make_bert_native_golden.py", "transformers": transformers.__version__,
                    "torch": torch.__version__, "model_class": cls.__name__, "attn_implementation": "eager",
                    "mode": "eval", "seed": seed}
            save_st(r32, folder / "expected.safetensors", meta)
            noise_fp64(name, model, batch, r32)
        for f in OUT.rglob("*"):
            os.chmod(f, 0o755 if f.is_dir() else 0o644)  # safetensors writes 0600

    ok = True
    batch = load_file(str(OUT / "batch.safetensors"))
    for name in MODELS:
        expected = load_file(str(OUT / name / "expected.safetensors"))
        ok &= check_folder(name, OUT / name, batch, expected, "reload")
        if name != "model":
            if (CPP_SAVED / name).is_dir():
                ok &= check_folder(name, CPP_SAVED / name, batch, expected, "tinyxf save_pretrained")
            else:
                print(f"  BAD {CPP_SAVED / name} missing (written by tests/models/bert_test.cpp, see its header)")
                ok = False
    print("ALL CHECKS PASSED" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
