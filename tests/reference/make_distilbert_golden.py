#!/usr/bin/env python3
"""Writes the DistilBERT golden fixtures under tests/data/golden/ (see tests/reference/README.md).

    /opt/tinyxf-ref/bin/python tests/reference/make_distilbert_golden.py [--check]

Deterministic (fixed seeds, 1 CPU thread), runnable from any cwd, idempotent (each output folder is wiped
and rewritten; rerunning gives byte-identical files). --check only reloads the existing fixtures and
verifies them (no writes). Also prints fp32-vs-fp64 noise figures for every golden tensor.
"""
import argparse
import json
import math
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import (  # noqa: E402
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertForSequenceClassification,
    get_linear_schedule_with_warmup,
)
from transformers.models.distilbert import modeling_distilbert  # noqa: E402
from transformers.pytorch_utils import ALL_LAYERNORM_LAYERS  # noqa: E402
from transformers.trainer_pt_utils import get_parameter_names  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "data" / "golden"

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

# --------------------------------------------------------------------------------------------------------------
# Environment workaround: the reference venv has pip's numpy 2.x shadowing Debian's numpy 1.24, while Debian's
# torch 1.13 is built against numpy 1.x, so torch<->numpy conversion raises "Numpy is not available".
# transformers 4.44 builds the sinusoidal position table with numpy and converts it with torch.FloatTensor(ndarray).
# Only when that bridge is broken we substitute a copy that does the identical numpy float64 computation and moves
# the values through Python floats instead (bit-identical result: float64 -> float32 round-to-nearest either way).


def _numpy_bridge_ok():
    try:
        torch.from_numpy(np.zeros(1))
        return True
    except Exception:
        return False


def _create_sinusoidal_embeddings_no_bridge(n_pos, dim, out):
    position_enc = np.array([[pos / np.power(10000, 2 * (j // 2) / dim) for j in range(dim)] for pos in range(n_pos)])
    out.requires_grad = False
    out[:, 0::2] = torch.tensor(np.sin(position_enc[:, 0::2]).tolist(), dtype=torch.float64).to(torch.float32)
    out[:, 1::2] = torch.tensor(np.cos(position_enc[:, 1::2]).tolist(), dtype=torch.float64).to(torch.float32)
    out.detach_()


NUMPY_BRIDGE = _numpy_bridge_ok()
if not NUMPY_BRIDGE:
    modeling_distilbert._create_sinusoidal_embeddings = _create_sinusoidal_embeddings_no_bridge

# --------------------------------------------------------------------------------------------------------------
CONFIGS = {
    # name: (config kwargs, batch size, seq len, row lengths, model seed, batch seed)
    "tiny": (dict(vocab_size=128, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=64),
             3, 12, [12, 8, 5], 1001, 2001),
    "seq128": (dict(vocab_size=256, dim=64, n_layers=2, n_heads=4, hidden_dim=128, max_position_embeddings=128),
               2, 128, [128, 77], 1002, 2002),
    "sinusoidal": (dict(vocab_size=128, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=64,
                        sinusoidal_pos_embds=True),
                   3, 12, [12, 8, 5], 1003, 2001),
}
MLM_SEED = 1004
PAD_ID = 0

META_BASE = {
    "generator": "tests/reference/make_distilbert_golden.py",
    "transformers": transformers.__version__,
    "torch": torch.__version__,
}


def make_config(kwargs):
    return DistilBertConfig(num_labels=2, pad_token_id=PAD_ID, attn_implementation="eager", **kwargs)


def make_batch(vocab, batch, seq, lengths, seed, with_mlm_labels=False):
    """Real padding: row b has lengths[b] real tokens (row 0 full), then pad_token_id 0 / mask 0."""
    assert len(lengths) == batch and lengths[0] == seq
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (batch, seq), generator=g, dtype=torch.int64)  # real tokens never 0
    mask = torch.zeros(batch, seq, dtype=torch.int64)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
    ids = ids * mask  # padded positions -> 0
    labels = torch.tensor([(b + 1) % 2 for b in range(batch)], dtype=torch.int64)  # 1,0,1,... both classes
    out = {"input_ids": ids.contiguous(), "attention_mask": mask.contiguous(), "labels": labels}
    if with_mlm_labels:
        mlm = torch.full((batch, seq), -100, dtype=torch.int64)
        for b, n in enumerate(lengths):
            pos = torch.randperm(n, generator=g)[:3]  # 3 scored positions per row, all inside the real tokens
            mlm[b, pos] = ids[b, pos]
        out["mlm_labels"] = mlm
    return out


def save_st(tensors, path, extra_meta=None):
    meta = dict(META_BASE)
    if extra_meta:
        meta.update(extra_meta)
    # One metadata key only: safetensors serializes __metadata__ from a hash map, so with several keys their order
    # (and the file bytes) would change from run to run. The value is a JSON object with sorted keys.
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(path),
              metadata={"tinyxf_golden": json.dumps(meta, sort_keys=True)})


def scalar(x, dtype=torch.float32):
    return torch.tensor([float(x)], dtype=dtype)


def fresh_dir(d):
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)


# --------------------------------------------------------------------------------------------------------------
def noise(a, ref):
    """fp32 result vs fp64 result: (max abs err, max |ref|, NMSE = sum (a-ref)^2 / sum ref^2)."""
    a = a.detach().double()
    ref = ref.detach().double()
    err = (a - ref).abs().max().item() if a.numel() else 0.0
    den = (ref * ref).sum().item()
    nmse = ((a - ref) ** 2).sum().item() / den if den > 0 else 0.0
    return err, ref.abs().max().item() if ref.numel() else 0.0, nmse


class NoiseTable:
    def __init__(self):
        self.rows = []

    def add(self, golden, group, a, ref):
        self.rows.append((golden, group) + noise(a, ref))

    def add_many(self, golden, group, pairs):
        """Aggregates several tensors into one row: worst max-abs, worst |ref|, worst per-tensor NMSE.

        Tensors whose fp64 value is zero up to fp64 rounding (max|ref| < 1e-15, e.g. the k_lin.bias gradient,
        which is mathematically 0 because softmax ignores a per-query constant) have no meaningful NMSE; they
        get their own row with NMSE reported as nan."""
        errs = [noise(a, r) for a, r in pairs]
        real = [e for e in errs if e[1] >= 1e-15]
        zero = [e for e in errs if e[1] < 1e-15]
        if real:
            self.rows.append((golden, group, max(e[0] for e in real), max(e[1] for e in real),
                              max(e[2] for e in real)))
        if zero:
            self.rows.append((golden, group + " [exact 0 in fp64]", max(e[0] for e in zero),
                              max(e[1] for e in zero), float("nan")))

    def print(self):
        print("\nfp32 vs fp64 (same weights, same inputs; worst tensor per row)")
        print(f"{'golden':<34}{'tensors':<40}{'max|err|':>11}{'max|ref|':>11}{'NMSE':>11}")
        for g, grp, e, m, n in self.rows:
            print(f"{g:<34}{grp:<40}{e:11.2e}{m:11.2e}{n:11.2e}")


NOISE = NoiseTable()


# --------------------------------------------------------------------------------------------------------------
def forward_backward(model, batch, labels_key="labels", backward=True):
    model.eval()
    model.zero_grad(set_to_none=True)
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch[labels_key],
                output_hidden_states=True, return_dict=True)
    if backward:
        out.loss.backward()
    res = {"logits": out.logits.detach().clone(), "loss": out.loss.detach().reshape(1).clone()}
    for i, h in enumerate(out.hidden_states):
        res[f"hidden_state.{i}"] = h.detach().clone()
    if backward:
        for n, p in model.named_parameters():
            if p.grad is not None:
                res[f"grad.{n}"] = p.grad.detach().clone()
    return res


def as_f32(res):
    return {k: v.to(torch.float32) for k, v in res.items()}


def record_noise(golden, r32, r64):
    groups = {"logits": [], "loss": [], "hidden_state.*": [], "grad.*": []}
    for k in r32:
        key = k if k in ("logits", "loss") else k.split(".")[0] + ".*"
        groups[key].append((r32[k], r64[k]))
    for grp, pairs in groups.items():
        NOISE.add_many(golden, grp, pairs)


def write_encoder_golden(name, cls=DistilBertForSequenceClassification, mlm=False, grads=True):
    kwargs, B, S, lengths, seed, bseed = CONFIGS[name if not mlm else "tiny"]
    cfg = make_config(kwargs)
    torch.manual_seed(seed if not mlm else MLM_SEED)
    model = cls(cfg).eval()
    out_dir = GOLDEN / (f"distilbert_{name}" if not mlm else "distilbert_tiny_mlm")
    fresh_dir(out_dir)
    model.save_pretrained(out_dir, safe_serialization=True)  # before any forward (forward sets problem_type)

    batch = make_batch(cfg.vocab_size, B, S, lengths, bseed, with_mlm_labels=mlm)
    save_st(batch, out_dir / "batch.safetensors")
    labels_key = "mlm_labels" if mlm else "labels"
    r32 = forward_backward(model, batch, labels_key, backward=grads)
    m64 = cls(cfg).eval()  # same weights in float64 for the noise estimate
    m64.load_state_dict(model.state_dict())
    for p64, p32 in zip(m64.parameters(), model.parameters()):
        p64.requires_grad_(p32.requires_grad)
    r64 = forward_backward(m64.double(), batch, labels_key, backward=grads)
    record_noise(out_dir.name, r32, r64)
    meta = {"config": name if not mlm else "tiny", "model_class": cls.__name__,
            "attn_implementation": "eager", "mode": "eval"}
    save_st(as_f32(r32), out_dir / "expected.safetensors", meta)
    return out_dir, model, batch


# --------------------------------------------------------------------------------------------------------------
TRAIN_VARIANTS = ["adam", "adamw_linear", "adamw_clip_groups", "adamw_clip0p1_groups", "sgd_nesterov"]
# max_norm per clipping variant. With max_norm 1.0 (the requested Trainer default) the pre-clip norm of this tiny
# model (~0.37) stays below the threshold, so clipping is a no-op (coef clamped to 1); adamw_clip0p1_groups is the
# same run with max_norm 0.1 so that the scaling path is exercised at every step.
CLIP = {"adamw_clip_groups": 1.0, "adamw_clip0p1_groups": 0.1}
TRAIN_STEPS = 3


def decay_parameter_names(model):
    """transformers 4.44 Trainer.get_decay_parameter_names: not inside nn.LayerNorm, 'bias' not in name."""
    return [n for n in get_parameter_names(model, ALL_LAYERNORM_LAYERS) if "bias" not in n]


def train(variant, ckpt_dir, batch, dtype=torch.float32):
    model = DistilBertForSequenceClassification.from_pretrained(ckpt_dir, attn_implementation="eager")
    model = model.to(dtype).eval()  # eval mode: dropout off, so the 3 steps are deterministic
    sched = None
    meta = {"variant": variant, "steps": str(TRAIN_STEPS), "mode": "eval", "checkpoint": ckpt_dir.name}
    if variant == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        meta.update(optimizer="torch.optim.Adam(lr=1e-3, betas=(0.9,0.999), eps=1e-8, weight_decay=0)",
                    schedule="constant", clip="none")
    elif variant == "adamw_linear":
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=1, num_training_steps=TRAIN_STEPS)
        meta.update(optimizer="torch.optim.AdamW(lr=1e-3, betas=(0.9,0.999), eps=1e-8, weight_decay=0.01), all params",
                    schedule="get_linear_schedule_with_warmup(W=1, T=3)", clip="none")
    elif variant in CLIP:
        decay = set(decay_parameter_names(model))
        named = list(model.named_parameters())
        groups = [
            {"params": [p for n, p in named if n in decay and p.requires_grad], "weight_decay": 0.01},
            {"params": [p for n, p in named if n not in decay and p.requires_grad], "weight_decay": 0.0},
        ]
        opt = torch.optim.AdamW(groups, lr=1e-3, weight_decay=0.01)
        sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=1, num_training_steps=TRAIN_STEPS)
        meta.update(optimizer="torch.optim.AdamW(lr=1e-3, betas=(0.9,0.999), eps=1e-8), Trainer param groups: "
                              "weight_decay 0.01 for decay_params, 0.0 for no_decay_params",
                    schedule="get_linear_schedule_with_warmup(W=1, T=3)",
                    clip=f"clip_grad_norm_(max_norm={CLIP[variant]}) before each step",
                    decay_params=",".join(n for n, _ in named if n in decay),
                    no_decay_params=",".join(n for n, _ in named if n not in decay))
    elif variant == "sgd_nesterov":
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        meta.update(optimizer="torch.optim.SGD(lr=0.1, momentum=0.9, dampening=0, nesterov=True, weight_decay=0)",
                    schedule="constant", clip="none")
    else:
        raise ValueError(variant)

    res = {}
    for k in range(TRAIN_STEPS):
        opt.zero_grad(set_to_none=True)
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        out.loss.backward()
        res[f"loss.{k}"] = scalar(out.loss.item(), torch.float64)
        if variant in CLIP:
            total = torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP[variant])
            res[f"grad_norm.{k}"] = scalar(total.item(), torch.float64)
        lrs = {g["lr"] for g in opt.param_groups}
        assert len(lrs) == 1
        res[f"lr.{k}"] = scalar(lrs.pop(), torch.float64)
        opt.step()
        if sched is not None:
            sched.step()
    for n, p in model.named_parameters():
        res[f"param.{n}"] = p.detach().clone()
    return res, meta


def write_train_goldens(ckpt_dir, batch):
    init = load_file(str(ckpt_dir / "model.safetensors"))
    for variant in TRAIN_VARIANTS:
        r32, meta = train(variant, ckpt_dir, batch, torch.float32)
        r64, _ = train(variant, ckpt_dir, batch, torch.float64)
        params32 = [(r32[k], r64[k]) for k in r32 if k.startswith("param.")]
        NOISE.add_many(f"train_{variant}", "param.*", params32)
        # scale for the param noise: the size of the 3-step update itself (fp64)
        delta = max((r64[k] - init[k[len("param."):]].double()).abs().max().item() for k in r64 if k.startswith("param."))
        print(f"train_{variant}: max |param_after - param_init| = {delta:.3e}")
        NOISE.add_many(f"train_{variant}", "loss.*", [(r32[k], r64[k]) for k in r32 if k.startswith("loss.")])
        if variant in CLIP:
            NOISE.add_many(f"train_{variant}", "grad_norm.*",
                           [(r32[k], r64[k]) for k in r32 if k.startswith("grad_norm.")])
        out = {k: (v if k.startswith("lr.") else v.to(torch.float32)) for k, v in r32.items()}
        save_st(out, ckpt_dir / f"train_{variant}.safetensors", meta)


def manual_train(variant, ckpt_dir, batch):
    """Independent re-implementation of the update rules exactly as written in semantics.md 4.3-4.5 (fp32 tensors,
    python-float hyper-parameters), with HF only used for forward/backward. Compared against the torch goldens in
    --check to show that the written formulas (what the C++ side implements) reproduce them."""
    model = DistilBertForSequenceClassification.from_pretrained(ckpt_dir, attn_implementation="eager").eval()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = set(decay_parameter_names(model))
    b1, b2, eps = 0.9, 0.999, 1e-8
    W, T = 1, TRAIN_STEPS
    state = {n: {"m": torch.zeros_like(p), "v": torch.zeros_like(p)} for n, p in named}
    for k in range(TRAIN_STEPS):
        model.zero_grad(set_to_none=True)
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss.backward()
        grads = {n: p.grad.detach().clone() for n, p in named}
        if variant in CLIP:  # 4.5: norm of per-tensor L2 norms, coef = min(1, max/(total+1e-6))
            total = torch.stack([g.norm(2) for g in grads.values()]).norm(2)
            coef = torch.clamp(CLIP[variant] / (total + 1e-6), max=1.0)
            grads = {n: g * coef for n, g in grads.items()}
        if variant in ("adam", "sgd_nesterov"):
            lr = 1e-3 if variant == "adam" else 0.1
        else:  # 4.4: update k uses lambda(k)
            lr = 1e-3 * (k / max(1, W) if k < W else max(0.0, (T - k) / max(1, T - W)))
        t = k + 1
        with torch.no_grad():
            for n, p in named:
                g, st = grads[n], state[n]
                if variant == "sgd_nesterov":
                    st["m"] = g.clone() if t == 1 else 0.9 * st["m"] + g
                    p -= lr * (g + 0.9 * st["m"])
                    continue
                wd = {"adam": 0.0, "adamw_linear": 0.01}.get(variant, 0.01 if n in decay else 0.0)
                p *= 1 - lr * wd                                  # 4.3: decoupled decay first, scheduled lr
                st["m"] = b1 * st["m"] + (1 - b1) * g
                st["v"] = b2 * st["v"] + (1 - b2) * g * g
                bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
                denom = st["v"].sqrt() / math.sqrt(bc2) + eps
                p -= (lr / bc1) * st["m"] / denom
    return {f"param.{n}": p.detach().clone() for n, p in model.named_parameters()}


# --------------------------------------------------------------------------------------------------------------
def max_abs(a, b):
    return (a.double() - b.double()).abs().max().item()


def check_all():
    """Reload every checkpoint with transformers and confirm the stored goldens reproduce."""
    ok = True

    def report(what, err, tol):
        nonlocal ok
        good = err <= tol
        ok &= good
        print(f"  {'ok ' if good else 'BAD'} {what}: max|err| {err:.3e} (tol {tol:.0e})")

    for name in ["tiny", "seq128", "sinusoidal", "tiny_mlm"]:
        d = GOLDEN / f"distilbert_{name}"
        cls = DistilBertForMaskedLM if name == "tiny_mlm" else DistilBertForSequenceClassification
        model, info = cls.from_pretrained(d, attn_implementation="eager", output_loading_info=True)
        print(f"{d.relative_to(REPO)}: loading info {info}")
        batch = load_file(str(d / "batch.safetensors"))
        exp = load_file(str(d / "expected.safetensors"))
        has_grads = any(k.startswith("grad.") for k in exp)
        got = forward_backward(model, batch, "mlm_labels" if name == "tiny_mlm" else "labels", backward=has_grads)
        assert set(got) == set(exp), (sorted(set(got) ^ set(exp)))
        report("logits", max_abs(got["logits"], exp["logits"]), 1e-6)
        report("loss", max_abs(got["loss"], exp["loss"]), 1e-6)
        report("hidden_state.*", max(max_abs(got[k], exp[k]) for k in exp if k.startswith("hidden_state.")), 1e-6)
        if has_grads:
            report("grad.*", max(max_abs(got[k], exp[k]) for k in exp if k.startswith("grad.")), 1e-6)
        if name == "sinusoidal":
            pe = model.distilbert.embeddings.position_embeddings.weight
            fresh = torch.zeros_like(pe)
            modeling_distilbert._create_sinusoidal_embeddings(pe.shape[0], pe.shape[1], fresh)
            report("stored position table == sinusoid", max_abs(pe, fresh), 0.0)
            print(f"  note: reloaded position_embeddings.weight.requires_grad = {pe.requires_grad}")

    d = GOLDEN / "distilbert_tiny"
    init = load_file(str(d / "model.safetensors"))
    batch = load_file(str(d / "batch.safetensors"))
    for variant in TRAIN_VARIANTS:
        g = load_file(str(d / f"train_{variant}.safetensors"))
        changed = sum(1 for k in g if k.startswith("param.") and not torch.equal(g[k], init[k[len("param."):]]))
        n_params = sum(1 for k in g if k.startswith("param."))
        lrs = [g[f"lr.{k}"].item() for k in range(TRAIN_STEPS)]
        losses = [g[f"loss.{k}"].item() for k in range(TRAIN_STEPS)]
        print(f"train_{variant}: {changed}/{n_params} param tensors changed; lr {lrs}; loss {losses}"
              + (f"; grad_norm {[g[f'grad_norm.{k}'].item() for k in range(TRAIN_STEPS)]}"
                 if variant in CLIP else ""))
        ok &= changed == n_params
        if variant in ("adamw_linear", "adamw_clip_groups", "adamw_clip0p1_groups"):
            # semantics.md 4.4: lr(s) = base * (s/max(1,W) if s<W else max(0,(T-s)/max(1,T-W))); update k uses s=k
            W, T, base = 1, TRAIN_STEPS, 1e-3
            want = [base * (s / max(1, W) if s < W else max(0.0, (T - s) / max(1, T - W))) for s in range(T)]
            good = all(abs(a - b) <= 1e-15 for a, b in zip(lrs, want))
            print(f"  {'ok ' if good else 'BAD'} lr schedule matches semantics.md 4.4: {want}")
            ok &= good
            good = losses[0] == losses[1]
            print(f"  {'ok ' if good else 'BAD'} first update used lr 0 -> loss.1 == loss.0")
            ok &= good
        r32, _ = train(variant, d, batch, torch.float32)
        report("rerun reproduces stored params/loss/lr",
               max(max_abs(r32[k], g[k]) for k in g), 0.0)
        man = manual_train(variant, d, batch)
        report("semantics.md formulas (fp32, by hand) reproduce param.*",
               max(max_abs(man[k], g[k]) for k in man), 1e-6)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only verify existing fixtures")
    args = ap.parse_args()
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, numpy {np.__version__}, "
          f"torch<->numpy bridge {'ok' if NUMPY_BRIDGE else 'BROKEN (sinusoid patched)'}")
    if not args.check:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        tiny_dir, _, tiny_batch = write_encoder_golden("tiny")
        write_encoder_golden("seq128")
        write_encoder_golden("sinusoidal", grads=False)
        write_encoder_golden("tiny", cls=DistilBertForMaskedLM, mlm=True)
        write_train_goldens(tiny_dir, tiny_batch)
        for f in GOLDEN.glob("distilbert_*/*"):
            os.chmod(f, 0o644)  # safetensors writes 0600
        NOISE.print()
    ok = check_all()
    print("\nALL CHECKS PASSED" if ok else "\nSOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
