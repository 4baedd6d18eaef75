#!/usr/bin/env python3
"""Writes tests/data/golden/bert_tiny/ (see tests/reference/README.md).

    /opt/tinyxf-ref/bin/python tests/reference/make_bert_golden.py [--check]

A tiny random BertModel (eager attention, eval mode) saved with save_pretrained(safe_serialization=True), a padded
batch and the reference hidden states. The C++ side maps BERT names onto its DistilBERT modules; this script
performs the same mapping in PyTorch (BERT -> DistilBertModel, token_type row 0 folded into the position table,
pooler dropped) and checks that DistilBERT reproduces BERT's hidden states, so the mapping itself is validated.
Deterministic, runnable from any cwd, idempotent (output folder wiped and rewritten byte-identically).
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
from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "golden" / "bert_tiny"

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

MODEL_SEED, BATCH_SEED = 1101, 2101
B, S, LENGTHS = 3, 12, [12, 9, 4]
CFG = dict(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
           max_position_embeddings=64, type_vocab_size=2, hidden_act="gelu", pad_token_id=0)
META = {"generator": "tests/reference/make_bert_golden.py", "transformers": transformers.__version__,
        "torch": torch.__version__, "model_class": "BertModel", "attn_implementation": "eager", "mode": "eval"}


def save_st(tensors, path, meta=None):
    # single metadata key -> deterministic header (safetensors serializes __metadata__ from a hash map)
    md = {"tinyxf_golden": json.dumps(meta, sort_keys=True)} if meta else None
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(path), metadata=md)


def make_batch():
    g = torch.Generator().manual_seed(BATCH_SEED)
    ids = torch.randint(1, CFG["vocab_size"], (B, S), generator=g, dtype=torch.int64)
    mask = torch.zeros(B, S, dtype=torch.int64)
    for b, n in enumerate(LENGTHS):
        mask[b, :n] = 1
    return {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": torch.zeros(B, S, dtype=torch.int64)}


def run_bert(model, batch):
    model.eval()
    with torch.no_grad():
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                    token_type_ids=batch["token_type_ids"], output_hidden_states=True, return_dict=True)
    res = {"last_hidden_state": out.last_hidden_state.clone()}
    for i, h in enumerate(out.hidden_states):
        res[f"hidden_state.{i}"] = h.clone()
    return res


# BERT -> DistilBERT parameter mapping (what the C++ loader does). Per layer i:
LAYER_MAP = {
    "attention.self.query": "attention.q_lin",
    "attention.self.key": "attention.k_lin",
    "attention.self.value": "attention.v_lin",
    "attention.output.dense": "attention.out_lin",
    "attention.output.LayerNorm": "sa_layer_norm",
    "intermediate.dense": "ffn.lin1",
    "output.dense": "ffn.lin2",
    "output.LayerNorm": "output_layer_norm",
}


def bert_to_distilbert_state(sd):
    out = {
        "embeddings.word_embeddings.weight": sd["embeddings.word_embeddings.weight"],
        # token_type_ids are all 0 -> fold row 0 of the token-type table into every position row
        "embeddings.position_embeddings.weight":
            sd["embeddings.position_embeddings.weight"] + sd["embeddings.token_type_embeddings.weight"][0],
        "embeddings.LayerNorm.weight": sd["embeddings.LayerNorm.weight"],
        "embeddings.LayerNorm.bias": sd["embeddings.LayerNorm.bias"],
    }
    for k, v in sd.items():
        if not k.startswith("encoder.layer."):
            continue  # embeddings handled above; pooler.* ignored; embeddings.position_ids (old files) ignored
        parts = k.split(".")
        i, rest = parts[2], ".".join(parts[3:])
        mod, leaf = rest.rsplit(".", 1)
        out[f"transformer.layer.{i}.{LAYER_MAP[mod]}.{leaf}"] = v
    return out


def check_mapping(bert_dir, batch, expected):
    """Load the checkpoint through the BERT->DistilBERT mapping and compare hidden states."""
    sd = load_file(str(bert_dir / "model.safetensors"))
    cfg = BertConfig.from_pretrained(bert_dir)
    dcfg = DistilBertConfig(vocab_size=cfg.vocab_size, dim=cfg.hidden_size, n_layers=cfg.num_hidden_layers,
                            n_heads=cfg.num_attention_heads, hidden_dim=cfg.intermediate_size,
                            max_position_embeddings=cfg.max_position_embeddings, activation=cfg.hidden_act,
                            pad_token_id=cfg.pad_token_id, attn_implementation="eager")
    assert cfg.layer_norm_eps == 1e-12  # DistilBERT hard-codes 1e-12
    dmodel = DistilBertModel(dcfg).eval()
    missing, unexpected = dmodel.load_state_dict(bert_to_distilbert_state(sd), strict=True)
    with torch.no_grad():
        out = dmodel(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
    errs = {f"hidden_state.{i}": (h - expected[f"hidden_state.{i}"]).abs().max().item()
            for i, h in enumerate(out.hidden_states)}
    return errs


def noise_fp64(model, batch, r32):
    m64 = BertModel(model.config, add_pooling_layer=True).eval()
    m64.load_state_dict(model.state_dict())
    r64 = run_bert(m64.double(), batch)
    rows = []
    for k in r32:
        a, r = r32[k].double(), r64[k]
        rows.append((k, (a - r).abs().max().item(), r.abs().max().item(),
                     ((a - r) ** 2).sum().item() / (r * r).sum().item()))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only verify existing fixtures")
    args = ap.parse_args()
    ok = True
    if not args.check:
        cfg = BertConfig(attn_implementation="eager", **CFG)
        torch.manual_seed(MODEL_SEED)
        model = BertModel(cfg, add_pooling_layer=True).eval()
        if OUT.exists():
            shutil.rmtree(OUT)
        OUT.mkdir(parents=True)
        model.save_pretrained(OUT, safe_serialization=True)
        batch = make_batch()
        save_st(batch, OUT / "batch.safetensors", {"generator": META["generator"]})
        r32 = run_bert(model, batch)
        save_st(r32, OUT / "expected.safetensors", META)
        for f in OUT.iterdir():
            os.chmod(f, 0o644)  # safetensors writes 0600
        print("fp32 vs fp64 (same weights):")
        for k, e, m, n in noise_fp64(model, batch, r32):
            print(f"  {k:<20} max|err| {e:.2e}  max|ref| {m:.2e}  NMSE {n:.2e}")

    model, info = BertModel.from_pretrained(OUT, attn_implementation="eager", output_loading_info=True)
    print(f"{OUT.relative_to(REPO)}: loading info {info}; attn_implementation {model.config._attn_implementation}")
    batch = load_file(str(OUT / "batch.safetensors"))
    exp = load_file(str(OUT / "expected.safetensors"))
    got = run_bert(model, batch)
    err = max((got[k] - exp[k]).abs().max().item() for k in exp)
    print(f"  {'ok ' if err == 0 else 'BAD'} reload reproduces expected: max|err| {err:.3e}")
    ok &= err == 0
    for k, e in check_mapping(OUT, batch, exp).items():
        good = e <= 1e-5
        ok &= good
        print(f"  {'ok ' if good else 'BAD'} BERT->DistilBERT mapping {k}: max|err| {e:.3e} (tol 1e-5)")
    print("ALL CHECKS PASSED" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
